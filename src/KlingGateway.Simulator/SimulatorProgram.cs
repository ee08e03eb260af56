using System.Globalization;

namespace KlingGateway.Simulator;

/// <summary>Entry point when the simulator runs as its own process (<c>dotnet run --project src/KlingGateway.Simulator</c>).</summary>
public static class SimulatorProgram
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>
    /// Reads the <c>Simulator</c> section from the environment (<c>Simulator__ApiKey</c>) and the command line
    /// (<c>--Simulator:ApiKey=...</c>), listens on <c>--urls</c>, <c>ASPNETCORE_URLS</c> or <see cref="DefaultUrl"/>.
    /// </summary>
    public static void Main(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();

        var url = configuration["urls"] is { Length: > 0 } urls ? urls : DefaultUrl;
        using var app = SimulatorApp.Build(ReadOptions(configuration.GetSection("Simulator")), url, args);
        app.Start();
        Log.Listening(app.Logger, string.Join(", ", app.Urls));
        app.WaitForShutdown();
    }

    /// <summary>
    /// Binds <c>ApiKey</c>, <c>ApiKeyFile</c>, <c>QueuedSeconds</c>, <c>GeneratingSeconds</c>, <c>PublicBaseUrl</c> and
    /// <c>Instant</c>.
    /// </summary>
    internal static SimulatorOptions ReadOptions(IConfiguration section)
    {
        var options = new SimulatorOptions();
        if (section["ApiKey"] is { Length: > 0 } key)
        {
            options.ApiKey = key;
        }

        options.ApiKeyFile = section["ApiKeyFile"] is { Length: > 0 } file ? file : null;
        options.PublicBaseUrl = section["PublicBaseUrl"] is { Length: > 0 } publicBaseUrl ? publicBaseUrl : null;
        options.QueuedFor = Seconds(section, "QueuedSeconds") ?? options.QueuedFor;
        options.GeneratingFor = Seconds(section, "GeneratingSeconds") ?? options.GeneratingFor;
        options.Instant = section["Instant"] is { Length: > 0 } instant
            && (bool.TryParse(instant, out var on) ? on
                : throw new InvalidOperationException($"Simulator:Instant must be true or false, not '{instant}'."));
        return options;
    }

    private static TimeSpan? Seconds(IConfiguration section, string key)
    {
        var text = section[key];
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0 && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : throw new InvalidOperationException($"Simulator:{key} must be a non-negative number of seconds, not '{text}'.");
    }
}
