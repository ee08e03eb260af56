using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Ledger;
using KlingGateway.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace KlingGateway.Tests.Generations;

/// <summary>
/// What a crash leaves behind, settled after the restart: creates queued with no upstream id (the gateway was killed
/// between the admission and the upstream's answer) are failed as interrupted, leave the in-flight count, and keep or
/// lose their charge by what the upstream's usage log says. The ledger is put in the state a kill -9 leaves (the CI
/// step .ci/crash-smoke.sh does it with a real SIGKILL); the gateway then starts on it against a real simulator.
/// </summary>
public sealed class CreateSettlementTests : IAsyncLifetime
{
    private const string Model = Bodies.V1Pro;

    private readonly SharedLedgerHosts _hosts = new();

    public Task InitializeAsync() => _hosts.InitializeAsync();

    public Task DisposeAsync() => _hosts.DisposeAsync();

    [Fact]
    public async Task AfterACrash_StrandedCreatesAreSettledAsInterrupted_FreeTheirQuota_AndKeepTheirChargeOnlyIfTheUsageLogShowsThemBilled()
    {
        var gateway = await NewGatewayAsync();
        var now = DateTimeOffset.UtcNow;
        var billed = Stranded(now.AddMinutes(-2));
        var refusedUpstream = Stranded(now.AddMinutes(-2));
        var neverArrived = Stranded(now.AddMinutes(-2));
        var stillRunning = Stranded(now);
        var answered = Stranded(now.AddMinutes(-2)) with { UpstreamId = "upstream-known", UpstreamStatus = "queued" };
        var body = """{"model":"kling-video/v1/pro/image-to-video","image_url":"https://example.com/a.jpg","prompt":"a cat","duration":"5"}""";
        const string strandedKey = "checkout-1", orphanKey = "checkout-2";
        using (var ledger = await OpenSqliteAsync(gateway))
        {
            foreach (var generation in new[] { refusedUpstream, neverArrived, stillRunning, answered })
            {
                await ledger.InsertAsync(generation, CancellationToken.None);
            }

            // One stranded create held an Idempotency-Key; another request died before its admission, holding only its key.
            var claim = new IdempotencyClaim(GenerationOwner.AnonymousClient, strandedKey, RequestHash(body), now.AddMinutes(-2), now.AddHours(22));
            Assert.Null(await ledger.ClaimIdempotencyKeyAsync(claim, CancellationToken.None));
            var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
            await ledger.AdmitAsync(billed, new AdmissionLimits(null, null, null, today, now.AddHours(-1)), strandedKey, CancellationToken.None);
            Assert.Null(await ledger.ClaimIdempotencyKeyAsync(claim with { Key = orphanKey }, CancellationToken.None));
        }

        // What the upstream saw of them: one created (billed) and one refused (a failed row, charged nothing); the third
        // never arrived.
        await SendCreateUpstreamAsync(gateway, billed, "queued=3600");
        await SendCreateUpstreamAsync(gateway, refusedUpstream, "create=503");
        using var recorder = new ScopedRecorder();

        var client = gateway.CreateClient();
        var settled = await WaitForBillingAsync(client, billed.Id, refusedUpstream.Id, neverArrived.Id);

        Assert.All(settled.Values, g =>
        {
            Assert.Equal("failed", g.GetProperty("status").GetString());
            Assert.Equal("interrupted", g.GetProperty("error").GetProperty("code").GetString());
        });
        Assert.Equal("billed", settled[billed.Id].GetProperty("billing").GetString());
        Assert.Equal("not_billed", settled[refusedUpstream.Id].GetProperty("billing").GetString());
        Assert.Equal("not_billed", settled[neverArrived.Id].GetProperty("billing").GetString());
        // A create younger than InterruptedAfter may still be running somewhere; one the upstream answered is followed as usual.
        var running = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{stillRunning.Id}");
        Assert.Equal("queued", running.GetProperty("status").GetString());
        Assert.False(running.TryGetProperty("billing", out _));
        using (var ledger = await OpenSqliteAsync(gateway))
        {
            Assert.Equal(GenerationStatus.Queued, (await ledger.FindAsync(answered.Id, CancellationToken.None))!.Status);
        }

        // No quota held by the stranded three: in flight are only the two that may still be running; the billed one
        // stays charged, the two that were not are refunded.
        var usage = await client.GetFromJsonAsync<JsonElement>("/v1/usage");
        Assert.Equal(2, usage.GetProperty("in_flight").GetInt32());
        Assert.Equal(3 * 5, usage.GetProperty("today").GetProperty("video_seconds").GetInt32());

        // Operators see it: metrics, and one audit event per settled bill.
        var factory = gateway.Services.GetRequiredService<IMeterFactory>();
        Assert.Equal(3, recorder.Sum(factory, "kling_gateway.generation.interrupted"));
        Assert.Equal(1, recorder.Sum(factory, "kling_gateway.generation.billing_settled", ("error_code", "interrupted"), ("billing", "billed")));
        Assert.Equal(2, recorder.Sum(factory, "kling_gateway.generation.billing_settled", ("error_code", "interrupted"), ("billing", "not_billed")));
        var audit = gateway.ReadLog().Split('\n').Where(l => l.Contains("\"EventId\":{\"Id\":7006", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, audit.Count);
        Assert.Contains(audit, l => l.Contains(billed.Id, StringComparison.Ordinal) && l.Contains("\"Outcome\":\"billed\"", StringComparison.Ordinal));

        // The stranded create's key answers at once, naming the generation; the orphaned key was released.
        var (status, problem, response) = await PostAsync(client, body, strandedKey);
        Assert.Equal(409, status);
        Assert.Equal("create_interrupted", problem.GetProperty("code").GetString());
        Assert.Equal(billed.Id, problem.GetProperty("generation_id").GetString());
        Assert.Equal("true", response.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(202, (await PostAsync(client, body, orphanKey)).Status);
    }

    [Fact]
    public async Task UsageLogUnreachable_TheCreateStaysChargedAndSaysUnknown_UntilTheLogAnswers()
    {
        var gateway = await NewGatewayAsync();
        var stranded = Stranded(DateTimeOffset.UtcNow.AddMinutes(-2));
        using (var ledger = await OpenSqliteAsync(gateway))
        {
            await ledger.InsertAsync(stranded, CancellationToken.None);
        }

        await SendCreateUpstreamAsync(gateway, stranded, "queued=3600");
        gateway.Simulator.UsageLogFault = 503;
        var client = gateway.CreateClient();

        var unknown = await WaitForAsync(client, stranded.Id, g => g.GetProperty("status").GetString() == "failed");
        await WaitUntilAsync(() => gateway.ReadLog().Contains("\"EventId\":{\"Id\":4013", StringComparison.Ordinal), "the unreadable log was reported");

        Assert.Equal("interrupted", unknown.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("unknown", (await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{stranded.Id}")).GetProperty("billing").GetString());
        var usage = await client.GetFromJsonAsync<JsonElement>("/v1/usage");
        Assert.Equal(0, usage.GetProperty("in_flight").GetInt32());
        Assert.Equal(5, usage.GetProperty("today").GetProperty("video_seconds").GetInt32());

        gateway.Simulator.UsageLogFault = null;
        var settled = await WaitForBillingAsync(client, stranded.Id);
        Assert.Equal("billed", settled[stranded.Id].GetProperty("billing").GetString());
    }

    [Fact]
    public async Task UsageLog_IsPagedNewestFirst_AndReadNoFurtherThanNeeded()
    {
        var gateway = await NewGatewayAsync();
        var stranded = Stranded(DateTimeOffset.UtcNow.AddMinutes(-2));
        using (var ledger = await OpenSqliteAsync(gateway))
        {
            await ledger.InsertAsync(stranded, CancellationToken.None);
        }

        // The stranded create is the oldest of 251 rows in its window: found on the third page of 100, newest first.
        await SendCreateUpstreamAsync(gateway, stranded, "queued=3600");
        for (var i = 0; i < 250; i++)
        {
            await SendCreateUpstreamAsync(gateway, Stranded(DateTimeOffset.UtcNow), "create=400");
        }

        var settled = await WaitForBillingAsync(gateway.CreateClient(), stranded.Id);

        Assert.Equal("billed", settled[stranded.Id].GetProperty("billing").GetString());
        var reads = gateway.Simulator.Requests.Where(r => r.Path == "/v2/logs").ToList();
        Assert.Equal(3, reads.Count);
        Assert.Equal(3, gateway.Simulator.UsageLogReads);
        Assert.All(reads, r => Assert.Contains("limit=100", r.QueryString, StringComparison.Ordinal));
        Assert.Equal(["offset=0", "offset=100", "offset=200"], reads.Select(r => r.QueryString.Split('&').Single(p => p.StartsWith("offset=", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task UsageLogOverItsLimit_TheReadsPauseForTheRetryAfter()
    {
        var gateway = await NewGatewayAsync();
        var stranded = Stranded(DateTimeOffset.UtcNow.AddMinutes(-2));
        using (var ledger = await OpenSqliteAsync(gateway))
        {
            await ledger.InsertAsync(stranded, CancellationToken.None);
        }

        gateway.Simulator.UsageLogFault = 429;
        var client = gateway.CreateClient();
        await WaitUntilAsync(() => gateway.Simulator.UsageLogReads >= 1, "the usage log was read");

        // Passes run every second; the 429 (with no Retry-After) holds every read back for a minute.
        await WaitUntilAsync(() => CountEvents(gateway, 4014) >= 2, "two more passes ran");
        Assert.Equal(1, gateway.Simulator.UsageLogReads);
        Assert.Equal("unknown", (await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{stranded.Id}")).GetProperty("billing").GetString());
    }

    [PostgresFact]
    public async Task TwoReplicasOnOnePostgres_SettleAndReconcileEachStrandedCreateExactlyOnce()
    {
        var settings = Settings(("Ledger:Provider", "postgres"), ("Ledger:ConnectionString", _hosts.Database!.ConnectionString));
        var first = new GatewayFactory(settings);
        await first.InitializeAsync();
        _hosts.Add(first);
        settings["AimlApi:BaseUrl"] = first.SimulatorAddress;
        var second = new GatewayFactory(settings);
        await second.InitializeAsync();
        _hosts.Add(second);

        var stranded = Enumerable.Range(0, 40).Select(_ => Stranded(DateTimeOffset.UtcNow.AddMinutes(-2))).ToList();
        await using (var ledger = new PostgresGenerationStore(_hosts.Database.ConnectionString, NullLogger<PostgresGenerationStore>.Instance))
        {
            await ledger.InitializeAsync(CancellationToken.None);
            foreach (var generation in stranded)
            {
                await ledger.InsertAsync(generation, CancellationToken.None);
            }
        }

        foreach (var generation in stranded.Where((_, i) => i % 2 == 0))
        {
            await SendCreateUpstreamAsync(first, generation, "queued=3600");
        }

        // Both replicas start and sweep the same ledger at once.
        await Task.WhenAll(Task.Run(first.CreateClient), Task.Run(second.CreateClient));
        var settled = await WaitForBillingAsync(first.CreateClient(), [.. stranded.Select(g => g.Id)]);

        Assert.Equal(20, settled.Values.Count(g => g.GetProperty("billing").GetString() == "billed"));
        Assert.Equal(20, settled.Values.Count(g => g.GetProperty("billing").GetString() == "not_billed"));
        var interruptedEvents = SettledIds(first, 4010).Concat(SettledIds(second, 4010)).ToList();
        var billingEvents = SettledIds(first, 7006).Concat(SettledIds(second, 7006)).ToList();
        Assert.Equal(stranded.Select(g => g.Id).Order(StringComparer.Ordinal), interruptedEvents.Order(StringComparer.Ordinal));
        Assert.Equal(stranded.Select(g => g.Id).Order(StringComparer.Ordinal), billingEvents.Order(StringComparer.Ordinal));
        var usage = await first.CreateClient().GetFromJsonAsync<JsonElement>("/v1/usage");
        Assert.Equal(0, usage.GetProperty("in_flight").GetInt32());
        Assert.Equal(20 * 5, usage.GetProperty("today").GetProperty("video_seconds").GetInt32());
    }

    [Fact]
    public async Task OpenApi_DescribesBillingAndTheInterruptedAnswers()
    {
        var gateway = await NewGatewayAsync();
        var document = JsonDocument.Parse(await gateway.CreateClient().GetStringAsync("/swagger/v1/swagger.json")).RootElement;
        var schemas = document.GetProperty("components").GetProperty("schemas");

        Assert.Equal(["unknown", "billed", "not_billed"],
            schemas.GetProperty("GenerationBilling").GetProperty("enum").EnumerateArray().Select(v => v.GetString()));
        Assert.True(schemas.GetProperty("GenerationResource").GetProperty("properties").TryGetProperty("billing", out _));
        Assert.Contains("interrupted", schemas.GetProperty("ErrorResource").GetProperty("properties").GetProperty("code").GetProperty("description").GetString(),
            StringComparison.Ordinal);
        var conflict = document.GetProperty("paths").GetProperty("/v1/generations").GetProperty("post").GetProperty("responses").GetProperty("409");
        Assert.Contains("create_interrupted", conflict.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Generations:InterruptedAfter", "00:00:05")]
    [InlineData("Generations:InterruptedAfter", "00:00:04")]
    [InlineData("AimlApi:UsageLogRequestsPerMinute", "0")]
    [InlineData("AimlApi:UsageLogRequestsPerMinute", "201")]
    [InlineData("Generations:SettlementInterval", "00:00:00")]
    [InlineData("Generations:BillingGracePeriod", "-00:00:01")]
    [InlineData("Generations:BillingCheckFor", "91.00:00:00")]
    public async Task ASettlementSettingThatCannotWork_RefusesToStartAndNamesIt(string key, string value)
    {
        // The factory's create timeout is 5 s: an InterruptedAfter not longer than it could settle a create still running.
        var gateway = new GatewayFactory(new Dictionary<string, string?> { [key] = value });
        await gateway.InitializeAsync();
        _hosts.Add(gateway);

        var failure = Record.Exception(() => gateway.Server);

        Assert.NotNull(failure);
        Assert.Contains(key, failure.ToString(), StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> Settings(params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Generations:SettlementInterval"] = "00:00:01",
            ["Generations:InterruptedAfter"] = "00:01:00",
            ["Generations:BillingGracePeriod"] = "00:00:00",
            ["AimlApi:UsageLogRequestsPerMinute"] = "200",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>A gateway whose simulator runs, but whose host starts only at its first client, on the ledger the test prepared.</summary>
    private async Task<GatewayFactory> NewGatewayAsync()
    {
        var gateway = new GatewayFactory(Settings());
        await gateway.InitializeAsync();
        _hosts.Add(gateway);
        return gateway;
    }

    private static async Task<SqliteGenerationStore> OpenSqliteAsync(GatewayFactory gateway)
    {
        var store = new SqliteGenerationStore(gateway.LedgerPath, NullLogger<SqliteGenerationStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    /// <summary>A create as a killed gateway leaves it: admitted, queued, no upstream id.</summary>
    private static Generation Stranded(DateTimeOffset createdAt)
    {
        var id = GenerationId.New();
        return new Generation
        {
            Id = id,
            Model = Model,
            RouteFamily = "universal",
            Status = GenerationStatus.Queued,
            RequestSummary = """{"model":"kling-video/v1/pro/image-to-video"}""",
            CreatedAt = createdAt,
            UpdatedAt = createdAt,
            VideoSeconds = 5,
            UpstreamRequestId = GenerationId.UpstreamRequestId(id),
        };
    }

    /// <summary>The create the gateway sent before it died, as it reached the upstream (its answer never came back).</summary>
    private static async Task SendCreateUpstreamAsync(GatewayFactory gateway, Generation generation, string directives)
    {
        using var http = new HttpClient { BaseAddress = new Uri(gateway.SimulatorAddress) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/video/generations")
        {
            Content = JsonContent.Create(Bodies.Minimal(Model, directives)),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFactory.UpstreamKey);
        request.Headers.Add("X-Client-Request-Id", generation.UpstreamRequestId);
        using var response = await http.SendAsync(request);
    }

    private static string RequestHash(string body)
    {
        using var request = GenerationRequest.Parse(Encoding.UTF8.GetBytes(body), CreateRoute.Gateway);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(request.Summary())));
    }

    private static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(HttpClient client, string body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generations")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        var response = await client.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>(), response);
    }

    /// <summary>Polls until every generation has a billing other than unknown (bounded: a loaded machine is slow, never wrong).</summary>
    private static async Task<Dictionary<string, JsonElement>> WaitForBillingAsync(HttpClient client, params string[] ids)
    {
        var settled = new Dictionary<string, JsonElement>();
        foreach (var id in ids)
        {
            settled[id] = await WaitForAsync(client, id, g => g.TryGetProperty("billing", out var billing) && billing.GetString() != "unknown");
        }

        return settled;
    }

    private static async Task<JsonElement> WaitForAsync(HttpClient client, string id, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var generation = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
            if (done(generation))
            {
                return generation;
            }

            Assert.True(DateTime.UtcNow < deadline, $"generation {id} was not settled in time: {generation}");
            await Task.Delay(100);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
    }

    private static int CountEvents(GatewayFactory gateway, int eventId) =>
        gateway.ReadLog().Split('\n').Count(l => l.Contains($"\"EventId\":{{\"Id\":{eventId}", StringComparison.Ordinal));

    /// <summary>The generation ids named by one host's log events with this id.</summary>
    private static IEnumerable<string> SettledIds(GatewayFactory gateway, int eventId) =>
        gateway.ReadLog().Split('\n')
            .Where(l => l.Contains($"\"EventId\":{{\"Id\":{eventId}", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("Properties").GetProperty("GenerationId").GetString()!);

    /// <summary>
    /// Records the gateway meter's measurements of every host from before any host starts (a worker's first pass runs
    /// at start), and sums those of one host, told apart by its meter factory.
    /// </summary>
    private sealed class ScopedRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(object? Scope, string Name, long Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();

        public ScopedRecorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == GatewayMetrics.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
                _measurements.Enqueue((instrument.Meter.Scope, instrument.Name, value, tags.ToArray())));
            _listener.Start();
        }

        public long Sum(IMeterFactory scope, string name, params (string Key, string Value)[] tags) => _measurements
            .Where(m => ReferenceEquals(m.Scope, scope) && m.Name == name && tags.All(t => m.Tags.Any(k => k.Key == t.Key && Equals(k.Value, t.Value))))
            .Sum(m => m.Value);

        public void Dispose() => _listener.Dispose();
    }
}
