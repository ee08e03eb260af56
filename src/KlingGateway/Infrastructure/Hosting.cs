using Microsoft.Extensions.Options;

namespace KlingGateway.Infrastructure;

/// <summary>
/// What a container needs from the host: every setting can come from a directory of files (Kubernetes secret and
/// config map volumes, compose secrets), and a stop (SIGTERM) lets requests in flight finish.
/// </summary>
public static class HostingExtensions
{
    /// <summary>The setting naming the directory of setting files.</summary>
    public const string SettingsDirectoryKey = "Gateway:SettingsDirectory";

    public static WebApplicationBuilder AddGatewayHosting(this WebApplicationBuilder builder)
    {
        AddSettingsDirectory(builder.Configuration);

        builder.Services.AddOptions<GatewayOptions>()
            .Validate(o => o.ShutdownTimeout >= TimeSpan.FromSeconds(1) && o.ShutdownTimeout <= TimeSpan.FromMinutes(15),
                "Gateway:ShutdownTimeout (Gateway__ShutdownTimeout) must be between 00:00:01 and 00:15:00.")
            .ValidateOnStart();
        // Kestrel stops accepting connections, then waits up to this long for requests in flight before aborting them.
        builder.Services.AddOptions<HostOptions>()
            .Configure<IOptions<GatewayOptions>>((host, gateway) => host.ShutdownTimeout = gateway.Value.ShutdownTimeout);
        return builder;
    }

    /// <summary>
    /// One file per setting, named as the environment variable (<c>AimlApi__ApiKey</c>), holding the value; a final
    /// newline is not part of it. Files override every other source, so a mounted secret wins over a stale variable.
    /// Dot-prefixed entries (Kubernetes' <c>..data</c> links) are skipped.
    /// </summary>
    private static void AddSettingsDirectory(ConfigurationManager configuration)
    {
        if (configuration[SettingsDirectoryKey] is not { Length: > 0 } directory)
        {
            return;
        }

        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw new InvalidOperationException(
                $"{SettingsDirectoryKey} (Gateway__SettingsDirectory) names a directory that does not exist: {full}");
        }

        configuration.AddKeyPerFile(full, optional: false);
    }
}
