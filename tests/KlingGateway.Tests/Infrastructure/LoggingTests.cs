using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Tests.Validation;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>
/// The log is useful and safe: one JSON line per request with what an operator needs, and never the key, a
/// caller's Authorization or base64 image data.
/// </summary>
public sealed class LoggingTests : IAsyncLifetime
{
    private readonly GatewayFactory _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)_gateway).DisposeAsync();

    [Fact]
    public async Task Traffic_NeverLogsSecretsOrImageData()
    {
        var client = _gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "caller-secret-7d1e0c");
        var image = Convert.ToBase64String(TestImages.Png(800, 600, totalBytes: 64 * 1024));
        var body = Bodies.Minimal(Bodies.V1Standard, "queued=0,generating=0");
        body["image_url"] = "data:image/png;base64," + image;

        var created = await _gateway.CreateAsync(client, body);
        await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);
        await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro, "create=401"));
        await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro, "create=500"));
        await client.PostAsJsonAsync("/v2/video/generations", new { model = "nope", image_url = "data:image/png;base64," + image });
        await client.GetAsync("/swagger/v1/swagger.json");

        var log = _gateway.ReadLog();
        Assert.NotEmpty(log);
        Assert.DoesNotContain(GatewayFactory.UpstreamKey, log, StringComparison.Ordinal);
        Assert.DoesNotContain("caller-secret-7d1e0c", log, StringComparison.Ordinal);
        Assert.DoesNotContain(image[..64], log, StringComparison.Ordinal);
        Assert.DoesNotContain(image[^64..], log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EachRequest_IsLoggedOnceAsJsonWithTraceGenerationAndModel()
    {
        var client = _gateway.CreateClient();
        var created = await _gateway.CreateAsync(client, Bodies.Minimal(Bodies.V21Pro, "queued=3600"));
        var id = created.GetProperty("id").GetString()!;
        await client.GetAsync($"/v1/generations/{id}");
        await client.GetAsync("/health/live");

        var lines = _gateway.ReadLog().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();   // every line is one JSON object
        // The request line (Serilog.AspNetCore's) is event 100; other events inside a request carry the framework's
        // RequestPath scope too.
        var requests = events.Where(e => e.GetProperty("Properties").TryGetProperty("EventId", out var eventId) &&
            eventId.GetProperty("Id").GetInt32() == 100).ToList();

        var create = Assert.Single(requests, e => e.GetProperty("Properties").GetProperty("RequestMethod").GetString() == "POST");
        var properties = create.GetProperty("Properties");
        Assert.Equal("/v1/generations", properties.GetProperty("RequestPath").GetString());
        Assert.Equal(202, properties.GetProperty("StatusCode").GetInt32());
        Assert.Equal(id, properties.GetProperty("GenerationId").GetString());
        Assert.Equal(Bodies.V21Pro, properties.GetProperty("Model").GetString());
        Assert.Matches("^[0-9a-f]{32}$", create.GetProperty("TraceId").GetString());
        Assert.True(properties.GetProperty("Elapsed").GetDouble() >= 0);
        Assert.Equal("anonymous", properties.GetProperty("Client").GetString());
        // The trace and span ids are written once per line, beside the timestamp, never again among the properties.
        Assert.All(events, e => Assert.False(e.GetProperty("Properties").TryGetProperty("TraceId", out _), e.ToString()));
        Assert.All(events, e => Assert.False(e.GetProperty("Properties").TryGetProperty("SpanId", out _), e.ToString()));

        var read = Assert.Single(requests, e => e.GetProperty("Properties").GetProperty("RequestPath").GetString() == $"/v1/generations/{id}");
        Assert.Equal(id, read.GetProperty("Properties").GetProperty("GenerationId").GetString());
        Assert.Equal(Bodies.V21Pro, read.GetProperty("Properties").GetProperty("Model").GetString());

        // Health probes are logged at Debug, as event 101, so they do not drown the requests that matter.
        var probe = Assert.Single(events, e => e.GetProperty("Properties").TryGetProperty("RequestPath", out var path) &&
            path.GetString() == "/health/live" && e.GetProperty("Properties").TryGetProperty("StatusCode", out _));
        Assert.Equal("Debug", probe.GetProperty("Level").GetString());
        Assert.Equal(101, probe.GetProperty("Properties").GetProperty("EventId").GetProperty("Id").GetInt32());
    }
}
