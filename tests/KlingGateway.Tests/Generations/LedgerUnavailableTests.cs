using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Generations;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace KlingGateway.Tests.Generations;

/// <summary>A ledger that cannot serve for a while is a 503 the caller can retry, never a 500.</summary>
public sealed class LedgerUnavailableTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task LedgerLockedByAnotherProcess_CreateIs503WithRetryAfter_ThenServedOnceFree()
    {
        var client = gateway.CreateClient();
        await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro));

        // Another process holds the file's write lock longer than the ledger's busy timeout.
        await using (var holder = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = gateway.LedgerPath, Pooling = false }.ToString()))
        {
            await holder.OpenAsync();
            await using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE;";
                await begin.ExecuteNonQueryAsync();
            }

            using var refused = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro));

            var text = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)refused.StatusCode}: {text}");
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Equal("ledger_unavailable", JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
            Assert.Equal(TimeSpan.FromSeconds(LedgerUnavailable.RetryAfterSeconds), refused.Headers.RetryAfter?.Delta);

            await using var rollback = holder.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            await rollback.ExecuteNonQueryAsync();
        }

        await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro));
    }

    public static TheoryData<Exception, bool> Faults() => new()
    {
        { new SqliteException("database is locked", 5), true },
        { new SqliteException("database or disk is full", 13), true },
        { new SqliteException("disk I/O error", 10 | (4 << 8)), true },
        { new SqliteException("no such table: generations", 1), false },
        { new PostgresException("sorry, too many clients already", "FATAL", "FATAL", "53300"), true },
        { new PostgresException("the database system is starting up", "FATAL", "FATAL", "57P03"), true },
        { new PostgresException("relation \"generations\" does not exist", "ERROR", "ERROR", "42P01"), false },
        { new NpgsqlException("The connection pool has been exhausted", new TimeoutException()), true },
        { new InvalidOperationException("wrapped", new SqliteException("database is locked", 5)), true },
        { new InvalidOperationException("a bug"), false },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void OnlyALedgerThatCannotServeNow_IsUnavailable(Exception exception, bool unavailable) =>
        Assert.Equal(unavailable, LedgerUnavailable.Is(exception));
}
