using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using KlingGateway.Tests.Validation;

namespace KlingGateway.Tests.Generations;

/// <summary>Each model through each create route; what reaches the upstream; what the caller gets back.</summary>
public sealed class CreateAndForwardTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    public static TheoryData<string, string> ModelsAndRoutes()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in Bodies.AllModels)
        {
            data.Add(model, "/v1/generations");
            data.Add(model, "/v2/video/generations");
            data.Add(model, "/v2/generate/video/kling/generation");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ModelsAndRoutes))]
    public async Task EachModelOnEachRoute_IsAcceptedWithTheGatewaysOwnId(string model, string route)
    {
        var client = gateway.CreateClient();
        var response = await client.PostAsJsonAsync(route, Bodies.Minimal(model));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();

        var id = body.GetProperty("id").GetString()!;
        Assert.StartsWith("gen_", id);
        if (route == "/v1/generations")
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal($"/v1/generations/{id}", response.Headers.Location?.OriginalString);
            Assert.Equal(model, body.GetProperty("model").GetString());
            Assert.Equal("queued", body.GetProperty("status").GetString());
        }
        else
        {
            // The upstream's own create answer: {id, status: "queued"} with 200.
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("queued", body.GetProperty("status").GetString());
        }

        Assert.Equal(JsonValueKind.Array, body.GetProperty("warnings").ValueKind);
        // The upstream's id is never the caller's handle.
        var created = gateway.Simulator.Requests.Last(r => r.Method == "POST");
        Assert.Contains(model, created.Body);
    }

    [Fact]
    public async Task Create_AttachesServerKeyAndDropsCallerCredentials()
    {
        var client = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/video/generations")
        {
            Content = JsonContent.Create(Bodies.Minimal(Bodies.V1Pro, "queued=3600")),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "caller-own-secret-token");
        request.Headers.Add("Cookie", "session=caller-cookie");
        request.Headers.Add("X-Client-Request-Id", "frontend-42.a:b");

        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("frontend-42.a:b", response.Headers.GetValues("X-Client-Request-Id").Single());
        var generationId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        var forwarded = gateway.Simulator.Requests.Last(r =>
            r.Method == "POST" && r.Headers.TryGetValue("X-Client-Request-Id", out var id) && id == generationId.Replace('_', '.'));
        Assert.Equal($"Bearer {GatewayFactory.UpstreamKey}", forwarded.Headers["Authorization"]);
        Assert.DoesNotContain(forwarded.Headers, h => h.Value.Contains("caller-own-secret-token", StringComparison.Ordinal));
        Assert.DoesNotContain(forwarded.Headers, h => h.Key.Equals("Cookie", StringComparison.OrdinalIgnoreCase));

        // The key never comes back to the caller.
        var answer = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain(GatewayFactory.UpstreamKey, answer, StringComparison.Ordinal);
        Assert.DoesNotContain(response.Headers, h => h.Value.Any(v => v.Contains(GatewayFactory.UpstreamKey, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Create_WithoutClientRequestId_EchoesTheTraceId()
    {
        var client = gateway.CreateClient();
        var response = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V21Pro, "queued=3600"));
        var echoed = response.Headers.GetValues("X-Client-Request-Id").Single();

        Assert.Matches("^[0-9a-f]{32}$", echoed);
    }

    [Fact]
    public async Task EveryCreate_ReachesTheUpstreamWithAnIdOfItsOwn_NotTheCallers_SoTheUsageLogTellsCreatesApart()
    {
        var client = gateway.CreateClient();
        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generations")
            {
                Content = JsonContent.Create(Bodies.Minimal(Bodies.V1Pro, "queued=0,generating=0")),
            };
            request.Headers.Add("X-Client-Request-Id", "order-77");
            using var response = await client.SendAsync(request);
            Assert.Equal("order-77", response.Headers.GetValues("X-Client-Request-Id").Single());
            ids.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }

        await GatewayFactory.WaitUntilFinishedAsync(client, ids[0]);

        // The caller's id is echoed to the caller but never sent upstream: two creates with one caller id would be one
        // row in the upstream's usage log. Each create carries its own id (the gateway's, '_' written '.'), its fetches
        // that id with ":fetch", and the usage log holds exactly one row for each create.
        var sent = gateway.Simulator.Requests.Select(r => r.Headers.GetValueOrDefault("X-Client-Request-Id")).ToList();
        Assert.DoesNotContain("order-77", sent);
        Assert.All(ids, id => Assert.Single(gateway.Simulator.Requests, r => r.Method == "POST" && r.Headers["X-Client-Request-Id"] == id.Replace('_', '.')));
        Assert.Contains(gateway.Simulator.Requests, r => r.Method == "GET" && r.Headers["X-Client-Request-Id"] == ids[0].Replace('_', '.') + ":fetch");
        Assert.All(ids, id => Assert.Single(gateway.Simulator.UsageLog, e => e.ClientRequestId == id.Replace('_', '.')));
    }

    [Fact]
    public async Task Create_ForwardsTheBodyAsValidated()
    {
        var client = gateway.CreateClient();
        var marker = Guid.NewGuid().ToString("N");
        const string json = """
            {"model":"kling-video/v1/standard/image-to-video","prompt":"PROMPT","negative_prompt":null,
             "image_url":"https://example.com/a.jpg","duration":10,"cfg_scale":0.25,
             "camera_control":{"type":"simple","config":{"zoom":5}}}
            """;
        var response = await client.PostAsync("/v1/generations",
            new StringContent(json.Replace("PROMPT", marker + " [sim:queued=3600]"), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var forwarded = JsonDocument.Parse(gateway.Simulator.Requests.Last(r => r.Body.Contains(marker)).Body).RootElement;
        Assert.Equal("kling-video/v1/standard/image-to-video", forwarded.GetProperty("model").GetString());
        Assert.Equal(10, forwarded.GetProperty("duration").GetInt32());
        Assert.Equal(0.25, forwarded.GetProperty("cfg_scale").GetDouble());
        Assert.Equal(5, forwarded.GetProperty("camera_control").GetProperty("config").GetProperty("zoom").GetDouble());
        // null meant "not given" and is not forwarded.
        Assert.False(forwarded.TryGetProperty("negative_prompt", out _));
    }

    [Fact]
    public async Task LegacyRouteOnUniversalFamily_KeepsExternalTaskIdInTheLedgerAndDropsLegacyOnlyFields()
    {
        var client = gateway.CreateClient();
        var marker = Guid.NewGuid().ToString("N");
        var body = Bodies.Minimal(Bodies.V21Standard, "queued=3600");
        body["prompt"] = marker + " " + body["prompt"];
        body["type"] = "image-to-video";
        body["external_task_id"] = "order-77";

        var response = await client.PostAsJsonAsync("/v2/generate/video/kling/generation", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var forwarded = gateway.Simulator.Requests.Last(r => r.Body.Contains(marker));
        Assert.Equal("/v2/video/generations", forwarded.Path);
        var sent = JsonDocument.Parse(forwarded.Body).RootElement;
        Assert.False(sent.TryGetProperty("type", out _));
        Assert.False(sent.TryGetProperty("external_task_id", out _));
    }

    [Fact]
    public async Task DataUriImage_IsForwardedAsBareBase64()
    {
        var client = gateway.CreateClient();
        var marker = Guid.NewGuid().ToString("N");
        var png = Convert.ToBase64String(TestImages.Png(640, 480));
        var body = Bodies.Minimal(Bodies.V1Pro, "queued=3600");
        body["prompt"] = marker;
        body["image_url"] = "data:image/png;base64," + png;

        var response = await client.PostAsJsonAsync("/v1/generations", body);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var sent = JsonDocument.Parse(gateway.Simulator.Requests.Last(r => r.Body.Contains(marker)).Body).RootElement;
        Assert.Equal(png, sent.GetProperty("image_url").GetString());
    }

    [Fact]
    public async Task ModelConfiguredForLegacyFamily_IsCreatedAndFetchedOnTheLegacyRoute()
    {
        await using var legacy = gateway.WithWebHostBuilder(b => b.UseSetting("AimlApi:RouteFamilies:v2_master", "legacy"));
        var client = legacy.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master, "queued=0,generating=0"));
        var finished = await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);

        Assert.Equal("succeeded", finished.GetProperty("status").GetString());
        var upstreamCalls = gateway.Simulator.Requests.Where(r => r.Path == "/v2/generate/video/kling/generation").ToList();
        Assert.Contains(upstreamCalls, r => r.Method == "POST");
        Assert.Contains(upstreamCalls, r => r.Method == "GET");
        // The legacy family reports usage as tokens_used.
        Assert.True(finished.GetProperty("usage").TryGetProperty("tokens_used", out _));
    }
}
