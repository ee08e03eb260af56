using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Tests.Generations;
using static KlingGateway.Tests.Access.AccessHosts;

namespace KlingGateway.Tests.Access;

/// <summary>Keys rotated without a restart, and two gateway replicas holding limits together through one PostgreSQL.</summary>
public sealed class SharedLedgerAndRotationTests : IAsyncLifetime
{
    private readonly SharedLedgerHosts _hosts = new();

    public Task InitializeAsync() => _hosts.InitializeAsync();

    public Task DisposeAsync() => _hosts.DisposeAsync();

    [Fact]
    public async Task KeyRotation_ThroughTheWatchedClientsFile_TakesEffectWithoutARestart()
    {
        const string oldKey = "gamma-old-key-6e2b9d01c4f7a835";
        const string newKey = "gamma-new-key-93ad5f0e7b2c4168";
        var directory = Path.Combine(Path.GetTempPath(), "kling-clients-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "clients.json");
        WriteClients(file, Hash(oldKey));
        var gateway = await StartAsync(Settings(("Auth:ClientsFile", file)));
        _hosts.Add(gateway);

        Assert.Equal(200, (await SendAsync(Client(gateway, oldKey), HttpMethod.Get, "/v1/usage")).Status);
        Assert.Equal(401, (await SendAsync(Client(gateway, newKey), HttpMethod.Get, "/v1/usage")).Status);

        // Step 1 of a rotation: both hashes; step 2: the new one only. Each file is replaced atomically.
        WriteClients(file, Hash(oldKey), Hash(newKey));
        await WaitForStatusAsync(gateway, newKey, 200);
        Assert.Equal(200, (await SendAsync(Client(gateway, oldKey), HttpMethod.Get, "/v1/usage")).Status);
        WriteClients(file, Hash(newKey));
        await WaitForStatusAsync(gateway, oldKey, 401);

        var usage = await SendAsync(Client(gateway, newKey), HttpMethod.Get, "/v1/usage");
        Assert.Equal("gamma", usage.Body.GetProperty("client").GetString());
        Directory.Delete(directory, recursive: true);
    }

    [PostgresFact]
    public async Task TwoReplicasOnOnePostgres_NeverOverspendADailyBudget()
    {
        var (first, second) = await TwoReplicasAsync(("Auth:Clients:alpha:DailyVideoSeconds", "25"));

        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            CreateAsync(Client(i % 2 == 0 ? first : second, AlphaKey), Body(directives: "create-delay=0.2"))));

        Assert.Equal(5, answers.Count(a => a.Status == 202));
        Assert.Equal(7, answers.Count(a => a.Status == 429));
        Assert.Equal(5, first.Simulator.CreateCount + second.Simulator.CreateCount);
        var usage = await Client(second, AlphaKey).GetFromJsonAsync<JsonElement>("/v1/usage");
        Assert.Equal(25, usage.GetProperty("today").GetProperty("video_seconds").GetInt32());
        Assert.Equal(0, usage.GetProperty("today").GetProperty("remaining_video_seconds").GetInt32());
    }

    [PostgresFact]
    public async Task TwoReplicasOnOnePostgres_OneIdempotencyKeyCreatesOneGeneration()
    {
        var (first, second) = await TwoReplicasAsync();
        var body = Body(directives: "create-delay=0.5");

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            CreateAsync(Client(i % 2 == 0 ? first : second, AlphaKey), body, "checkout-42")));

        Assert.All(answers, a => Assert.Equal(202, a.Status));
        Assert.Single(answers.Select(a => a.Body.GetProperty("id").GetString()).Distinct());
        Assert.Equal(1, first.Simulator.CreateCount + second.Simulator.CreateCount);
        var id = answers[0].Body.GetProperty("id").GetString();
        Assert.Equal(200, (await SendAsync(Client(second, AlphaKey), HttpMethod.Get, $"/v1/generations/{id}")).Status);
        Assert.Equal(404, (await SendAsync(Client(first, BetaKey), HttpMethod.Get, $"/v1/generations/{id}")).Status);
    }

    private async Task<(GatewayFactory First, GatewayFactory Second)> TwoReplicasAsync(params (string Key, string? Value)[] extra)
    {
        var settings = Settings([("Ledger:Provider", "postgres"), ("Ledger:ConnectionString", _hosts.Database!.ConnectionString), .. extra]);
        var first = await StartAsync(settings);
        _hosts.Add(first);
        // Replicas call one upstream: the second uses the first one's simulator (its own stays idle).
        settings["AimlApi:BaseUrl"] = first.SimulatorAddress;
        var second = await StartAsync(settings);
        _hosts.Add(second);
        return (first, second);
    }

    private static void WriteClients(string file, params string[] hashes)
    {
        var temporary = file + ".new";
        File.WriteAllText(temporary, JsonSerializer.Serialize(new { Auth = new { Clients = new { gamma = new { KeyHashes = hashes } } } }));
        File.Move(temporary, file, overwrite: true);
    }

    /// <summary>Polls until the key gets the status; the file watcher reports changes a moment after they land.</summary>
    private static async Task WaitForStatusAsync(GatewayFactory gateway, string key, int status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await SendAsync(Client(gateway, key), HttpMethod.Get, "/v1/usage")).Status != status)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the key did not get {status} after the clients file changed");
            await Task.Delay(100);
        }
    }
}
