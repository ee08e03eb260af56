using System.Net.Http.Json;
using System.Text.Json;

namespace KlingGateway.Tests.Generations;

/// <summary>A restart loses nothing: a new host on the same ledger file knows every generation.</summary>
public sealed class LedgerRestartTests
{
    [Fact]
    public async Task GenerationsSurviveARestart()
    {
        var ledger = Path.Combine(Path.GetTempPath(), "kling-gateway-tests", $"restart-{Guid.NewGuid():N}.db");
        var settings = new Dictionary<string, string?> { ["Ledger:Path"] = ledger };
        string finishedId, runningId;

        var first = new GatewayFactory(settings);
        {
            await first.InitializeAsync();
            var client = first.CreateClient();
            finishedId = (await first.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "queued=0,generating=0"))).GetProperty("id").GetString()!;
            await GatewayFactory.WaitUntilFinishedAsync(client, finishedId);
            runningId = (await first.CreateAsync(client, Bodies.Minimal(Bodies.V21Pro, "queued=3600"))).GetProperty("id").GetString()!;
            await ((IAsyncLifetime)first).DisposeAsync();
        }

        var second = new GatewayFactory(settings);
        await second.InitializeAsync();
        var restarted = second.CreateClient();

        // The finished one is answered from the ledger: no upstream is asked about it. The running one is picked up
        // from the ledger alone: the background worker asks about it again, with nobody reading it.
        var finished = await restarted.GetFromJsonAsync<JsonElement>($"/v1/generations/{finishedId}");
        Assert.Equal("succeeded", finished.GetProperty("status").GetString());
        Assert.StartsWith("http", finished.GetProperty("video").GetProperty("url").GetString());
        var runningUpstreamId = await second.UpstreamIdAsync(runningId);
        var askedDeadline = DateTime.UtcNow.AddSeconds(20);
        while (second.Simulator.Requests.Count == 0 && DateTime.UtcNow < askedDeadline)
        {
            await Task.Delay(50);
        }

        Assert.NotEmpty(second.Simulator.Requests);
        Assert.All(second.Simulator.Requests, r => Assert.Equal($"?generation_id={runningUpstreamId}", r.QueryString));

        var listed = await restarted.GetFromJsonAsync<JsonElement>("/v1/generations");
        var ids = listed.GetProperty("items").EnumerateArray().Select(g => g.GetProperty("id").GetString()).ToList();
        Assert.Equal([runningId, finishedId], ids);

        await ((IAsyncLifetime)second).DisposeAsync();
        File.Delete(ledger);
    }
}
