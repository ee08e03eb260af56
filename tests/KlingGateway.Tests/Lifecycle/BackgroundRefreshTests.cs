using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using static KlingGateway.Tests.Lifecycle.LifecycleHelpers;

namespace KlingGateway.Tests.Lifecycle;

/// <summary>
/// Every generation runs to its end with nobody polling: the background worker, the watchdog, and the pacing that keeps
/// the upstream from being stampeded. Every read here is of the list route, which never calls the upstream.
/// </summary>
public sealed class BackgroundRefreshTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await ((IAsyncLifetime)gateway).DisposeAsync();
        }
    }

    private async Task<GatewayFactory> StartAsync(params (string Key, string? Value)[] settings)
    {
        var gateway = new GatewayFactory(settings.ToDictionary(s => s.Key, s => s.Value));
        await gateway.InitializeAsync();
        _gateways.Add(gateway);
        return gateway;
    }

    [Fact]
    public async Task AGenerationNobodyPolls_ReachesSucceeded_WithItsVideoStored()
    {
        var gateway = await StartAsync();
        var client = gateway.CreateClient();
        using var metrics = new MetricRecorder(gateway.Services.GetRequiredService<IMeterFactory>());

        var id = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V21Pro))).GetProperty("id").GetString()!;
        var done = await ListedUntilAsync(client, id, g => VideoStorage(g) == "stored", "the video to be stored");

        Assert.Equal("succeeded", done.GetProperty("status").GetString());
        var video = done.GetProperty("video");
        var sample = await new HttpClient().GetByteArrayAsync($"{gateway.SimulatorAddress}/files/sample.mp4");
        Assert.Equal(Sha256Hex(sample), video.GetProperty("sha256").GetString());
        Assert.Equal(sample.Length, video.GetProperty("file_size").GetInt64());
        Assert.Equal("video/mp4", video.GetProperty("content_type").GetString());
        // Kept under the ledger's directory, and only there: no half-written file left beside it.
        var files = Directory.GetFiles(Path.Combine(gateway.WorkDirectory, "videos"), "*", SearchOption.AllDirectories);
        Assert.Equal([$"{id}.mp4"], files.Select(Path.GetFileName));
        Assert.Equal(sample, await File.ReadAllBytesAsync(files[0]));
        // Nobody read the generation itself: the worker asked the upstream, and the video host never saw the key.
        Assert.True(metrics.Sum("kling_gateway.generation.refreshes", ("trigger", "worker")) >= 1);
        Assert.Equal(0, metrics.Sum("kling_gateway.generation.refreshes", ("trigger", "read")));
        Assert.Equal(1, metrics.Sum("kling_gateway.video.downloads"));
        var fileRequests = gateway.Simulator.FileRequests;
        Assert.NotEmpty(fileRequests);
        Assert.All(fileRequests, r => Assert.False(r.Headers.ContainsKey("Authorization"), "the video host was sent an Authorization header"));
        Assert.DoesNotContain(GatewayFactory.UpstreamKey, string.Join("\n", fileRequests.SelectMany(r => r.Headers.Values)), StringComparison.Ordinal);
        await WaitForAsync<double?>(() => Task.FromResult<double?>(metrics.Observe("kling_gateway.video.stored")), v => v >= 1, "the stored gauge");
    }

    [Fact]
    public async Task AGenerationThatNeverEnds_IsFailedAtTheDeadline_LeavesTheInFlightCount_AndIsNotRefunded()
    {
        var gateway = await StartAsync(("Generations:Deadline", "00:00:01.500"), ("Generations:LateCheckWindow", "00:00:00"));
        var client = gateway.CreateClient();
        using var metrics = new MetricRecorder(gateway.Services.GetRequiredService<IMeterFactory>());

        var id = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "queued=3600"))).GetProperty("id").GetString()!;
        Assert.Equal(1, (await client.GetFromJsonAsync<JsonElement>("/v1/usage")).GetProperty("in_flight").GetInt32());
        var failed = await ListedUntilAsync(client, id, g => g.GetProperty("status").GetString() == "failed", "the watchdog");

        Assert.Equal("deadline_exceeded", failed.GetProperty("error").GetProperty("code").GetString());
        Assert.True(failed.TryGetProperty("deadline_passed_at", out _));
        var usage = await client.GetFromJsonAsync<JsonElement>("/v1/usage");
        Assert.Equal(0, usage.GetProperty("in_flight").GetInt32());
        // Not refunded: it may have been billed, so its five seconds still count today.
        Assert.Equal(5, usage.GetProperty("today").GetProperty("video_seconds").GetInt32());
        Assert.Equal(1, metrics.Sum("kling_gateway.generation.watchdog_expiries", ("model", Bodies.V1Pro)));
        var log = await LogWithAsync(gateway, "\"EventId\":{\"Id\":7010");
        Assert.Contains(id, log.Split('\n').Single(l => l.Contains("\"Id\":7010", StringComparison.Ordinal)), StringComparison.Ordinal);

        // With no late window it is not asked about again.
        var upstreamId = await gateway.UpstreamIdAsync(id);
        var fetches = gateway.Simulator.FetchCount(upstreamId);
        await Task.Delay(500);
        Assert.Equal(fetches, gateway.Simulator.FetchCount(upstreamId));
    }

    [Fact]
    public async Task AGenerationThatEndsAfterTheDeadline_TurnsSucceeded_AndItsVideoIsKept()
    {
        var gateway = await StartAsync(
            ("Generations:Deadline", "00:00:01"), ("Generations:LateCheckWindow", "00:10:00"), ("Generations:LateCheckInterval", "00:00:00.200"));
        var client = gateway.CreateClient();

        var id = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master, "queued=0,generating=3"))).GetProperty("id").GetString()!;
        var expired = await ListedUntilAsync(client, id, g => g.GetProperty("status").GetString() == "failed", "the watchdog");
        Assert.Equal("deadline_exceeded", expired.GetProperty("error").GetProperty("code").GetString());

        var late = await ListedUntilAsync(client, id, g => VideoStorage(g) == "stored", "the late video to be stored");
        Assert.Equal("succeeded", late.GetProperty("status").GetString());
        Assert.False(late.TryGetProperty("error", out _));
        Assert.Equal(expired.GetProperty("deadline_passed_at").GetDateTimeOffset(), late.GetProperty("deadline_passed_at").GetDateTimeOffset());
        Assert.True(late.GetProperty("completed_at").GetDateTimeOffset() > expired.GetProperty("completed_at").GetDateTimeOffset());
        Assert.Contains(id, await LogWithAsync(gateway, "\"Id\":7011"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUpstream404ForAGeneration_FallsUnderTheDeadline_RatherThanFailingAtOnce()
    {
        var gateway = await StartAsync(("Generations:Deadline", "00:00:02"), ("Generations:LateCheckWindow", "00:00:00"));
        var client = gateway.CreateClient();

        var id = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard, "queued=0,generating=0,fetch=404"))).GetProperty("id").GetString()!;
        var upstreamId = await gateway.UpstreamIdAsync(id);
        await WaitForAsync<int?>(() => Task.FromResult<int?>(gateway.Simulator.FetchCount(upstreamId)), n => n >= 2, "two refreshes answered 404");
        var listed = await ListedAsync(client, id);
        if (listed!.Value.GetProperty("status").GetString() != "failed")
        {
            // Still within the deadline after two 404s: unchanged.
            Assert.Equal("queued", listed.Value.GetProperty("status").GetString());
        }

        var failed = await ListedUntilAsync(client, id, g => g.GetProperty("status").GetString() == "failed", "the deadline");
        Assert.Equal("deadline_exceeded", failed.GetProperty("error").GetProperty("code").GetString());
        Assert.True((failed.GetProperty("completed_at").GetDateTimeOffset() - failed.GetProperty("created_at").GetDateTimeOffset()) >= TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task ARetryAfter_PausesTheWholeWorker_ThenItResumes()
    {
        var gateway = await StartAsync(("Generations:StatusRefreshInterval", "00:00:00.100"));
        var client = gateway.CreateClient();
        var quiet = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "queued=3600"))).GetProperty("id").GetString()!;
        var quietUpstream = await gateway.UpstreamIdAsync(quiet);
        await WaitForAsync<int?>(() => Task.FromResult<int?>(gateway.Simulator.FetchCount(quietUpstream)), n => n >= 2, "the worker to refresh");

        // One generation's fetch answers 429 with Retry-After: 3; the account's limit holds for every generation.
        var limited = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "queued=3600,fetch=429x1,retry-after=3"))).GetProperty("id").GetString()!;
        var limitedUpstream = await gateway.UpstreamIdAsync(limited);
        await WaitForAsync<int?>(() => Task.FromResult<int?>(gateway.Simulator.FetchCount(limitedUpstream)), n => n >= 1, "the limited fetch");
        var limitedAt = gateway.Simulator.Requests.First(r => r.QueryString.Contains(limitedUpstream, StringComparison.Ordinal)).At;

        await WaitForAsync<int?>(() => Task.FromResult<int?>(gateway.Simulator.FetchCount(limitedUpstream)), n => n >= 2, "the worker to resume");
        // Fetches already under way when the 429 came back may still land just after it; then nothing until Retry-After.
        var fetches = gateway.Simulator.Requests.Where(r => r.Method == "GET").Select(r => r.At).ToList();
        Assert.DoesNotContain(fetches, at => at > limitedAt.AddMilliseconds(500) && at < limitedAt.AddSeconds(2.5));
        Assert.Contains(fetches, at => at >= limitedAt.AddSeconds(2.5));
    }

    [Fact]
    public async Task TheWorker_SpreadsABacklogOverTheInterval_AndFetchesEachGenerationOncePerInterval()
    {
        // A two-second interval and 40 generations created at once: all are due together two seconds later.
        var gateway = await StartAsync(("Generations:StatusRefreshInterval", "00:00:02"));
        var client = gateway.CreateClient();
        var ids = new List<string>();
        foreach (var _ in Enumerable.Range(0, 40))
        {
            ids.Add((await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard, "queued=3600"))).GetProperty("id").GetString()!);
        }

        var upstreamIds = await Task.WhenAll(ids.Select(gateway.UpstreamIdAsync));
        gateway.Simulator.Clear();
        var started = DateTime.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(7));
        var elapsed = DateTime.UtcNow - started;

        var counts = upstreamIds.Select(gateway.Simulator.FetchCount).ToList();
        // At most one fetch per interval each (one more for an interval begun), and none left behind.
        Assert.All(counts, n => Assert.InRange(n, 1, (int)(elapsed.TotalSeconds / 2) + 1));
        // Not in one burst: the fetches of the first round are spread, not all within a few milliseconds.
        var times = gateway.Simulator.Requests.Where(r => r.Method == "GET").Select(r => r.At).Order().Take(40).ToList();
        Assert.True(times[^1] - times[0] >= TimeSpan.FromMilliseconds(200), $"40 fetches within {(times[^1] - times[0]).TotalMilliseconds} ms");
    }
}
