using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using KlingGateway.Simulator;

namespace KlingGateway.Tests.Simulator;

/// <summary>The simulated usage log, GET /v2/logs: the upstream's shape, filters, paging, errors and limit.</summary>
public sealed class UsageLogTests : IAsyncLifetime
{
    private const string Key = "usage-log-test-key";
    private Microsoft.AspNetCore.Builder.WebApplication? _app;
    private HttpClient? _client;

    private HttpClient Client => _client!;

    private SimulatorState State => (SimulatorState)_app!.Services.GetService(typeof(SimulatorState))!;

    public async Task InitializeAsync() => (_app, _client) = await SimulatorFixture.StartAsync(new SimulatorOptions { ApiKey = Key });

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        await _app!.DisposeAsync();
    }

    [Fact]
    public async Task EachCreateAndFetch_IsOneRow_NewestFirst_WithItsClientRequestIdAndCost()
    {
        var billed = await CreateAsync("queued=3600", "order.1", duration: "10");
        await CreateAsync("create=429", "order.2");
        await CreateAsync("create=400,log=omit", "order.3");
        using (var fetch = SimulatorFixture.FetchRequest(billed, key: Key))
        {
            fetch.Headers.Add("X-Client-Request-Id", "order.1:fetch");
            (await Client.SendAsync(fetch)).Dispose();
        }

        var page = await ReadAsync("period=24h");
        var rows = page["data"]!.AsArray().Select(r => r!.AsObject()).ToList();

        Assert.Equal(["order.1:fetch", "order.2", "order.1"], rows.Select(r => r["client_request_id"]!.GetValue<string>()));
        var create = rows[2];
        Assert.Equal("succeeded", create["status"]!.GetValue<string>());
        Assert.Equal(1.0m, create["cost"]!["usd"]!.GetValue<decimal>());
        Assert.Equal(2_000_000, create["cost"]!["credits"]!.GetValue<long>());
        Assert.Equal(billed, create["inference_id"]!.GetValue<string>());
        Assert.Equal("api", create["origin"]!.GetValue<string>());
        Assert.Equal(SimulatorFixture.V1Standard, create["model"]!.GetValue<string>());
        foreach (var member in new[] { "created", "tokens", "request_id" })
        {
            Assert.NotNull(create[member]);
        }

        Assert.Equal("failed", rows[1]["status"]!.GetValue<string>());
        Assert.Equal(0m, rows[1]["cost"]!["usd"]!.GetValue<decimal>());
        Assert.Equal(0m, rows[0]["cost"]!["usd"]!.GetValue<decimal>());
        Assert.Equal(3, page["pagination"]!["total"]!.GetValue<int>());
        Assert.False(page["pagination"]!["has_more"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Pages_FilterByStatusAndWindow()
    {
        for (var i = 0; i < 5; i++)
        {
            await CreateAsync("create=503", $"r.{i}");
        }

        var first = await ReadAsync("period=1h&status=failed&limit=2");
        var last = await ReadAsync("period=1h&status=failed&limit=2&offset=4");
        var succeeded = await ReadAsync("period=1h&status=succeeded");
        var future = DateTimeOffset.UtcNow.AddHours(1);
        var none = await ReadAsync($"start={Uri.EscapeDataString(future.ToString("o"))}&end={Uri.EscapeDataString(future.AddHours(1).ToString("o"))}");

        Assert.Equal(["r.4", "r.3"], first["data"]!.AsArray().Select(r => r!["client_request_id"]!.GetValue<string>()));
        Assert.True(first["pagination"]!["has_more"]!.GetValue<bool>());
        Assert.Equal(["r.0"], last["data"]!.AsArray().Select(r => r!["client_request_id"]!.GetValue<string>()));
        Assert.False(last["pagination"]!["has_more"]!.GetValue<bool>());
        Assert.Empty(succeeded["data"]!.AsArray());
        Assert.Empty(none["data"]!.AsArray());
    }

    [Theory]
    [InlineData("")]
    [InlineData("period=24h&start=2026-11-01T00:00:00Z&end=2026-11-02T00:00:00Z")]
    [InlineData("start=2026-11-01T00:00:00Z")]
    [InlineData("period=24x")]
    [InlineData("start=2026-11-02T00:00:00Z&end=2026-11-01T00:00:00Z")]
    [InlineData("start=2026-01-01T00:00:00Z&end=2026-11-01T00:00:00Z")]
    [InlineData("period=24h&status=succeeded,failed")]
    [InlineData("period=24h&limit=101")]
    [InlineData("period=24h&offset=-1")]
    public async Task AQueryTheUpstreamRefuses_Is400(string query)
    {
        using var response = await Client.SendAsync(LogRequest(query));

        Assert.Equal(400, (int)response.StatusCode);
    }

    [Fact]
    public async Task WithoutTheKey401_OverTheLimit429_AndAnInjectedFault()
    {
        using var anonymous = await Client.SendAsync(LogRequest("period=24h", key: null));
        Assert.Equal(401, (int)anonymous.StatusCode);

        State.UsageLogFault = 503;
        using (var failing = await Client.SendAsync(LogRequest("period=24h")))
        {
            Assert.Equal(503, (int)failing.StatusCode);
        }

        State.UsageLogFault = null;
        var statuses = new List<int>();
        for (var i = 0; i < UsageLogApi.RequestsPerWindow; i++)
        {
            using var response = await Client.SendAsync(LogRequest("period=24h"));
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal(UsageLogApi.RequestsPerWindow - 1, statuses.Count(s => s == 200));
        Assert.Equal(429, statuses[^1]);
    }

    private async Task<string> CreateAsync(string directives, string clientRequestId, string duration = "5")
    {
        var body = SimulatorFixture.Body(prompt: $"a cat [sim:{directives}]");
        body["duration"] = duration;
        using var request = SimulatorFixture.CreateRequest(body, key: Key);
        request.Headers.Add("X-Client-Request-Id", clientRequestId);
        using var response = await Client.SendAsync(request);
        return response.IsSuccessStatusCode ? (await SimulatorFixture.ReadJsonAsync(response))["id"]!.GetValue<string>() : "";
    }

    private async Task<JsonObject> ReadAsync(string query)
    {
        using var response = await Client.SendAsync(LogRequest(query));
        Assert.Equal(200, (int)response.StatusCode);
        return await SimulatorFixture.ReadJsonAsync(response);
    }

    private static HttpRequestMessage LogRequest(string query, string? key = Key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v2/logs?" + query);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }
}
