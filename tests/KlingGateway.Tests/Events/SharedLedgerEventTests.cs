using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Tests.Generations;
using Npgsql;

namespace KlingGateway.Tests.Events;

/// <summary>
/// Event streams on a PostgreSQL ledger shared by replicas: an event raised on one reaches a subscriber on another
/// (NOTIFY on the ledger's channel), and a sequence number taken by a transaction that has not committed yet holds the
/// later events back, so a stream's ids never skip one that commits late.
/// </summary>
public sealed class SharedLedgerEventTests : IAsyncLifetime
{
    private readonly SharedLedgerHosts _hosts = new();

    public Task InitializeAsync() => _hosts.InitializeAsync();

    public Task DisposeAsync() => _hosts.DisposeAsync();

    private async Task<(GatewayFactory Gateway, HttpClient Client)> StartAsync(string? upstream = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Ledger:Provider"] = "postgres",
            ["Ledger:ConnectionString"] = _hosts.Database!.ConnectionString,
        };
        if (upstream is not null)
        {
            settings["AimlApi:BaseUrl"] = upstream;
        }

        var started = await LiveGateway.StartAsync(settings);
        _hosts.Add(started.Gateway);
        return started;
    }

    [PostgresFact]
    public async Task AnEventRaisedOnOneReplica_ReachesSubscribersOnTheOther()
    {
        var (first, firstClient) = await StartAsync();
        var (second, secondClient) = await StartAsync(upstream: first.SimulatorAddress);
        await Lifecycle.LifecycleHelpers.LogWithAsync(second, "\"EventId\":{\"Id\":9010");

        await using var all = await EventStreamClient.OpenAsync(secondClient, "/v1/generations/events");
        // The admission's generation.queued is raised by the replica that took the create, and by no other.
        var id = (await first.CreateAsync(firstClient, Bodies.Minimal(Bodies.V1Standard, "queued=3600"))).GetProperty("id").GetString()!;
        var arrived = await all.NextAsync();

        Assert.Equal("generation.queued", arrived!.Name);
        Assert.Equal(id, arrived.Resource.GetProperty("id").GetString());
        // And the one-generation stream on the other replica is the same resource the first replica answers.
        await using var one = await EventStreamClient.OpenAsync(secondClient, $"/v1/generations/{id}/events");
        var current = await one.NextAsync();
        EventStreamTests.AssertSameResource(await firstClient.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}"), current!.Resource);
    }

    [PostgresFact]
    public async Task ASequenceNumberNotCommittedYet_HoldsLaterEventsBack_UntilItCommits()
    {
        var (gateway, client) = await StartAsync();
        var id = (await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard, "queued=3600"))).GetProperty("id").GetString()!;
        var snapshot = (string)(await _hosts.Database!.ScalarAsync($"SELECT snapshot FROM generation_events WHERE generation_id = '{id}' LIMIT 1;"))!;
        await using var all = await EventStreamClient.OpenAsync(client, "/v1/generations/events");

        // Two writers: the first takes its number and has not committed when the second, with the next number, commits
        // and notifies.
        await using var slow = new NpgsqlConnection(_hosts.Database.ConnectionString);
        await slow.OpenAsync();
        await using var slowTransaction = await slow.BeginTransactionAsync();
        var early = await InsertEventAsync(slow, slowTransaction, id, 100, snapshot);
        await using var quick = new NpgsqlConnection(_hosts.Database.ConnectionString);
        await quick.OpenAsync();
        var later = await InsertEventAsync(quick, null, id, 101, snapshot);
        Assert.Equal(early + 1, later);

        // Held back while the earlier number may still commit (well inside the hub's wait for it).
        await Assert.ThrowsAsync<Xunit.Sdk.XunitException>(() => all.NextAsync(TimeSpan.FromSeconds(1)));

        await slowTransaction.CommitAsync();
        var first = await all.NextAsync();
        var second = await all.NextAsync();

        Assert.Equal(early.ToString(System.Globalization.CultureInfo.InvariantCulture), first!.Id);
        Assert.Equal(later.ToString(System.Globalization.CultureInfo.InvariantCulture), second!.Id);
    }

    private async Task<long> InsertEventAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string id, long version, string snapshot)
    {
        await using var command = new NpgsqlCommand("""
            INSERT INTO generation_events (generation_id, version, type, owner_client, owner_user, occurred_at, final, snapshot)
            VALUES (@id, @version, 'generation.queued', 'anonymous', NULL, @at, 0, @snapshot) RETURNING seq;
            """, connection, transaction);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("at", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("snapshot", snapshot);
        var sequence = (long)(await command.ExecuteScalarAsync())!;
        await using var notify = new NpgsqlCommand(
            $"SELECT pg_notify('kling_gateway_events:{_hosts.Database!.Schema}', '{sequence}');", connection, transaction);
        await notify.ExecuteNonQueryAsync();
        return sequence;
    }
}
