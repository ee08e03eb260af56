using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Tests.Access;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KlingGateway.Tests.Events;

/// <summary>
/// The event streams through a real HTTP client on a real Kestrel port, read line by line as a browser reads them: the
/// events of a generation in order, each the resource the status route answers; resuming with Last-Event-ID; heartbeats;
/// the end after the last event; ownership, bounds, the rate limiter and shutdown.
/// </summary>
public sealed class EventStreamTests : IAsyncLifetime
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

    private async Task<HttpClient> StartAsync(params (string Key, string? Value)[] settings)
    {
        var (gateway, client) = await LiveGateway.StartAsync(settings.ToDictionary(s => s.Key, s => s.Value));
        _gateways.Add(gateway);
        return client;
    }

    private async Task<GatewayFactory> StartAccessAsync(params (string Key, string? Value)[] settings)
    {
        var (gateway, _) = await LiveGateway.StartAsync(AccessHosts.Settings(settings));
        _gateways.Add(gateway);
        return gateway;
    }

    private static async Task<string> CreateAsync(HttpClient client, string directives)
    {
        using var response = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V21Standard, directives));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"create answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task OneGeneration_StreamsEveryChangeInOrder_EachAsTheStatusRouteAnswersIt_AndEndsAfterItsLast()
    {
        var client = await StartAsync();
        var id = await CreateAsync(client, "queued=0.4,generating=0.4");

        await using var stream = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events");
        var events = await stream.ReadToEndAsync();

        Assert.Equal(HttpStatusCode.OK, stream.Response.StatusCode);
        Assert.StartsWith("text/event-stream", stream.Response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        Assert.Equal(3000, stream.Retry);
        Assert.True(stream.Ended);
        var names = events.Select(e => e.Name).ToList();
        Assert.Equal("generation.queued", names[0]);
        Assert.Equal("generation.video_stored", names[^1]);
        Assert.True(names.IndexOf("generation.processing") > 0, string.Join(", ", names));
        Assert.True(names.IndexOf("generation.succeeded") > names.IndexOf("generation.processing"), string.Join(", ", names));
        // Ids are the generation's versions: they only grow, and the last is the version the resource now has.
        var ids = events.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        foreach (var generationEvent in events)
        {
            var resource = generationEvent.Resource;
            Assert.Equal(id, resource.GetProperty("id").GetString());
            if (generationEvent.Name is "generation.queued" or "generation.processing" or "generation.succeeded")
            {
                Assert.Equal(generationEvent.Name["generation.".Length..], resource.GetProperty("status").GetString());
            }
        }

        // The last event's data is what the status route answers now, field for field.
        var answered = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
        AssertSameResource(answered, events[^1].Resource);
        Assert.Equal("stored", events[^1].Resource.GetProperty("video").GetProperty("storage").GetString());
    }

    [Fact]
    public async Task LastEventId_ResumesWithExactlyWhatCameAfter_AndAFinishedGenerationEndsAtOnce()
    {
        var client = await StartAsync();
        var id = await CreateAsync(client, "queued=0.3,generating=0.3");
        List<StreamEvent> all;
        await using (var first = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events"))
        {
            all = await first.ReadToEndAsync();
        }

        Assert.True(all.Count >= 3, string.Join(", ", all.Select(e => e.Name)));

        // After the first event: every later one, the same ids and names, then the end.
        await using (var resumed = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events", lastEventId: all[0].Id))
        {
            var rest = await resumed.ReadToEndAsync();
            Assert.Equal(all.Skip(1).Select(e => (e.Id, e.Name)), rest.Select(e => (e.Id, e.Name)));
        }

        // After the last: nothing more, and the end.
        await using (var upToDate = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events", lastEventId: all[^1].Id))
        {
            Assert.Empty(await upToDate.ReadToEndAsync());
            Assert.True(upToDate.Ended);
        }

        // A new subscriber to a finished generation: its final state at once, then the end; a Last-Event-ID the gateway
        // never sent counts as none.
        foreach (var lastEventId in new string?[] { null, "not-an-id" })
        {
            await using var late = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events", lastEventId);
            var only = Assert.Single(await late.ReadToEndAsync());
            Assert.Equal("generation.succeeded", only.Name);
            Assert.Equal(all[^1].Id, only.Id);
            Assert.Equal("stored", only.Resource.GetProperty("video").GetProperty("storage").GetString());
        }
    }

    [Fact]
    public async Task AQuietStream_SendsHeartbeatComments_AndStaysOpen()
    {
        var client = await StartAsync(("Events:HeartbeatInterval", "00:00:00.200"));
        var id = await CreateAsync(client, "queued=3600");

        await using var stream = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events");
        var current = await stream.NextAsync();
        await stream.WaitForCommentsAsync(3);

        Assert.Equal("generation.queued", current!.Name);
        Assert.All(stream.Comments, c => Assert.Equal("heartbeat", c));
        Assert.False(stream.Ended);
    }

    [Fact]
    public async Task ManyFollowersOfOneGeneration_CostTheUpstreamNoMoreThanNone()
    {
        var client = await StartAsync(("Generations:StatusRefreshInterval", "00:00:00.250"));
        var gateway = _gateways[0];
        var id = await CreateAsync(client, "queued=3600");
        var upstreamId = await gateway.UpstreamIdAsync(id);
        var streams = new List<EventStreamClient>();
        for (var i = 0; i < 40; i++)
        {
            var stream = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events");
            Assert.Equal("generation.queued", (await stream.NextAsync())!.Name);
            streams.Add(stream);
        }

        using var metrics = new Lifecycle.MetricRecorder(gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var before = gateway.Simulator.FetchCount(upstreamId);
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(2));
        var fetches = gateway.Simulator.FetchCount(upstreamId) - before;
        var intervals = (int)(watch.Elapsed / TimeSpan.FromMilliseconds(250)) + 1;

        // The background refresh alone: one fetch per interval at most, whatever the number of followers, and the
        // followers read nothing through the status path (which is what a stream polling it would do).
        Assert.InRange(fetches, 1, intervals);
        Assert.Equal(0, metrics.Sum("kling_gateway.generation.status_reads"));
        Assert.True(metrics.Sum("kling_gateway.generation.refreshes", ("trigger", "worker")) >= 1);
        foreach (var stream in streams)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task AllGenerations_EachCallerItsOwn_AnAdminEveryones_AndLastEventIdResumesAcrossGenerations()
    {
        var gateway = await StartAccessAsync();
        var alpha = LiveGateway.Client(gateway, AccessHosts.AlphaKey);
        var beta = LiveGateway.Client(gateway, AccessHosts.BetaKey);
        var admin = LiveGateway.Client(gateway, AccessHosts.AdminKey);
        await using var alphaStream = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events");
        await using var adminStream = await EventStreamClient.OpenAsync(admin, "/v1/generations/events");
        // Both streams answered (their subscriptions exist) before anything changes.

        var alphaIds = new[] { await CreateAsync(alpha, "queued=0.2,generating=0.2"), await CreateAsync(alpha, "queued=0.2,generating=0.2") };
        var betaId = await CreateAsync(beta, "queued=0.2,generating=0.2");

        var alphaEvents = await ReadUntilAsync(alphaStream, events => alphaIds.All(g => events.Any(e => Is(e, g, "generation.video_stored"))));
        var adminEvents = await ReadUntilAsync(adminStream,
            events => alphaIds.Append(betaId).All(g => events.Any(e => Is(e, g, "generation.video_stored"))));

        Assert.DoesNotContain(alphaEvents, e => e.Resource.GetProperty("id").GetString() == betaId);
        Assert.Contains(adminEvents, e => Is(e, betaId, "generation.queued"));
        // One sequence for all generations: strictly growing on both streams, and the same number for the same event.
        foreach (var events in new[] { alphaEvents, adminEvents })
        {
            var ids = events.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(ids.Order(), ids);
            Assert.Equal(ids.Count, ids.Distinct().Count());
        }

        Assert.All(alphaEvents, e => Assert.Contains(adminEvents, a => a.Id == e.Id && a.Name == e.Name));

        // Resumed after alpha's second event: exactly alpha's events after it, across both of its generations.
        await using var resumed = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events", lastEventId: alphaEvents[1].Id);
        var replayed = new List<StreamEvent>();
        for (var i = 2; i < alphaEvents.Count; i++)
        {
            replayed.Add((await resumed.NextAsync())!);
        }

        Assert.Equal(alphaEvents.Skip(2).Select(e => (e.Id, e.Name)), replayed.Select(e => (e.Id, e.Name)));
    }

    [Fact]
    public async Task ChangesWhileNobodyListens_AreReplayedToTheNextStream_ThenLaterOnesArriveLive_WithoutGapOrRepeat()
    {
        var gateway = await StartAccessAsync();
        var alpha = LiveGateway.Client(gateway, AccessHosts.AlphaKey);
        string lastSeen;
        await using (var first = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events"))
        {
            var before = await CreateAsync(alpha, "queued=0.2,generating=0.2");
            lastSeen = (await ReadUntilAsync(first, events => events.Any(e => Is(e, before, "generation.video_stored"))))[^1].Id!;
        }

        // No stream open on the replica: the hub passes these events by without reading them.
        var unheard = await CreateAsync(alpha, "queued=0.2,generating=0.2");
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var status = await alpha.GetAsync($"/v1/generations/{unheard}");
            var resource = JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement;
            if (resource.TryGetProperty("video", out var video) && video.ValueKind == JsonValueKind.Object
                && video.TryGetProperty("storage", out var storage) && storage.GetString() == "stored")
            {
                break;
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "the generation made while nobody listened never finished");
            await Task.Delay(200);
        }

        await using var resumed = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events", lastEventId: lastSeen);
        var live = await CreateAsync(alpha, "queued=0.2,generating=0.2");
        var events = await ReadUntilAsync(resumed, events => events.Any(e => Is(e, live, "generation.video_stored")));

        Assert.Contains(events, e => Is(e, unheard, "generation.queued"));
        Assert.Contains(events, e => Is(e, unheard, "generation.video_stored"));
        Assert.Contains(events, e => Is(e, live, "generation.queued"));
        var ids = events.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(ids[0] > long.Parse(lastSeen, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public async Task SomeoneElsesGeneration_AndAnUnknownId_AreTheSame404Problem()
    {
        var gateway = await StartAccessAsync();
        var alpha = LiveGateway.Client(gateway, AccessHosts.AlphaKey);
        var beta = LiveGateway.Client(gateway, AccessHosts.BetaKey);
        var id = await CreateAsync(alpha, "queued=3600");

        foreach (var path in new[] { $"/v1/generations/{id}/events", "/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA/events", "/v1/generations/nonsense/events" })
        {
            using var response = await beta.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("generation_not_found", problem.GetProperty("code").GetString());
        }

        using var anonymous = await LiveGateway.Client(gateway).GetAsync("/v1/generations/events");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task StreamsPastTheClientsOrTheReplicasBound_AreProblemsWithRetryAfter_AndAClosedStreamFreesItsPlace()
    {
        var gateway = await StartAccessAsync(("Events:MaxSubscribers", "3"), ("Events:MaxSubscribersPerClient", "2"));
        var alpha = LiveGateway.Client(gateway, AccessHosts.AlphaKey);
        var beta = LiveGateway.Client(gateway, AccessHosts.BetaKey);
        var admin = LiveGateway.Client(gateway, AccessHosts.AdminKey);
        var first = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events");
        await using var second = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events");

        using (var third = await alpha.GetAsync("/v1/generations/events", HttpCompletionOption.ResponseHeadersRead))
        {
            await AssertProblemAsync(third, HttpStatusCode.TooManyRequests, "too_many_event_streams");
        }

        await using var betas = await EventStreamClient.OpenAsync(beta, "/v1/generations/events");
        using (var full = await admin.GetAsync("/v1/generations/events", HttpCompletionOption.ResponseHeadersRead))
        {
            await AssertProblemAsync(full, HttpStatusCode.ServiceUnavailable, "event_streams_unavailable");
        }

        // Closing a stream gives its place back (the server notices the client left).
        await first.DisposeAsync();
        await LifecycleWait(async () =>
        {
            using var again = await admin.GetAsync("/v1/generations/events", HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.OK;
        }, "a place to free up");
    }

    [Fact]
    public async Task AnOpenStream_IsCountedOnceByTheRateLimiter()
    {
        var gateway = await StartAccessAsync(
            ("Auth:Clients:alpha:RequestsPerMinute", "3"), ("Auth:RateLimitWindow", "00:00:01"), ("Events:HeartbeatInterval", "00:00:00.200"));
        var alpha = LiveGateway.Client(gateway, AccessHosts.AlphaKey);

        await using var stream = await EventStreamClient.OpenAsync(alpha, "/v1/generations/events");
        // Open across several windows: heartbeats keep coming, and no window after its first counts it again.
        await stream.WaitForCommentsAsync(12);
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await alpha.GetAsync("/v1/usage");
            answers.Add(response.StatusCode);
        }

        // A window is one second: on a slow machine the four calls may span two, so at least three pass before a 429.
        Assert.All(answers.Take(3), status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.False(stream.Ended);
    }

    [Fact]
    public async Task Stopping_EndsEveryStream_WithoutWaitingForTheShutdownTimeout()
    {
        var client = await StartAsync(("Gateway:ShutdownTimeout", "00:02:00"));
        var gateway = _gateways[0];
        var id = await CreateAsync(client, "queued=3600");
        await using var one = await EventStreamClient.OpenAsync(client, $"/v1/generations/{id}/events");
        await using var all = await EventStreamClient.OpenAsync(client, "/v1/generations/events");
        Assert.NotNull(await one.NextAsync());

        var watch = Stopwatch.StartNew();
        var lifetime = gateway.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.StopApplication();
        var ended = await Task.WhenAll(one.ReadToEndAsync(TimeSpan.FromSeconds(60)), all.ReadToEndAsync(TimeSpan.FromSeconds(60)));

        Assert.True(one.Ended && all.Ended);
        Assert.All(ended, Assert.Empty);
        // Well inside the two-minute shutdown timeout the streams would otherwise have held it for.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"the streams ended after {watch.Elapsed}");
    }

    [Fact]
    public async Task TheOpenApiDocument_DescribesBothStreams()
    {
        var client = await StartAsync();
        var document = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
        var paths = document.GetProperty("paths");

        foreach (var path in new[] { "/v1/generations/{id}/events", "/v1/generations/events" })
        {
            var get = paths.GetProperty(path).GetProperty("get");
            Assert.True(get.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("text/event-stream", out _), path);
            Assert.Contains("Last-Event-ID", get.GetProperty("description").GetString(), StringComparison.Ordinal);
            Assert.Contains(get.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "Last-Event-ID");
        }
    }

    private static bool Is(StreamEvent e, string generationId, string name) =>
        e.Name == name && e.Resource.GetProperty("id").GetString() == generationId;

    private static async Task<List<StreamEvent>> ReadUntilAsync(EventStreamClient stream, Func<List<StreamEvent>, bool> done)
    {
        var events = new List<StreamEvent>();
        while (!done(events))
        {
            events.Add((await stream.NextAsync()) ?? throw new Xunit.Sdk.XunitException("The stream ended early."));
        }

        return events;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.NotNull(response.Headers.RetryAfter);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(code, problem.GetProperty("code").GetString());
    }

    private static async Task LifecycleWait(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting for {what}.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The same resource, field for field; the video link's token may have been signed a moment apart.</summary>
    internal static void AssertSameResource(JsonElement expected, JsonElement actual)
    {
        static string Normalized(JsonElement resource)
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(resource.GetRawText())!.AsObject();
            if (node["video"] is System.Text.Json.Nodes.JsonObject video)
            {
                video["url"] = video["url"]!.GetValue<string>().Split('?')[0];
            }

            return node.ToJsonString();
        }

        Assert.Equal(Normalized(expected), Normalized(actual));
    }
}
