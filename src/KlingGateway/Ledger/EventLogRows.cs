using System.Data.Common;
using System.Globalization;
using System.Text;
using KlingGateway.Events;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// The event log's reads and its pruning (<see cref="IEventLog"/>); its rows are written by <see cref="EventRecorder"/>
/// in the transaction of the change they report.
/// </summary>
internal sealed class EventLogRows(LedgerDatabase database) : IEventLog
{
    private const string EventColumns = "seq, generation_id, version, type, owner_client, owner_user, occurred_at, final, snapshot";

    public async Task<long> LatestSequenceAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MAX(seq), 0) FROM generation_events;";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    public Task<IReadOnlyList<GenerationEvent>> ReadAfterAsync(long afterSequence, int limit, CancellationToken cancellationToken) =>
        ReadEventsAsync($"SELECT {EventColumns} FROM generation_events WHERE seq > @after ORDER BY seq LIMIT @limit;",
            command =>
            {
                Add(command, "@after", afterSequence);
                Add(command, "@limit", limit);
            }, cancellationToken);

    public Task<IReadOnlyList<GenerationEvent>> ReadSequencesAsync(IReadOnlyCollection<long> sequences, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<GenerationEvent>>([]);
        }

        // Only parameters are joined: one per sequence, a bounded few.
        var names = sequences.Select((_, index) => string.Create(CultureInfo.InvariantCulture, $"@s{index}")).ToList();
        return ReadEventsAsync($"SELECT {EventColumns} FROM generation_events WHERE seq IN ({string.Join(", ", names)}) ORDER BY seq;",
            command =>
            {
                var index = 0;
                foreach (var sequence in sequences)
                {
                    Add(command, names[index++], sequence);
                }
            }, cancellationToken);
    }

    public Task<IReadOnlyList<GenerationEvent>> ReadOwnedAsync(
        GenerationOwner? owner, long afterSequence, long upToSequence, int limit, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder($"SELECT {EventColumns} FROM generation_events WHERE seq > @after AND seq <= @up_to");
        if (owner is not null)
        {
            sql.Append(owner.User is null ? " AND owner_client = @client AND owner_user IS NULL" : " AND owner_client = @client AND owner_user = @user");
        }

        sql.Append(" ORDER BY seq LIMIT @limit;");
        return ReadEventsAsync(sql.ToString(), command =>
        {
            Add(command, "@after", afterSequence);
            Add(command, "@up_to", upToSequence);
            Add(command, "@limit", limit);
            if (owner is not null)
            {
                Add(command, "@client", owner.Client);
                if (owner.User is not null)
                {
                    Add(command, "@user", owner.User);
                }
            }
        }, cancellationToken);
    }

    public Task<IReadOnlyList<GenerationEvent>> ReadGenerationAsync(string generationId, long afterVersion, int limit, CancellationToken cancellationToken) =>
        ReadEventsAsync(
            $"SELECT {EventColumns} FROM generation_events WHERE generation_id = @generation_id AND version > @after ORDER BY version LIMIT @limit;",
            command =>
            {
                Add(command, "@generation_id", generationId);
                Add(command, "@after", afterVersion);
                Add(command, "@limit", limit);
            }, cancellationToken);

    public async Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken)
    {
        return await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            var removed = 0;
            await using (var statement = database.Statement(connection, transaction, """
                DELETE FROM webhook_deliveries WHERE id IN (
                    SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < @before LIMIT @limit);
                """))
            {
                Add(statement.Command, "@before", FormatTimestamp(before));
                Add(statement.Command, "@limit", limit);
                removed += await statement.Command.ExecuteNonQueryAsync(token);
            }

            // An event a kept delivery refers to stays, however old: a delivery (or its redelivery) renders it.
            await using (var statement = database.Statement(connection, transaction, """
                DELETE FROM generation_events WHERE seq IN (
                    SELECT e.seq FROM generation_events e
                    WHERE e.occurred_at < @before
                      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = e.seq)
                    ORDER BY e.seq LIMIT @limit);
                """))
            {
                Add(statement.Command, "@before", FormatTimestamp(before));
                Add(statement.Command, "@limit", limit);
                removed += await statement.Command.ExecuteNonQueryAsync(token);
            }

            return removed;
        }, cancellationToken);
    }

    private async Task<IReadOnlyList<GenerationEvent>> ReadEventsAsync(string sql, Action<DbCommand> parameters, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        parameters(command);
        var events = new List<GenerationEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(ReadEvent(reader, 0));
        }

        return events;
    }

    /// <summary>An event from <see cref="EventColumns"/>, starting at <paramref name="first"/>.</summary>
    private static GenerationEvent ReadEvent(DbDataReader reader, int first) => new(
        Convert.ToInt64(reader.GetValue(first), CultureInfo.InvariantCulture),
        reader.GetString(first + 1),
        Convert.ToInt64(reader.GetValue(first + 2), CultureInfo.InvariantCulture),
        reader.GetString(first + 3),
        reader.GetString(first + 4),
        GetStringOrNull(reader, first + 5),
        ParseTimestamp(reader.GetString(first + 6)),
        Convert.ToInt64(reader.GetValue(first + 7), CultureInfo.InvariantCulture) != 0,
        EventSnapshot.Deserialize(reader.GetString(first + 8)));
}
