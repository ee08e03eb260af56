using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace KlingGateway.Tests.Generations;

/// <summary>Many pollers, one upstream fetch.</summary>
public sealed class PollingTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task HundredConcurrentReads_ShareOneUpstreamFetch()
    {
        await using var host = gateway.WithWebHostBuilder(b =>
            b.UseSetting("Generations:StatusRefreshInterval", "00:00:02"));
        var client = host.CreateClient();
        // The fetch takes a second upstream, so every reader arrives while it is in flight (or starts it).
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master, "queued=3600,fetch-delay=1"));
        var id = created.GetProperty("id").GetString()!;
        var upstreamId = await gateway.UpstreamIdAsync(id);
        var before = gateway.Simulator.FetchCount(upstreamId);
        // Due two seconds after the create: the worker or the first reader claims it, and everyone shares that fetch.
        await Task.Delay(2100);

        var reads = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => client.GetAsync($"/v1/generations/{id}")));

        Assert.All(reads, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var statuses = await Task.WhenAll(reads.Select(r => r.Content.ReadFromJsonAsync<JsonElement>()));
        Assert.All(statuses, s => Assert.Equal("queued", s.GetProperty("status").GetString()));
        Assert.Equal(1, gateway.Simulator.FetchCount(upstreamId) - before);
    }

    [Fact]
    public async Task ReadsWithinTheInterval_AreAnsweredFromTheLedger()
    {
        await using var host = gateway.WithWebHostBuilder(b =>
            b.UseSetting("Generations:StatusRefreshInterval", "00:10:00"));
        var client = host.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard, "queued=3600"));
        var upstreamId = await gateway.UpstreamIdAsync(created.GetProperty("id").GetString()!);
        var before = gateway.Simulator.FetchCount(upstreamId);

        for (var i = 0; i < 20; i++)
        {
            var read = await client.GetAsync($"/v2/video/generations?generation_id={created.GetProperty("id").GetString()}");
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        Assert.Equal(before, gateway.Simulator.FetchCount(upstreamId));
    }
}
