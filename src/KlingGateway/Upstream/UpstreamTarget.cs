using System.Security.Cryptography;
using KlingGateway.Simulator;
using Microsoft.Extensions.Options;

namespace KlingGateway.Upstream;

/// <summary>
/// Where upstream calls go and with which key. With a configured key that is the AI/ML API; in a zero-config
/// Development run it is the built-in simulator, started here on a loopback port before the gateway serves.
/// </summary>
public sealed partial class UpstreamTarget(
    IOptions<AimlApiOptions> options,
    IHostEnvironment environment,
    IConfiguration configuration,
    ILogger<UpstreamTarget> logger) : IHostedLifecycleService, IAsyncDisposable
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _simulator;
    private string _apiKey = "";

    /// <summary>The upstream base address (no trailing slash).</summary>
    public Uri BaseAddress { get; private set; } = new(options.Value.BaseUrl.TrimEnd('/') + "/");

    /// <summary>True when the built-in simulator stands in for the upstream.</summary>
    public bool UsesSimulator { get; private set; }

    /// <summary>True once a key is known (configured, read from its file, or the simulator's).</summary>
    public bool HasKey => _apiKey.Length > 0;

    /// <summary>Completes when the target is known; upstream calls wait for it.</summary>
    public Task Ready => _ready.Task;

    /// <summary>The key for the Authorization header. Internal: only the auth handler reads it.</summary>
    internal string ApiKey => _apiKey;

    internal static bool SimulatorWanted(AimlApiOptions options, IHostEnvironment environment) =>
        options.UseSimulator ?? (environment.IsDevelopment() && string.IsNullOrWhiteSpace(options.ApiKey) && string.IsNullOrWhiteSpace(options.ApiKeyFile));

    /// <summary>Runs before any hosted service starts, the web server included.</summary>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (SimulatorWanted(settings, environment))
        {
            // A random key per run, so the simulator's Bearer check is exercised exactly as the real one would be.
            _apiKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
            // Its timing can be shortened for demos and tests: Simulator:QueuedSeconds, Simulator:GeneratingSeconds.
            var simulator = new SimulatorOptions { ApiKey = _apiKey };
            if (configuration.GetValue<double?>("Simulator:QueuedSeconds") is { } queued)
            {
                simulator.QueuedFor = TimeSpan.FromSeconds(queued);
            }

            if (configuration.GetValue<double?>("Simulator:GeneratingSeconds") is { } generating)
            {
                simulator.GeneratingFor = TimeSpan.FromSeconds(generating);
            }

            _simulator = SimulatorApp.Build(simulator);
            await _simulator.StartAsync(cancellationToken);
            BaseAddress = new Uri(_simulator.BaseAddress().TrimEnd('/') + "/");
            UsesSimulator = true;
            LogUsingSimulator(logger, BaseAddress);
        }
        else
        {
            _apiKey = ReadKey(settings);
            LogUsingUpstream(logger, BaseAddress);
        }

        _ready.TrySetResult();
    }

    private static string ReadKey(AimlApiOptions settings)
    {
        if (!string.IsNullOrWhiteSpace(settings.ApiKey))
        {
            return settings.ApiKey.Trim();
        }

        // A mounted secret file; trailing newlines from `echo` or editors are not part of the key.
        return string.IsNullOrWhiteSpace(settings.ApiKeyFile) ? "" : File.ReadAllText(settings.ApiKeyFile).Trim();
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_simulator is not null)
        {
            await _simulator.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_simulator is not null)
        {
            await _simulator.DisposeAsync();
            _simulator = null;
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "No AimlApi:ApiKey is set: this Development run uses the built-in upstream simulator at {SimulatorAddress}. Set AimlApi:ApiKey to call the real AI/ML API")]
    private static partial void LogUsingSimulator(ILogger logger, Uri simulatorAddress);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Upstream is {UpstreamAddress}")]
    private static partial void LogUsingUpstream(ILogger logger, Uri upstreamAddress);
}
