# KlingGateway image: the SDK image restores, builds and publishes; the chiseled ASP.NET Core image runs it as a
# non-root user with nothing else inside (no shell, no package manager, no curl). Build from the repository root:
#   docker build -t kling-gateway .
ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION}-noble AS build
WORKDIR /src
# What decides the restore comes first, so this layer stays cached until a package or project file changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/KlingGateway/KlingGateway.csproj src/KlingGateway/
COPY src/KlingGateway.Simulator/KlingGateway.Simulator.csproj src/KlingGateway.Simulator/
RUN dotnet restore src/KlingGateway/KlingGateway.csproj
COPY .editorconfig ./
COPY src/ src/
# .ci/publish-smoke.sh runs this exact publish line (with PUBLISH_DIR set) and tests what it produces.
ARG PUBLISH_DIR=/app
RUN dotnet publish src/KlingGateway/KlingGateway.csproj --no-restore -c Release -o "$PUBLISH_DIR" -p:UseAppHost=false
# The ledger's directory and the kept videos' beside it, owned by the runtime image's non-root user (APP_UID 1654), so
# the root filesystem can be read-only and only /data is written. A volume mounted on /data/videos starts with this
# ownership.
RUN mkdir -p /data/videos && chown -R 1654:1654 /data

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}-noble-chiseled AS runtime
WORKDIR /app
COPY --from=build /app ./
COPY --from=build --chown=1654:1654 /data /data
# Production unless told otherwise: JSON logs on stdout, a key required, the simulator switch refused.
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS=8080 \
    Ledger__Path=/data/kling-gateway.db
VOLUME /data
EXPOSE 8080
USER 1654
# No shell or curl in this image: the app probes its own /health/ready and exits 0 or 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 CMD ["dotnet", "KlingGateway.dll", "--probe"]
# The same image runs the upstream simulator for the compose demo: entrypoint dotnet KlingGateway.Simulator.dll.
ENTRYPOINT ["dotnet", "KlingGateway.dll"]
