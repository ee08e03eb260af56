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
        AddSettingsDirectory(builder.Configuration, builder.Services);

        builder.Services.AddOptions<GatewayOptions>()
            .Validate(o => o.ShutdownTimeout >= TimeSpan.FromSeconds(1) && o.ShutdownTimeout <= TimeSpan.FromMinutes(15),
                "Gateway:ShutdownTimeout (Gateway__ShutdownTimeout) must be between 00:00:01 and 00:15:00.")
            .ValidateOnStart();
        // Kestrel stops accepting connections, then waits up to this long for requests in flight before aborting them.
        // Read while the host is built: an invalid value is left for the start to report (RunGateway), not thrown here.
        builder.Services.AddOptions<HostOptions>()
            .Configure<IOptions<GatewayOptions>>((host, gateway) =>
            {
                if (ValidOrNull(gateway) is { } options)
                {
                    host.ShutdownTimeout = options.ShutdownTimeout;
                }
            });
        return builder;
    }

    /// <summary>
    /// One file per setting, named as the environment variable (<c>AimlApi__ApiKey</c>), holding the value; a final
    /// newline is not part of it. Files override every other source, so a mounted secret wins over a stale variable.
    /// Dot-prefixed entries (Kubernetes' <c>..data</c> links) are skipped.
    /// </summary>
    private static void AddSettingsDirectory(ConfigurationManager configuration, IServiceCollection services)
    {
        if (configuration[SettingsDirectoryKey] is not { Length: > 0 } directory)
        {
            return;
        }

        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            // Refused when the host starts, with the other settings, so it ends in the same one-line message.
            services.AddOptions<GatewayOptions>()
                .Validate(_ => false, $"{SettingsDirectoryKey} (Gateway__SettingsDirectory) names a directory that does not exist: {full}")
                .ValidateOnStart();
            return;
        }

        configuration.AddKeyPerFile(full, optional: false);
    }

    /// <summary>
    /// Runs the host until it stops, and returns the process's exit code: 0, or 1 when it could not start. A start that
    /// cannot work (a missing key, an invalid setting, a port in use) then ends with one line on stderr naming what to
    /// fix, instead of an unhandled exception's stack trace and the runtime's abort (exit 134). Settings are checked
    /// before the host starts, so a bad one is only that line; any other failure is also logged by the host with its
    /// exception.
    /// </summary>
    public static int RunGateway(this WebApplication app, TextWriter? error = null)
    {
        error ??= Console.Error;
        try
        {
            app.Services.GetService<IStartupValidator>()?.Validate();
            app.Run();
            return 0;
        }
        catch (Exception exception) when (System.Reflection.Assembly.GetEntryAssembly() == typeof(HostingExtensions).Assembly)
        {
            // Only as its own process: a host running the gateway in-process (a test's WebApplicationFactory) gets the
            // exception itself.
            error.WriteLine(StartupFailureMessage(exception));
            return 1;
        }
    }

    private static GatewayOptions? ValidOrNull(IOptions<GatewayOptions> options)
    {
        try
        {
            return options.Value;
        }
        catch (Exception e) when (e is OptionsValidationException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>One line saying why the host could not start and what to set.</summary>
    public static string StartupFailureMessage(Exception exception)
    {
        var message = exception switch
        {
            AggregateException aggregate => string.Join(" ", aggregate.InnerExceptions.Select(OneLine)),
            IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } io =>
                $"{OneLine(io)} Set a free port with --urls, ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS.",
            _ => OneLine(exception),
        };
        return "kling-gateway: cannot start: " + message;
    }

    private static string OneLine(Exception exception) => exception is OptionsValidationException validation
        ? string.Join(" ", validation.Failures.Select(f => f.ReplaceLineEndings(" ")))
        : exception.Message.ReplaceLineEndings(" ") +
          (exception.InnerException is { } inner && !exception.Message.Contains(inner.Message, StringComparison.Ordinal)
              ? $" ({inner.Message.ReplaceLineEndings(" ")})"
              : "");
}
