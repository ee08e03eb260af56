using System.Data.Common;
using System.Globalization;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// The writes of a generation's row: its insert, every change after it (the create's answer, refreshes, the watchdog,
/// downloads, retention, settlement), the claims that lease a row to one refresher or downloader, and the gateway's
/// secrets. A change a caller can see records its event in the same transaction (<see cref="EventRecorder"/>).
/// </summary>
internal sealed class GenerationChanges(LedgerDatabase database, EventRecorder events)
{
    // Claims: one conditional update each, so of two readers, workers or replicas asking at once exactly one gets the row.
    private const string Due = "next_refresh_at IS NOT NULL AND next_refresh_at <= @now";
    private const string DownloadDue = "video_state = 'pending' AND video_next_attempt_at <= @now";

    public async Task InsertAsync(Generation generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);

        await database.WriteAsync(null, async (connection, transaction, token) =>
        {
            await using var statement = database.Statement(connection, transaction, GenerationRows.InsertSql);
            var command = statement.Command;
            GenerationRows.AddParameters(command, generation);
            return await command.ExecuteNonQueryAsync(token);
        }, cancellationToken);
    }

    public async Task UpdateAsync(Generation generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);

        await RecordChangeAsync(new GenerationChange(GenerationChangeKind.Updated, generation, ExpectedVersion: null), cancellationToken);
    }

    /// <summary>
    /// The one place a generation's change after its create is written (the create's answer, refreshes, the watchdog,
    /// downloads, retention): one transaction (<see cref="LedgerDatabase.WriteTransactionAsync{T}"/>) with the update and, for a
    /// change a caller can see, its event and webhook deliveries (<see cref="EventRecorder"/>), so they commit with the
    /// change or not at all. After the commit, this process's readers of the event log are woken.
    /// </summary>
    public async Task<Generation?> RecordChangeAsync(GenerationChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);

        // The event is made before the write: the writer's transaction (one for every writer of a SQLite file) only inserts it.
        var pending = change.IsVisible ? EventRecorder.EventOf(change.Kind, change.Generation) : null;
        var written = await database.WriteTransactionAsync(
            (connection, transaction, token) => WriteChangeAsync(connection, transaction, change, token, pending), cancellationToken);
        if (written is not null && pending is not null)
        {
            events.Committed(deliveries: events.HasDeliveries(change.Generation, pending));
        }

        return written;
    }

    /// <summary>
    /// The statement of <see cref="RecordChangeAsync"/>, on a write's connection and transaction: every change of a
    /// generation after its create ends here, the interrupted creates and billing the settlement worker settles
    /// included. After the update, on the same connection and transaction, a visible change's event and webhook deliveries
    /// are inserted (<paramref name="pending"/>, made before the write, or here when the change was computed inside the
    /// transaction); the returned generation carries the version it took, which is the event's.
    /// </summary>
    public async Task<Generation?> WriteChangeAsync(
        DbConnection connection, DbTransaction? transaction, GenerationChange change, CancellationToken cancellationToken,
        PendingEvent? pending = null)
    {
        var generation = change.Generation;
        // Only what the upstream's answers and the lifecycle change. What the create fixed (model, owner, price,
        // request, created_at) stays as inserted: created_at orders the list and keys the cursor, and leaving the
        // model and owner out spares their indexes a rewrite on every status change.
        await using var statement = database.Statement(connection, transaction, change.ExpectedVersion is null ? GenerationRows.UpdateSql : GenerationRows.UpdateIfVersionSql);
        var command = statement.Command;
        GenerationRows.AddOutcomeParameters(command, generation);
        Add(command, "@version_step", change.IsVisible ? 1 : 0);
        if (change.ExpectedVersion is { } expected)
        {
            Add(command, "@expected_version", expected);
        }

        var version = await command.ExecuteScalarAsync(cancellationToken);
        if (version is null or DBNull)
        {
            if (change.ExpectedVersion is null)
            {
                throw new KeyNotFoundException($"The ledger has no generation {generation.Id} to update.");
            }

            return null;
        }

        var written = generation with { Version = Convert.ToInt64(version, CultureInfo.InvariantCulture) };
        if (change.IsVisible)
        {
            // The event log and the webhook outbox: in this transaction, so they commit with the change or not at all.
            await events.RecordAsync(connection, transaction, written, written.Version, pending ?? EventRecorder.EventOf(change.Kind, generation), cancellationToken);
        }

        return written;
    }

    /// <summary>The generation as this write's transaction sees it, or <see langword="null"/>.</summary>
    public async Task<Generation?> FindForChangeAsync(DbConnection connection, DbTransaction? transaction, string id, CancellationToken cancellationToken)
    {
        await using var statement = database.Statement(connection, transaction, GenerationRows.SelectColumns + "\nWHERE id = @id;");
        Add(statement.Command, "@id", id);
        await using var reader = await statement.Command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? GenerationRows.Read(reader) : null;
    }

    public async Task<Generation?> ClaimRefreshAsync(string id, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);

        var claimed = await ClaimAsync($"UPDATE generations SET next_refresh_at = @lease_until WHERE id = @id AND {Due}\nRETURNING {GenerationRows.Columns};",
            command =>
            {
                Add(command, "@id", id);
                Add(command, "@now", FormatTimestamp(now));
                Add(command, "@lease_until", FormatTimestamp(leaseUntil));
            }, cancellationToken);
        return claimed.Count == 0 ? null : claimed[0];
    }

    public Task<IReadOnlyList<Generation>> ClaimDueRefreshesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        ClaimDueAsync($"""
            UPDATE generations SET next_refresh_at = @lease_until
            WHERE id IN (SELECT id FROM generations WHERE {Due} ORDER BY next_refresh_at LIMIT @limit {database.SkipLocked})
              AND {Due}
            RETURNING {GenerationRows.Columns};
            """,
            now, leaseUntil, limit, cancellationToken);

    public Task<IReadOnlyList<Generation>> ClaimDueDownloadsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        ClaimDueAsync($"""
            UPDATE generations SET video_next_attempt_at = @lease_until, video_attempts = video_attempts + 1
            WHERE id IN (SELECT id FROM generations WHERE {DownloadDue} ORDER BY video_next_attempt_at LIMIT @limit {database.SkipLocked})
              AND {DownloadDue}
            RETURNING {GenerationRows.Columns};
            """,
            now, leaseUntil, limit, cancellationToken);

    public async Task<string> GetOrAddSecretAsync(string name, string candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(candidate);

        return await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            // The primary key decides between replicas starting at once: the first insert wins, every one reads it.
            await using (var statement = database.Statement(connection, transaction,
                "INSERT INTO gateway_secrets (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING;"))
            {
                Add(statement.Command, "@name", name);
                Add(statement.Command, "@value", candidate);
                await statement.Command.ExecuteNonQueryAsync(token);
            }

            await using var read = database.Statement(connection, transaction, "SELECT value FROM gateway_secrets WHERE name = @name;");
            Add(read.Command, "@name", name);
            return (string)(await read.Command.ExecuteScalarAsync(token))!;
        }, cancellationToken);
    }

    /// <summary>A claim of at most <paramref name="limit"/> rows due at <paramref name="now"/>, leased until <paramref name="leaseUntil"/>.</summary>
    private Task<IReadOnlyList<Generation>> ClaimDueAsync(
        string sql, DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        ClaimAsync(sql, command =>
        {
            Add(command, "@now", FormatTimestamp(now));
            Add(command, "@lease_until", FormatTimestamp(leaseUntil));
            Add(command, "@limit", limit);
        }, cancellationToken);

    private async Task<IReadOnlyList<Generation>> ClaimAsync(string sql, Action<DbCommand> parameters, CancellationToken cancellationToken) =>
        await database.WriteTransactionAsync<IReadOnlyList<Generation>>(async (connection, transaction, token) =>
        {
            await using var statement = database.Statement(connection, transaction, sql);
            parameters(statement.Command);
            var claimed = new List<Generation>();
            await using var reader = await statement.Command.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
            {
                claimed.Add(GenerationRows.Read(reader));
            }

            return claimed;
        }, cancellationToken);
}
