using System.Net.Http.Json;
using System.Text.Json;
using static KlingGateway.Tests.Access.AccessHosts;

namespace KlingGateway.Tests.Access;

/// <summary>How much: requests per minute, generations in flight, daily video seconds and money, idempotency, usage.</summary>
public sealed class LimitsAndIdempotencyTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await StopAsync(gateway);
        }
    }

    private async Task<GatewayFactory> Gateway(params (string Key, string? Value)[] extra)
    {
        var gateway = await StartAsync(Settings(extra));
        _gateways.Add(gateway);
        return gateway;
    }

    [Fact]
    public async Task RequestsPerMinute_OverTheLimitIs429WithRetryAfterAndRateLimitHeaders_HealthIsNotLimited()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:RequestsPerMinute", "3"));
        var alpha = Client(gateway, AlphaKey);

        var remaining = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var ok = await alpha.GetAsync("/v1/generations");
            Assert.Equal(200, (int)ok.StatusCode);
            remaining.Add(ok.Headers.GetValues("RateLimit-Remaining").Single());
            Assert.Equal("3", ok.Headers.GetValues("RateLimit-Limit").Single());
        }

        var refused = await alpha.GetAsync("/v1/generations");
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(["2", "1", "0"], remaining);
        Assert.Equal(429, (int)refused.StatusCode);
        Assert.Equal("rate_limited", problem.GetProperty("code").GetString());
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
        Assert.Equal("0", refused.Headers.GetValues("RateLimit-Remaining").Single());
        Assert.Equal(retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture), refused.Headers.GetValues("RateLimit-Reset").Single());
        Assert.Equal("3;w=60", refused.Headers.GetValues("RateLimit-Policy").Single());
        // Another client has its own partition; health is never limited.
        Assert.Equal(200, (int)(await Client(gateway, BetaKey).GetAsync("/v1/generations")).StatusCode);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(200, (int)(await alpha.GetAsync("/health/live")).StatusCode);
        }

        Assert.Contains("rate_limited", gateway.ReadLog(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxInFlight_RefusesTheNextCreateBeforeTheUpstream_AndOtherClientsAreUnaffected()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:MaxInFlight", "2"));
        var alpha = Client(gateway, AlphaKey);
        await CreatedIdAsync(alpha, Body(directives: "queued=3600"));
        await CreatedIdAsync(alpha, Body(directives: "queued=3600"));

        var (status, problem, response) = await CreateAsync(alpha, Body(directives: "queued=3600"), route: "/v2/video/generations");

        Assert.Equal(429, status);
        Assert.Equal("too_many_in_flight", problem.GetProperty("code").GetString());
        Assert.Equal(2, problem.GetProperty("in_flight").GetInt32());
        Assert.Equal(2, problem.GetProperty("max_in_flight").GetInt32());
        Assert.True(response.Headers.Contains("Retry-After"));
        Assert.Equal(2, gateway.Simulator.CreateCount);
        Assert.Equal(202, (await CreateAsync(Client(gateway, BetaKey), Body())).Status);
    }

    [Fact]
    public async Task FinishedGenerations_FreeTheirInFlightSlot()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:MaxInFlight", "1"));
        var alpha = Client(gateway, AlphaKey);
        var first = await CreatedIdAsync(alpha, Body(directives: "queued=0,generating=0"));
        Assert.Equal("succeeded", (await GatewayFactory.WaitUntilFinishedAsync(alpha, first)).GetProperty("status").GetString());

        Assert.Equal(202, (await CreateAsync(alpha, Body())).Status);
    }

    [Fact]
    public async Task DailyVideoSeconds_RefusedBeforeTheUpstream_WithWhatRemains_AndUsageAgrees()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:DailyVideoSeconds", "12"));
        var alpha = Client(gateway, AlphaKey);
        await CreatedIdAsync(alpha, Body(duration: 10));

        var (status, problem, response) = await CreateAsync(alpha, Body(duration: 5));
        var usage = await alpha.GetFromJsonAsync<JsonElement>("/v1/usage");

        Assert.Equal(429, status);
        Assert.Equal("daily_video_seconds_exhausted", problem.GetProperty("code").GetString());
        Assert.Equal(2, problem.GetProperty("remaining_video_seconds").GetInt32());
        Assert.Equal(5, problem.GetProperty("requested_video_seconds").GetInt32());
        Assert.Contains("2 of its 12", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(response.Headers.Contains("Retry-After"));
        Assert.Equal(1, gateway.Simulator.CreateCount);
        Assert.Equal(10, usage.GetProperty("today").GetProperty("video_seconds").GetInt32());
        Assert.Equal(2, usage.GetProperty("today").GetProperty("remaining_video_seconds").GetInt32());
        Assert.Equal(12, usage.GetProperty("limits").GetProperty("daily_video_seconds").GetInt32());
    }

    [Fact]
    public async Task DailyBudgetUsd_PricedPerModel_RefusesWhatWouldOverspend_AndUsageShowsMoneyByModel()
    {
        var gateway = await Gateway(
            ("Auth:Prices:v1_standard", "0.05"), ("Auth:Prices:v1_pro", "0.10"), ("Auth:Prices:v2_master", "0.28"),
            ("Auth:Prices:v2_1_standard", "0.05"), ("Auth:Prices:v2_1_pro", "0.10"),
            ("Auth:Clients:alpha:DailyBudgetUsd", "1.25"));
        var alpha = Client(gateway, AlphaKey);
        await CreatedIdAsync(alpha, Body(Bodies.V1Pro, duration: 10));
        await CreatedIdAsync(alpha, Body(Bodies.V1Standard, duration: 5));

        var (status, problem, _) = await CreateAsync(alpha, Body(Bodies.V2Master, duration: 5));
        var usage = await alpha.GetFromJsonAsync<JsonElement>("/v1/usage");

        Assert.Equal(429, status);
        Assert.Equal("daily_budget_exhausted", problem.GetProperty("code").GetString());
        Assert.Equal(0.00m, problem.GetProperty("remaining_usd").GetDecimal());
        Assert.Equal(1.40m, problem.GetProperty("requested_usd").GetDecimal());
        Assert.Equal(2, gateway.Simulator.CreateCount);
        var today = usage.GetProperty("today");
        Assert.Equal(1.25m, today.GetProperty("cost_usd").GetDecimal());
        Assert.Equal(0m, today.GetProperty("remaining_usd").GetDecimal());
        var models = usage.GetProperty("days")[0].GetProperty("models").EnumerateArray()
            .ToDictionary(m => m.GetProperty("model").GetString()!, m => m.GetProperty("cost_usd").GetDecimal());
        Assert.Equal(new Dictionary<string, decimal> { [Bodies.V1Pro] = 1.00m, [Bodies.V1Standard] = 0.25m }, models);
    }

    [Fact]
    public async Task CreateTheUpstreamRefuses_IsRefunded()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:DailyVideoSeconds", "5"));
        var alpha = Client(gateway, AlphaKey);

        var refused = await CreateAsync(alpha, Body(directives: "create=400"));
        var next = await CreateAsync(alpha, Body());

        Assert.Equal(400, refused.Status);
        Assert.Equal(202, next.Status);
        Assert.Equal(5, (await alpha.GetFromJsonAsync<JsonElement>("/v1/usage")).GetProperty("today").GetProperty("video_seconds").GetInt32());
    }

    [Fact]
    public async Task IdempotencyKey_SameBodyConcurrentlyOnEveryRoute_OneGenerationOneUpstreamCreate()
    {
        var gateway = await Gateway();
        var alpha = Client(gateway, AlphaKey);
        var body = Body(directives: "create-delay=0.5");

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            CreateAsync(alpha, body, "order-7731", i % 2 == 0 ? "/v1/generations" : "/v2/video/generations")));

        Assert.Equal(1, gateway.Simulator.CreateCount);
        Assert.Single(answers.Select(a => a.Body.GetProperty("id").GetString()).Distinct());
        Assert.All(answers.Where((_, i) => i % 2 == 0), a => Assert.Equal(202, a.Status));
        Assert.All(answers.Where((_, i) => i % 2 == 1), a => Assert.Equal(200, a.Status));
        Assert.Equal(1, (await alpha.GetFromJsonAsync<JsonElement>("/v1/generations")).GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task IdempotencyKey_WithAnotherBody_Is422_AndAnotherClientsSameKeyIsIndependent()
    {
        var gateway = await Gateway();
        var alpha = Client(gateway, AlphaKey);
        var first = await CreatedIdAsync(alpha, Body(), "key-1");

        var (status, problem, _) = await CreateAsync(alpha, Body(duration: 10), "key-1");
        var beta = await CreatedIdAsync(Client(gateway, BetaKey), Body(), "key-1");

        Assert.Equal(422, status);
        Assert.Equal("idempotency_key_reused", problem.GetProperty("code").GetString());
        Assert.NotEqual(first, beta);
        Assert.Equal(2, gateway.Simulator.CreateCount);
    }

    [Theory]
    [InlineData("one|two")]
    [InlineData("one,two")]
    [InlineData("order-1, order-2")]
    public async Task IdempotencyKey_SentTwiceOrHoldingAComma_Is400_AndNothingIsCreated(string headerLines)
    {
        // Each '|' separates one header line from the next.
        var values = headerLines.Split('|');
        var gateway = await Gateway();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generations") { Content = JsonContent.Create(Body()) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", values);

        using var response = await Client(gateway, AlphaKey).SendAsync(request);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_idempotency_key", problem.GetProperty("code").GetString());
        Assert.Equal(0, gateway.Simulator.CreateCount);
        Assert.Equal(0, (await Client(gateway, AlphaKey).GetFromJsonAsync<JsonElement>("/v1/generations")).GetProperty("items").GetArrayLength());
    }

    [Theory]
    [InlineData("create=429,retry-after=7", 429, "upstream_rate_limited", "7")]
    [InlineData("create=503,retry-after=3", 503, "upstream_unavailable", "3")]
    [InlineData("create=400", 400, "upstream_rejected_request", null)]
    [InlineData("create=401", 502, "upstream_key_rejected", null)]
    [InlineData("create=403", 503, "upstream_out_of_credits", null)]
    public async Task IdempotencyKey_AfterAnUpstreamRefusal_IsReleased_SoTheRetryReachesTheUpstreamAndGetsItsOwnAnswer(
        string directives, int status, string code, string? retryAfter)
    {
        var gateway = await Gateway();
        var alpha = Client(gateway, AlphaKey);
        var body = Body(directives: directives);

        var first = await CreateAsync(alpha, body, "retry-me");
        var retry = await CreateAsync(alpha, body, "retry-me");

        // Nothing started upstream, so the key was not kept: the retry is a second create, answered by the upstream
        // again (with the Retry-After it gives now), not the first answer replayed.
        Assert.Equal(2, gateway.Simulator.CreateCount);
        foreach (var answer in new[] { first, retry })
        {
            Assert.Equal(status, answer.Status);
            Assert.Equal(code, answer.Body.GetProperty("code").GetString());
            Assert.False(answer.Body.TryGetProperty("idempotent_replay", out _));
            Assert.False(answer.Response.Headers.Contains("Idempotent-Replayed"));
            Assert.Equal(retryAfter, answer.Response.Headers.TryGetValues("Retry-After", out var values) ? values.Single() : null);
        }

        Assert.NotEqual(first.Body.GetProperty("generation_id").GetString(), retry.Body.GetProperty("generation_id").GetString());
    }

    [Fact]
    public async Task IdempotencyKey_AfterTheUpstreamCouldNotBeReached_IsReleased()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var gateway = await Gateway(("AimlApi:BaseUrl", $"http://127.0.0.1:{port}"));
        var alpha = Client(gateway, AlphaKey);

        var first = await CreateAsync(alpha, Body(), "retry-me");
        var retry = await CreateAsync(alpha, Body(), "retry-me");

        Assert.All(new[] { first, retry }, a => Assert.Equal(502, a.Status));
        Assert.All(new[] { first, retry }, a => Assert.Equal("upstream_unreachable", a.Body.GetProperty("code").GetString()));
        Assert.False(retry.Body.TryGetProperty("idempotent_replay", out _));
        Assert.NotEqual(first.Body.GetProperty("generation_id").GetString(), retry.Body.GetProperty("generation_id").GetString());
    }

    [Theory]
    [InlineData("create-delay=3", 504, "upstream_timeout")]
    [InlineData("create=malformed", 502, "upstream_bad_response")]
    public async Task IdempotencyKey_AfterACreateThatMayHaveStarted_ReplaysTheFirstAnswerExactly_WithoutASecondCreate(
        string directives, int status, string code)
    {
        var gateway = await Gateway(("AimlApi:CreateTimeout", "00:00:01"));
        var alpha = Client(gateway, AlphaKey);
        var body = Body(directives: directives);

        var first = await CreateAsync(alpha, body, "maybe-started");
        var replay = await CreateAsync(alpha, body, "maybe-started");

        Assert.Equal(1, gateway.Simulator.CreateCount);
        Assert.Equal(status, first.Status);
        Assert.Equal(status, replay.Status);
        Assert.Equal("application/problem+json", replay.Response.Content.Headers.ContentType?.MediaType);
        // The same answer: status, code, title, detail, upstream status and generation; marked as a replay.
        foreach (var member in new[] { "code", "title", "detail", "generation_id" })
        {
            Assert.Equal(first.Body.GetProperty(member).GetString(), replay.Body.GetProperty(member).GetString());
        }

        Assert.Equal(first.Body.TryGetProperty("upstream_status", out var firstUpstream) ? firstUpstream.GetInt32() : null,
            replay.Body.TryGetProperty("upstream_status", out var replayUpstream) ? replayUpstream.GetInt32() : (int?)null);
        Assert.Equal(code, replay.Body.GetProperty("code").GetString());
        Assert.True(replay.Body.GetProperty("idempotent_replay").GetBoolean());
        Assert.Equal("true", replay.Response.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.False(replay.Response.Headers.Contains("Retry-After"));
        // It may have been billed: it stays charged, and says its billing is not known yet.
        var generation = await alpha.GetFromJsonAsync<JsonElement>($"/v1/generations/{first.Body.GetProperty("generation_id").GetString()}");
        Assert.Equal("unknown", generation.GetProperty("billing").GetString());
        Assert.Equal(5, (await alpha.GetFromJsonAsync<JsonElement>("/v1/usage")).GetProperty("today").GetProperty("video_seconds").GetInt32());
    }

    [Fact]
    public async Task IdempotencyKey_ReplayOfASuccess_IsTheRoutesOwnAnswerWithLocation_MarkedAsAReplay()
    {
        var gateway = await Gateway();
        var alpha = Client(gateway, AlphaKey);

        var first = await CreateAsync(alpha, Body(), "order-1");
        var replay = await CreateAsync(alpha, Body(), "order-1");
        var compatible = await CreateAsync(alpha, Body(), "order-1", "/v2/video/generations");

        Assert.Equal(1, gateway.Simulator.CreateCount);
        Assert.Equal(202, replay.Status);
        Assert.Equal(first.Response.Headers.Location, replay.Response.Headers.Location);
        Assert.Equal(first.Body.GetProperty("id").GetString(), replay.Body.GetProperty("id").GetString());
        Assert.False(first.Response.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", replay.Response.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(200, compatible.Status);
        Assert.Equal(first.Body.GetProperty("id").GetString(), compatible.Body.GetProperty("id").GetString());
    }

    [Fact]
    public async Task AuditLog_NamesClientUserModelImageHashAndOutcome_ButNoKeyTokenOrImageData()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:DailyVideoSeconds", "5"));
        var token = UserToken("ana");
        var ana = Client(gateway, AlphaKey, token);
        var png = Convert.ToBase64String(KlingGateway.Tests.Validation.TestImages.Png(400, 400, totalBytes: 4096));
        var body = Body(directives: "queued=0,generating=0");
        body["image_url"] = png;

        var id = await CreatedIdAsync(ana, body);
        await GatewayFactory.WaitUntilFinishedAsync(ana, id);
        await CreateAsync(ana, Body());
        await CreateAsync(ana, new Dictionary<string, object?> { ["model"] = Bodies.V1Pro });

        var audit = gateway.ReadLog().Split('\n').Where(l => l.Contains("\"SourceContext\":\"KlingGateway.Audit\"", StringComparison.Ordinal)).ToList();
        var created = Assert.Single(audit, l => l.Contains("\"EventId\":{\"Id\":7001", StringComparison.Ordinal));
        Assert.Contains("\"AuditClient\":\"alpha\"", created, StringComparison.Ordinal);
        Assert.Contains("\"AuditUser\":\"ana\"", created, StringComparison.Ordinal);
        Assert.Contains("image_url=sha256:", created, StringComparison.Ordinal);
        Assert.Contains("\"Outcome\":\"accepted\"", created, StringComparison.Ordinal);
        // The one line an operator needs to go from the gateway's id to the upstream's.
        Assert.Matches("\"UpstreamId\":\"[^\"]+\"", created);
        Assert.Contains(audit, l => l.Contains("7004", StringComparison.Ordinal) && l.Contains("\"Outcome\":\"succeeded\"", StringComparison.Ordinal));
        Assert.Contains(audit, l => l.Contains("\"Outcome\":\"daily_video_seconds_exhausted\"", StringComparison.Ordinal));
        Assert.Contains(audit, l => l.Contains("\"Outcome\":\"validation\"", StringComparison.Ordinal));
        var log = gateway.ReadLog();
        Assert.DoesNotContain(AlphaKey, log, StringComparison.Ordinal);
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);
        Assert.DoesNotContain(png[..64], log, StringComparison.Ordinal);
        Assert.DoesNotContain(GatewayFactory.UpstreamKey, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryCreate_WritesExactlyOneAuditEvent_WhateverRefusesIt()
    {
        var gateway = await Gateway(("Auth:Clients:alpha:DailyVideoSeconds", "10"));
        var alpha = Client(gateway, AlphaKey);

        // Each answer a create can end in, on the three create routes: accepted, replayed, refused by the upstream, by a
        // malformed key (a 400 of the create itself), by a limit, and by validation before the create ran.
        var answers = new[]
        {
            (await CreateAsync(alpha, Body(), "one-audit")).Status,
            (await CreateAsync(alpha, Body(), "one-audit")).Status,
            (await CreateAsync(alpha, Body(directives: "create=400"), route: "/v2/video/generations")).Status,
            (await CreateAsync(alpha, Body(), "a,b", route: "/v2/generate/video/kling/generation")).Status,
            (await CreateAsync(alpha, Body(duration: 10))).Status,
            (await CreateAsync(alpha, new Dictionary<string, object?> { ["model"] = Bodies.V1Pro })).Status,
        };

        Assert.Equal([202, 202, 400, 400, 429, 400], answers);
        var events = gateway.ReadLog().Split('\n')
            .Where(l => l.Contains("\"SourceContext\":\"KlingGateway.Audit\"", StringComparison.Ordinal)
                && (l.Contains("\"EventId\":{\"Id\":7001", StringComparison.Ordinal)
                    || l.Contains("\"EventId\":{\"Id\":7002", StringComparison.Ordinal)
                    || l.Contains("\"EventId\":{\"Id\":7003", StringComparison.Ordinal)))
            .ToList();
        Assert.Equal(answers.Length, events.Count);
        Assert.Single(events, l => l.Contains("\"Outcome\":\"validation\"", StringComparison.Ordinal));
        Assert.Single(events, l => l.Contains("\"Outcome\":\"invalid_idempotency_key\"", StringComparison.Ordinal));
        Assert.Single(events, l => l.Contains("\"Outcome\":\"daily_video_seconds_exhausted\"", StringComparison.Ordinal));
        Assert.Single(events, l => l.Contains("\"EventId\":{\"Id\":7003", StringComparison.Ordinal));
        Assert.Single(events, l => l.Contains("\"Outcome\":\"create_failed\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OpenApi_OffersAnApiKeySchemeForAuthorize_AndHoldsNoKey()
    {
        var gateway = await Gateway();
        var document = await gateway.CreateClient().GetStringAsync("/swagger/v1/swagger.json");
        var scheme = JsonDocument.Parse(document).RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");

        Assert.Equal("apiKey", scheme.GetProperty("type").GetString());
        Assert.Equal("header", scheme.GetProperty("in").GetString());
        Assert.Equal("X-Api-Key", scheme.GetProperty("name").GetString());
        Assert.Contains("/v1/usage", document, StringComparison.Ordinal);
        foreach (var secret in new[] { GatewayFactory.UpstreamKey, AlphaKey, Hash(AlphaKey), SigningKey })
        {
            Assert.DoesNotContain(secret, document, StringComparison.Ordinal);
        }
    }
}
