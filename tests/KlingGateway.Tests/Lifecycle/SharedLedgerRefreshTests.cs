using KlingGateway.Tests.Generations;

namespace KlingGateway.Tests.Lifecycle;

/// <summary>
/// Two gateway hosts on one PostgreSQL ledger and one upstream: however many read, and on whichever host, each
/// generation is fetched once per interval in total (the claim is one conditional update of its ledger row).
/// </summary>
public sealed class SharedLedgerRefreshTests : IAsyncLifetime
{
    private readonly SharedLedgerHosts _hosts = new();

    public Task InitializeAsync() => _hosts.InitializeAsync();

    public Task DisposeAsync() => _hosts.DisposeAsync();

    [PostgresFact]
    public async Task FiftyInFlight_ReadersOnBothHosts_OneFetchPerGenerationPerInterval()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Ledger:Provider"] = "postgres",
            ["Ledger:ConnectionString"] = _hosts.Database!.ConnectionString,
            ["Generations:StatusRefreshInterval"] = "00:00:01",
        };
        var first = new GatewayFactory(settings);
        await first.InitializeAsync();
        _hosts.Add(first);
        // Replicas call one upstream: the second uses the first one's simulator (its own stays idle).
        settings["AimlApi:BaseUrl"] = first.SimulatorAddress;
        var second = new GatewayFactory(settings);
        await second.InitializeAsync();
        _hosts.Add(second);
        var clients = new[] { first.CreateClient(), second.CreateClient() };

        var ids = new List<string>();
        for (var i = 0; i < 50; i++)
        {
            var host = i % 2 == 0 ? first : second;
            ids.Add((await host.CreateAsync(clients[i % 2], Bodies.Minimal(Bodies.V1Standard, "queued=3600"))).GetProperty("id").GetString()!);
        }

        var upstreamIds = new List<string>();
        foreach (var id in ids)
        {
            upstreamIds.Add((string)(await _hosts.Database.ScalarAsync($"SELECT upstream_id FROM generations WHERE id = '{id}';"))!);
        }

        first.Simulator.Clear();
        var started = DateTime.UtcNow;
        var until = started.AddSeconds(6);
        // Eight readers on each host, each reading every generation in turn as fast as it is answered.
        var reads = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async reader =>
        {
            var client = clients[reader % 2];
            for (var n = reader; DateTime.UtcNow < until; n++)
            {
                using var response = await client.GetAsync($"/v1/generations/{ids[n % ids.Count]}");
                Assert.True(response.IsSuccessStatusCode, $"a read answered {(int)response.StatusCode}");
                Interlocked.Increment(ref reads);
            }
        }));
        var elapsed = DateTime.UtcNow - started;

        var counts = upstreamIds.Select(first.Simulator.FetchCount).ToList();
        var allowed = (int)Math.Floor(elapsed.TotalSeconds) + 1;
        Assert.True(reads > 200, $"only {reads} reads");
        Assert.All(counts, n => Assert.InRange(n, 2, allowed));
        Assert.Equal(0, second.Simulator.FetchTotal);
    }
}
