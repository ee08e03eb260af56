using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace KlingGateway.Tests;

/// <summary>
/// The gateway under test, wired to a real upstream simulator on a loopback port, a real SQLite ledger file and
/// a real JSON log file. Settings can be overridden per test class with <see cref="GatewayFactory(IDictionary{string, string?})"/>.
/// </summary>
public sealed class GatewayFactory : WebApplicationFactory<Program>, IAsyncLifetime
{
    /// <summary>The server-held key. Tests search responses, logs and the OpenAPI document for it.</summary>
    public const string UpstreamKey = "gw-test-upstream-key-0f3c9a7e51d24b86a1c0";

    private readonly Dictionary<string, string?> _settings;
    private WebApplication? _simulator;

    public GatewayFactory() : this(new Dictionary<string, string?>())
    {
    }

    internal GatewayFactory(IDictionary<string, string?> settings)
    {
        _settings = new Dictionary<string, string?>(settings);
        Directory.CreateDirectory(WorkDirectory);
    }

    public string WorkDirectory { get; } = Path.Combine(Path.GetTempPath(), "kling-gateway-tests", Guid.NewGuid().ToString("N"));

    public string LedgerPath => _settings.TryGetValue("Ledger:Path", out var path) && path is not null ? path : Path.Combine(WorkDirectory, "ledger.db");

    public string LogPath => Path.Combine(WorkDirectory, "gateway.log");

    public SimulatorState Simulator => _simulator!.Services.GetRequiredService<SimulatorState>();

    public string SimulatorAddress => _simulator!.BaseAddress();

    public async Task InitializeAsync()
    {
        _simulator = SimulatorApp.Build(new SimulatorOptions
        {
            ApiKey = UpstreamKey,
            QueuedFor = TimeSpan.FromMilliseconds(200),
            GeneratingFor = TimeSpan.FromMilliseconds(300),
        });
        await _simulator.StartAsync();
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await DisposeAsync();
        if (_simulator is not null)
        {
            await _simulator.DisposeAsync();
        }

        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on a slow machine is left for the OS to clean up.
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        var settings = new Dictionary<string, string?>
        {
            ["AimlApi:BaseUrl"] = SimulatorAddress,
            ["AimlApi:ApiKey"] = UpstreamKey,
            ["AimlApi:FetchRetryDelay"] = "00:00:00.010",
            ["AimlApi:CreateTimeout"] = "00:00:05",
            ["AimlApi:FetchTimeout"] = "00:00:05",
            ["Ledger:Path"] = Path.Combine(WorkDirectory, "ledger.db"),
            ["Generations:StatusRefreshInterval"] = "00:00:00.050",
            ["Logging:Format"] = "json",
            // The core tests call as the anonymous client, with no rate or in-flight limit; the Access tests set
            // their own clients, keys and limits.
            ["Auth:AllowAnonymous"] = "true",
            ["Auth:Defaults:RequestsPerMinute"] = "0",
            ["Auth:Defaults:MaxInFlight"] = "0",
        };
        foreach (var (key, value) in _settings)
        {
            settings[key] = value;
        }

        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        // A real file sink, configured the way an operator would (Serilog.Settings.Configuration). These go in as an
        // app configuration source: UseSetting gives parent keys empty values, which Serilog's reader rejects.
        builder.ConfigureAppConfiguration(configuration => configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Serilog:MinimumLevel:Default"] = "Debug",
            ["Serilog:Using:0"] = "Serilog.Sinks.File",
            ["Serilog:WriteTo:0:Name"] = "File",
            ["Serilog:WriteTo:0:Args:path"] = LogPath,
            ["Serilog:WriteTo:0:Args:formatter"] = "Serilog.Formatting.Json.JsonFormatter, Serilog",
        }));
    }

    /// <summary>Everything the gateway logged so far (the file sink writes through, unbuffered).</summary>
    public string ReadLog()
    {
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The upstream's id of a generation, read from the SQLite ledger (the gateway never hands it out).</summary>
    public async Task<string> UpstreamIdAsync(string generationId)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={LedgerPath};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT upstream_id FROM generations WHERE id = $id;";
        command.Parameters.AddWithValue("$id", generationId);
        return (string?)await command.ExecuteScalarAsync() ?? throw new InvalidOperationException($"{generationId} has no upstream id yet.");
    }

    /// <summary>Starts a generation on /v1/generations and returns its resource.</summary>
    public async Task<JsonElement> CreateAsync(HttpClient client, object body)
    {
        var response = await client.PostAsJsonAsync("/v1/generations", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Accepted, $"create answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls /v1/generations/{id} until the status is terminal (bounded).</summary>
    public static async Task<JsonElement> WaitUntilFinishedAsync(HttpClient client, string id, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var generation = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
            var status = generation.GetProperty("status").GetString();
            if (status is "succeeded" or "failed" || DateTime.UtcNow > deadline)
            {
                return generation;
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>Request bodies the tests send.</summary>
public static class Bodies
{
    public const string MonaLisa = "https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/mona_lisa_extended.jpg";

    public const string V1Standard = "kling-video/v1/standard/image-to-video";
    public const string V1Pro = "kling-video/v1/pro/image-to-video";
    public const string V2Master = "klingai/v2-master-image-to-video";
    public const string V21Standard = "kling-video/v2.1/standard/image-to-video";
    public const string V21Pro = "kling-video/v2.1/pro/image-to-video";

    public static readonly string[] AllModels = [V1Standard, V1Pro, V2Master, V21Standard, V21Pro];

    /// <summary>The upstream docs' own example request, with simulator directives in the prompt when given.</summary>
    public static Dictionary<string, object?> Minimal(string model, string? directives = null) => new()
    {
        ["model"] = model,
        ["prompt"] = "Mona Lisa puts on glasses with her hands." + (directives is null ? "" : $" [sim:{directives}]"),
        ["image_url"] = MonaLisa,
        ["duration"] = "5",
    };
}
