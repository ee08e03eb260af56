using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace KlingGateway.Tests.Generations;

/// <summary>GET /v1/generations: newest first, filters, cursor pages, and clear answers for bad queries.</summary>
public sealed class ListTests : IAsyncLifetime
{
    // A ledger of its own, so the counts below are exact.
    private readonly GatewayFactory _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)_gateway).DisposeAsync();

    [Fact]
    public async Task Pages_WalkEveryGenerationNewestFirstWithoutGapsOrRepeats()
    {
        var client = _gateway.CreateClient();
        var created = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            var model = i % 2 == 0 ? Bodies.V1Pro : Bodies.V21Standard;
            created.Add((await _gateway.CreateAsync(client, Bodies.Minimal(model, "queued=3600"))).GetProperty("id").GetString()!);
        }

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await client.GetFromJsonAsync<JsonElement>($"/v1/generations?limit=3{(cursor is null ? "" : $"&cursor={cursor}")}");
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(g => g.GetProperty("id").GetString()!));
            cursor = page.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
            pages++;
        }
        while (cursor is not null && pages < 10);

        created.Reverse();
        Assert.Equal(created, seen);
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task Filters_SelectByModelAndStatus()
    {
        var client = _gateway.CreateClient();
        var v2 = (await _gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master, "queued=3600"))).GetProperty("id").GetString();
        var rejected = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Standard, "create=400"));
        var failed = (await rejected.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("generation_id").GetString();

        var byModel = await client.GetFromJsonAsync<JsonElement>($"/v1/generations?model={Uri.EscapeDataString(Bodies.V2Master)}");
        Assert.All(byModel.GetProperty("items").EnumerateArray(), g => Assert.Equal(Bodies.V2Master, g.GetProperty("model").GetString()));
        Assert.Contains(byModel.GetProperty("items").EnumerateArray(), g => g.GetProperty("id").GetString() == v2);

        var byStatus = await client.GetFromJsonAsync<JsonElement>("/v1/generations?status=failed");
        Assert.Equal(new[] { failed }, byStatus.GetProperty("items").EnumerateArray().Select(g => g.GetProperty("id").GetString()).ToArray());
    }

    [Theory]
    [InlineData("status=done", "status")]
    [InlineData("model=kling-video/v9", "model")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=101", "limit")]
    [InlineData("cursor=not-a-cursor", "cursor")]
    public async Task BadQuery_Is400NamingTheParameter(string query, string field)
    {
        var response = await _gateway.CreateClient().GetAsync($"/v1/generations?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"no error for {field}");
        Assert.False(string.IsNullOrWhiteSpace(messages[0].GetString()));
    }
}
