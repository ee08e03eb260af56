using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace KlingGateway.Generations;

/// <summary>
/// The ledger's SQL, shared by the SQLite and PostgreSQL stores: both take <c>@name</c> parameters,
/// <c>ON CONFLICT DO NOTHING</c> and row-value comparisons, so only the schema, connections and the per-client
/// admission lock differ (<see cref="SqliteGenerationStore"/>, <see cref="PostgresGenerationStore"/>).
/// </summary>
/// <remarks>
/// Timestamps are stored as fixed-width ISO-8601 UTC text with all seven fractional digits in both databases, so text
/// order is time order, a value reads back to the exact tick (the cursor compares ticks), and the first ten characters
/// are the UTC day the usage report groups by. Money is stored as whole micro-dollars, so sums are exact.
/// </remarks>
public abstract partial class SqlLedgerStore : IGenerationStore, ILedgerAccounting, ILedgerSweeps
{
    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";
    private const decimal MicrosPerUsd = 1_000_000m;

    private const string Columns = """
        id, upstream_id, model, route_family, status, upstream_status,
        video_url, video_content_type, video_file_name, video_file_size,
        error_code, error_message, credits_used, tokens_used, warnings,
        client_request_id, external_task_id, request_summary,
        created_at, updated_at, completed_at, refreshed_at,
        owner_client, owner_user, video_seconds, cost_micros, refunded,
        upstream_request_id, billing,
        version, next_refresh_at, refresh_failures, deadline_passed_at,
        video_state, video_attempts, video_next_attempt_at, video_key, video_stored_size,
        video_stored_type, video_sha256, video_stored_at, video_error,
        webhook_url
        """;

    private const string SelectColumns = "SELECT " + Columns + "\nFROM generations";

    private const string InsertSql = "INSERT INTO generations (" + Columns + """
        )
        VALUES (
            @id, @upstream_id, @model, @route_family, @status, @upstream_status,
            @video_url, @video_content_type, @video_file_name, @video_file_size,
            @error_code, @error_message, @credits_used, @tokens_used, @warnings,
            @client_request_id, @external_task_id, @request_summary,
            @created_at, @updated_at, @completed_at, @refreshed_at,
            @owner_client, @owner_user, @video_seconds, @cost_micros, @refunded,
            @upstream_request_id, @billing,
            @version, @next_refresh_at, @refresh_failures, @deadline_passed_at,
            @video_state, @video_attempts, @video_next_attempt_at, @video_key, @video_stored_size,
            @video_stored_type, @video_sha256, @video_stored_at, @video_error,
            @webhook_url);
        """;

    // What a change may write: what the upstream said, the refund, and the lifecycle's own columns. What the create
    // fixed (model, owner, price, request, created_at) stays as inserted.
    private const string ChangeAssignments = """
        UPDATE generations SET
            upstream_id = @upstream_id, status = @status, upstream_status = @upstream_status,
            video_url = @video_url, video_content_type = @video_content_type,
            video_file_name = @video_file_name, video_file_size = @video_file_size,
            error_code = @error_code, error_message = @error_message,
            credits_used = @credits_used, tokens_used = @tokens_used,
            updated_at = @updated_at, completed_at = @completed_at, refreshed_at = @refreshed_at,
            refunded = @refunded, billing = @billing,
            next_refresh_at = @next_refresh_at, refresh_failures = @refresh_failures, deadline_passed_at = @deadline_passed_at,
            video_state = @video_state, video_attempts = @video_attempts, video_next_attempt_at = @video_next_attempt_at,
            video_key = @video_key, video_stored_size = @video_stored_size, video_stored_type = @video_stored_type,
            video_sha256 = @video_sha256, video_stored_at = @video_stored_at, video_error = @video_error,
            version = version + @version_step
        WHERE id = @id
        """;

    private const string UpdateSql = ChangeAssignments + "\nRETURNING version;";

    private const string UpdateIfVersionSql = ChangeAssignments + " AND version = @expected_version\nRETURNING version;";

    // Claims: one conditional update each, so of two readers, workers or replicas asking at once exactly one gets the row.
    private const string Due = "next_refresh_at IS NOT NULL AND next_refresh_at <= @now";
    private const string DownloadDue = "video_state = 'pending' AND video_next_attempt_at <= @now";

    private const string IdempotencyColumns =
        "client, idempotency_key, request_hash, generation_id, status_code, problem_code, created_at, expires_at, problem";

    // Both statuses that mean "the upstream may still be working on it".
    private const string Unfinished = "status IN ('queued', 'processing')";

    public abstract Task InitializeAsync(CancellationToken cancellationToken);

    public abstract Task<bool> IsReachableAsync(CancellationToken cancellationToken);

    /// <summary>An open connection with the provider's per-connection settings applied.</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Runs one write: <paramref name="work"/> runs its statements on the connection, with the transaction given (set
    /// it on every command), and neither commits nor rolls back; what it returns, or throws, is the caller's. The
    /// default opens a connection for it. With <paramref name="lockClient"/>, the work runs in a transaction from
    /// <see cref="BeginClientLockAsync"/> that is committed after it returns; without, its statements commit one by
    /// one (the transaction given is null). SQLite has one writer per file and overrides this to commit the writes
    /// waiting together (see <see cref="SqliteGenerationStore"/>).
    /// </summary>
    protected virtual async Task<T> WriteAsync<T>(
        string? lockClient, Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);

        await using var connection = await OpenAsync(cancellationToken);
        if (lockClient is null)
        {
            return await work(connection, null, cancellationToken);
        }

        await using var transaction = await BeginClientLockAsync(connection, lockClient, cancellationToken);
        var result = await work(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>
    /// A transaction that holds a lock no other admission for <paramref name="client"/> (on any replica) can hold at
    /// the same time, until it commits or rolls back.
    /// </summary>
    protected abstract Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken);

    /// <summary>
    /// A command for one statement of a write, on the write's connection and transaction, with no parameters yet. The
    /// default is a new command, disposed with the lease; a store whose writer keeps its connection may hand out a
    /// prepared one it keeps (<see cref="SqliteGenerationStore"/>), which the lease then leaves alone.
    /// </summary>
    protected virtual StatementLease Statement(DbConnection connection, DbTransaction? transaction, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);

        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return new StatementLease(command, owned: true);
    }

    /// <summary>A write's command, disposed at the end of the lease unless the store keeps it.</summary>
    protected readonly struct StatementLease(DbCommand command, bool owned) : IAsyncDisposable
    {
        public DbCommand Command { get; } = command;

        public ValueTask DisposeAsync() => owned ? Command.DisposeAsync() : ValueTask.CompletedTask;
    }

    public async Task InsertAsync(Generation generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);

        await WriteAsync(null, async (connection, transaction, token) =>
        {
            await using var statement = Statement(connection, transaction, InsertSql);
            var command = statement.Command;
            AddParameters(command, generation);
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
    /// downloads, retention): one transaction (<see cref="WriteTransactionAsync{T}"/>) with the update and, for a change a
    /// caller can see, its event and webhook deliveries (<c>Events/LedgerEvents.cs</c>), so they commit with the change or
    /// not at all. After the commit, this process's readers of the event log are woken (<see cref="Feed"/>).
    /// </summary>
    public async Task<Generation?> RecordChangeAsync(GenerationChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);

        // The event is made before the write: the writer's transaction (one for every writer of a SQLite file) only inserts it.
        var pending = change.IsVisible ? EventOf(change.Kind, change.Generation) : null;
        var written = await WriteTransactionAsync(
            (connection, transaction, token) => WriteChangeAsync(connection, transaction, change, token, pending), cancellationToken);
        if (written is not null && pending is not null)
        {
            Feed?.Committed();
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
    private async Task<Generation?> WriteChangeAsync(
        DbConnection connection, DbTransaction? transaction, GenerationChange change, CancellationToken cancellationToken,
        PendingEvent? pending = null)
    {
        var generation = change.Generation;
        // Only what the upstream's answers and the lifecycle change. What the create fixed (model, owner, price,
        // request, created_at) stays as inserted: created_at orders the list and keys the cursor, and leaving the
        // model and owner out spares their indexes a rewrite on every status change.
        await using var statement = Statement(connection, transaction, change.ExpectedVersion is null ? UpdateSql : UpdateIfVersionSql);
        var command = statement.Command;
        AddOutcomeParameters(command, generation);
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
            await RecordEventAsync(connection, transaction, written, written.Version, pending ?? EventOf(change.Kind, generation), cancellationToken);
        }

        return written;
    }

    /// <summary>The generation as this write's transaction sees it, or <see langword="null"/>.</summary>
    private async Task<Generation?> FindForChangeAsync(DbConnection connection, DbTransaction? transaction, string id, CancellationToken cancellationToken)
    {
        await using var statement = Statement(connection, transaction, SelectColumns + "\nWHERE id = @id;");
        Add(statement.Command, "@id", id);
        await using var reader = await statement.Command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadGeneration(reader) : null;
    }

    public async Task<Generation?> ClaimRefreshAsync(string id, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);

        var claimed = await ClaimAsync($"UPDATE generations SET next_refresh_at = @lease_until WHERE id = @id AND {Due}\nRETURNING {Columns};",
            command =>
            {
                Add(command, "@id", id);
                Add(command, "@now", FormatTimestamp(now));
                Add(command, "@lease_until", FormatTimestamp(leaseUntil));
            }, cancellationToken);
        return claimed.Count == 0 ? null : claimed[0];
    }

    public Task<IReadOnlyList<Generation>> ClaimDueRefreshesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        ClaimAsync($"""
            UPDATE generations SET next_refresh_at = @lease_until
            WHERE id IN (SELECT id FROM generations WHERE {Due} ORDER BY next_refresh_at LIMIT @limit {SkipLocked})
              AND {Due}
            RETURNING {Columns};
            """,
            command =>
            {
                Add(command, "@now", FormatTimestamp(now));
                Add(command, "@lease_until", FormatTimestamp(leaseUntil));
                Add(command, "@limit", limit);
            }, cancellationToken);

    public Task<IReadOnlyList<Generation>> ClaimDueDownloadsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        ClaimAsync($"""
            UPDATE generations SET video_next_attempt_at = @lease_until, video_attempts = video_attempts + 1
            WHERE id IN (SELECT id FROM generations WHERE {DownloadDue} ORDER BY video_next_attempt_at LIMIT @limit {SkipLocked})
              AND {DownloadDue}
            RETURNING {Columns};
            """,
            command =>
            {
                Add(command, "@now", FormatTimestamp(now));
                Add(command, "@lease_until", FormatTimestamp(leaseUntil));
                Add(command, "@limit", limit);
            }, cancellationToken);

    public Task<IReadOnlyList<Generation>> FindOverdueAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken) =>
        SelectAsync($"""
            {SelectColumns}
            WHERE {Unfinished} AND upstream_id IS NOT NULL AND created_at <= @before
            ORDER BY created_at
            LIMIT @limit;
            """,
            command =>
            {
                Add(command, "@before", FormatTimestamp(createdBefore));
                Add(command, "@limit", limit);
            }, cancellationToken);

    public Task<IReadOnlyList<Generation>> FindRetentionDueAsync(DateTimeOffset completedBefore, int limit, CancellationToken cancellationToken) =>
        SelectAsync($"""
            {SelectColumns}
            WHERE video_state IN ('pending', 'stored', 'failed') AND completed_at <= @before
            ORDER BY completed_at
            LIMIT @limit;
            """,
            command =>
            {
                Add(command, "@before", FormatTimestamp(completedBefore));
                Add(command, "@limit", limit);
            }, cancellationToken);

    public async Task<LedgerStats> StatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT
                (SELECT COUNT(*) FROM generations WHERE {Unfinished}),
                (SELECT COUNT(*) FROM generations WHERE video_state = 'stored'),
                (SELECT COALESCE(SUM(video_stored_size), 0) FROM generations WHERE video_state = 'stored');
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new LedgerStats(
            Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture),
            Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture),
            Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture));
    }

    public async Task<string> GetOrAddSecretAsync(string name, string candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(candidate);

        return await WriteTransactionAsync(async (connection, transaction, token) =>
        {
            // The primary key decides between replicas starting at once: the first insert wins, every one reads it.
            await using (var statement = Statement(connection, transaction,
                "INSERT INTO gateway_secrets (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING;"))
            {
                Add(statement.Command, "@name", name);
                Add(statement.Command, "@value", candidate);
                await statement.Command.ExecuteNonQueryAsync(token);
            }

            await using var read = Statement(connection, transaction, "SELECT value FROM gateway_secrets WHERE name = @name;");
            Add(read.Command, "@name", name);
            return (string)(await read.Command.ExecuteScalarAsync(token))!;
        }, cancellationToken);
    }

    /// <summary>
    /// A lock clause for the claims' inner select, so replicas claiming at once pass over each other's rows instead of
    /// waiting for them; empty where the database has one writer anyway.
    /// </summary>
    protected virtual string SkipLocked => "";

    private async Task<IReadOnlyList<Generation>> ClaimAsync(string sql, Action<DbCommand> parameters, CancellationToken cancellationToken) =>
        await WriteTransactionAsync<IReadOnlyList<Generation>>(async (connection, transaction, token) =>
        {
            await using var statement = Statement(connection, transaction, sql);
            parameters(statement.Command);
            var claimed = new List<Generation>();
            await using var reader = await statement.Command.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
            {
                claimed.Add(ReadGeneration(reader));
            }

            return claimed;
        }, cancellationToken);

    private async Task<IReadOnlyList<Generation>> SelectAsync(string sql, Action<DbCommand> parameters, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        parameters(command);
        var found = new List<Generation>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(ReadGeneration(reader));
        }

        return found;
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction of its own (set it on every command) and commits it. SQLite runs
    /// it in the group writer's transaction (see <see cref="SqliteGenerationStore"/>), which commits it with its group.
    /// </summary>
    protected virtual async Task<T> WriteTransactionAsync<T>(
        Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);

        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var result = await work(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public async Task<Generation?> FindAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = SelectColumns + "\nWHERE id = @id;";
        Add(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadGeneration(reader) : null;
    }

    public async Task<GenerationPage> ListAsync(GenerationQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, GenerationQuery.MaxLimit);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();

        // Only fixed fragments are joined; every value goes in as a parameter.
        var sql = new StringBuilder(SelectColumns);
        var conditions = new List<string>(5);
        if (query.Status is { } status)
        {
            conditions.Add("status = @status");
            Add(command, "@status", status.ToApiString());
        }

        if (query.Model is not null)
        {
            conditions.Add("model = @model");
            Add(command, "@model", query.Model);
        }

        if (query.Owner is { } owner)
        {
            conditions.Add("owner_client = @owner_client");
            Add(command, "@owner_client", owner.Client);
            if (owner.User is null)
            {
                conditions.Add("owner_user IS NULL");
            }
            else
            {
                conditions.Add("owner_user = @owner_user");
                Add(command, "@owner_user", owner.User);
            }
        }

        if (query.After is { } after)
        {
            // Row-value comparison: strictly after the cursor in (created_at desc, id desc) order, index-friendly.
            conditions.Add("(created_at, id) < (@after_created_at, @after_id)");
            Add(command, "@after_created_at", FormatTimestamp(after.CreatedAt));
            Add(command, "@after_id", after.Id);
        }

        if (conditions.Count > 0)
        {
            sql.Append("\nWHERE ").AppendJoin(" AND ", conditions);
        }

        // One row more than asked tells whether there is a next page without a second query.
        sql.Append("\nORDER BY created_at DESC, id DESC\nLIMIT @limit;");
        Add(command, "@limit", query.Limit + 1);
        command.CommandText = sql.ToString();

        var items = new List<Generation>(query.Limit + 1);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(ReadGeneration(reader));
            }
        }

        if (items.Count <= query.Limit)
        {
            return new GenerationPage(items, Next: null);
        }

        items.RemoveAt(items.Count - 1);
        var last = items[^1];
        return new GenerationPage(items, new GenerationCursor(last.CreatedAt, last.Id));
    }

    public async Task<Admission> AdmitAsync(
        Generation generation, AdmissionLimits limits, string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(limits);

        var queued = EventOf(GenerationChangeKind.Updated, generation);
        var result = await WriteAsync(generation.OwnerClient, async (connection, transaction, token) =>
        {
            int inFlight = 0, seconds = 0;
            long costMicros = 0;
            // With no limit to check, the admission is the insert alone: the sums below grow with the client's day.
            var checks = limits.MaxInFlight is not null || limits.DailyVideoSeconds is not null || limits.DailyBudgetUsd is not null;
            if (checks)
            {
                // Read under the client's lock: no other admission for this client can insert between this read and the insert below.
                await using var statement = Statement(connection, transaction, $"""
                    SELECT
                        (SELECT COUNT(*) FROM generations
                         WHERE owner_client = @client AND {Unfinished} AND created_at >= @in_flight_since),
                        (SELECT COALESCE(SUM(video_seconds), 0) FROM generations
                         WHERE owner_client = @client AND refunded = 0 AND created_at >= @day_start),
                        (SELECT COALESCE(SUM(cost_micros), 0) FROM generations
                         WHERE owner_client = @client AND refunded = 0 AND created_at >= @day_start);
                    """);
                var state = statement.Command;
                Add(state, "@client", generation.OwnerClient);
                Add(state, "@in_flight_since", FormatTimestamp(limits.InFlightSince));
                Add(state, "@day_start", FormatTimestamp(limits.DayStart));
                await using var reader = await state.ExecuteReaderAsync(token);
                await reader.ReadAsync(token);
                inFlight = Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture);
                seconds = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
                costMicros = Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture);
            }

            var spentUsd = costMicros / MicrosPerUsd;
            var refusal =
                limits.MaxInFlight is { } maxInFlight && inFlight >= maxInFlight ? AdmissionRefusal.InFlight
                : limits.DailyVideoSeconds is { } maxSeconds && seconds + generation.VideoSeconds > maxSeconds ? AdmissionRefusal.VideoSeconds
                : limits.DailyBudgetUsd is { } maxUsd && costMicros + ToMicros(generation.CostUsd) > ToMicros(maxUsd) ? AdmissionRefusal.Budget
                : AdmissionRefusal.None;
            var admission = new Admission(refusal, inFlight, seconds, spentUsd);
            if (!admission.Admitted)
            {
                // Nothing written: the lock's transaction ends with no change.
                return admission;
            }

            await using (var insert = Statement(connection, transaction, InsertSql))
            {
                AddParameters(insert.Command, generation);
                await insert.Command.ExecuteNonQueryAsync(token);
            }

            // Its first event, generation.queued, is born with it.
            await RecordEventAsync(connection, transaction, generation, generation.Version, queued, token);

            if (idempotencyKey is not null)
            {
                await using var statement = Statement(connection, transaction,
                    "UPDATE idempotency_keys SET generation_id = @generation_id WHERE client = @client AND idempotency_key = @key;");
                var link = statement.Command;
                Add(link, "@generation_id", generation.Id);
                Add(link, "@client", generation.OwnerClient);
                Add(link, "@key", idempotencyKey);
                await link.ExecuteNonQueryAsync(token);
            }

            return admission;
        }, cancellationToken);
        if (result.Admitted)
        {
            Feed?.Committed();
        }

        return result;
    }

    public async Task<UsageReport> UsageAsync(string client, DateTimeOffset from, DateTimeOffset inFlightSince, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);

        await using var connection = await OpenAsync(cancellationToken);
        var rows = new List<UsageRow>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT SUBSTR(created_at, 1, 10) AS day, model, COUNT(*), COALESCE(SUM(video_seconds), 0), COALESCE(SUM(cost_micros), 0)
                FROM generations
                WHERE owner_client = @client AND refunded = 0 AND created_at >= @from
                GROUP BY SUBSTR(created_at, 1, 10), model
                ORDER BY day DESC, model;
                """;
            Add(command, "@client", client);
            Add(command, "@from", FormatTimestamp(from));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new UsageRow(
                    reader.GetString(0),
                    reader.GetString(1),
                    Convert.ToInt32(reader.GetValue(2), CultureInfo.InvariantCulture),
                    Convert.ToInt32(reader.GetValue(3), CultureInfo.InvariantCulture),
                    Convert.ToInt64(reader.GetValue(4), CultureInfo.InvariantCulture) / MicrosPerUsd));
            }
        }

        await using var count = connection.CreateCommand();
        count.CommandText = $"SELECT COUNT(*) FROM generations WHERE owner_client = @client AND {Unfinished} AND created_at >= @since;";
        Add(count, "@client", client);
        Add(count, "@since", FormatTimestamp(inFlightSince));
        var inFlight = Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        return new UsageReport(rows, inFlight);
    }

    public async Task<IdempotencyRecord?> ClaimIdempotencyKeyAsync(IdempotencyClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);

        return await WriteAsync<IdempotencyRecord?>(null, async (connection, transaction, token) =>
        {
            await using (var statement = Statement(connection, transaction,
                "DELETE FROM idempotency_keys WHERE client = @client AND idempotency_key = @key AND expires_at <= @now;"))
            {
                var expired = statement.Command;
                Add(expired, "@client", claim.Client);
                Add(expired, "@key", claim.Key);
                Add(expired, "@now", FormatTimestamp(claim.CreatedAt));
                await expired.ExecuteNonQueryAsync(token);
            }

            // The primary key (client, idempotency_key) decides between simultaneous requests, on one replica or many.
            await using (var statement = Statement(connection, transaction, $"""
                INSERT INTO idempotency_keys ({IdempotencyColumns})
                VALUES (@client, @key, @request_hash, NULL, NULL, NULL, @created_at, @expires_at, NULL)
                ON CONFLICT (client, idempotency_key) DO NOTHING;
                """))
            {
                var insert = statement.Command;
                Add(insert, "@client", claim.Client);
                Add(insert, "@key", claim.Key);
                Add(insert, "@request_hash", claim.RequestHash);
                Add(insert, "@created_at", FormatTimestamp(claim.CreatedAt));
                Add(insert, "@expires_at", FormatTimestamp(claim.ExpiresAt));
                if (await insert.ExecuteNonQueryAsync(token) == 1)
                {
                    return null;
                }
            }

            return await FindIdempotencyKeyAsync(connection, transaction, claim.Client, claim.Key, claim.CreatedAt, token)
                // Expired and removed between the two statements: report it as held, the caller's next look decides.
                ?? new IdempotencyRecord(claim.Client, claim.Key, claim.RequestHash, null, null, null, claim.CreatedAt, claim.ExpiresAt);
        }, cancellationToken);
    }

    public async Task<IdempotencyRecord?> FindIdempotencyKeyAsync(string client, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await FindIdempotencyKeyAsync(connection, null, client, key, now, cancellationToken);
    }

    public async Task CompleteIdempotencyKeyAsync(string client, string key, int statusCode, StoredProblem? problem, CancellationToken cancellationToken)
    {
        await WriteAsync(null, async (connection, transaction, token) =>
        {
            await using var statement = Statement(connection, transaction, """
                UPDATE idempotency_keys SET status_code = @status_code, problem_code = @problem_code, problem = @problem
                WHERE client = @client AND idempotency_key = @key;
                """);
            var command = statement.Command;
            Add(command, "@status_code", statusCode);
            Add(command, "@problem_code", problem?.Code);
            Add(command, "@problem", problem is null ? null : JsonSerializer.Serialize(problem, LedgerJsonContext.Default.StoredProblem));
            Add(command, "@client", client);
            Add(command, "@key", key);
            await command.ExecuteNonQueryAsync(token);
            return 0;
        }, cancellationToken);
    }

    public async Task ReleaseIdempotencyKeyAsync(string client, string key, CancellationToken cancellationToken)
    {
        await WriteAsync(null, async (connection, transaction, token) =>
        {
            // Only a key not yet completed: a completed one is the record of an answer and stays until it expires.
            await using var statement = Statement(connection, transaction,
                "DELETE FROM idempotency_keys WHERE client = @client AND idempotency_key = @key AND status_code IS NULL;");
            var command = statement.Command;
            Add(command, "@client", client);
            Add(command, "@key", key);
            await command.ExecuteNonQueryAsync(token);
            return 0;
        }, cancellationToken);
    }

    public async Task<int> DeleteExpiredIdempotencyKeysAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        return await WriteAsync(null, async (connection, transaction, token) =>
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM idempotency_keys WHERE expires_at <= @now;";
            Add(command, "@now", FormatTimestamp(now));
            return await command.ExecuteNonQueryAsync(token);
        }, cancellationToken);
    }

    private static async Task<IdempotencyRecord?> FindIdempotencyKeyAsync(
        DbConnection connection, DbTransaction? transaction, string client, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT {IdempotencyColumns} FROM idempotency_keys WHERE client = @client AND idempotency_key = @key AND expires_at > @now;";
        Add(command, "@client", client);
        Add(command, "@key", key);
        Add(command, "@now", FormatTimestamp(now));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return ReadIdempotencyRecord(reader);
    }

    public async Task<IReadOnlyList<Generation>> FindUnansweredCreatesAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken)
    {
        // The predicate is ix_generations_unanswered's, word for word, so both databases use that partial index.
        return await FindAsync(
            "WHERE status = 'queued' AND upstream_id IS NULL AND created_at < @at",
            FormatTimestamp(createdBefore), limit, cancellationToken);
    }

    public async Task<bool> SettleInterruptedAsync(string id, GenerationError error, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(error);

        var settled = await WriteTransactionAsync(async (connection, transaction, token) =>
        {
            // Conditional: only from the state it was found in, and over the version read here. A second replica, or the
            // create's own late answer, finds the row changed and this writes nothing.
            if (await FindForChangeAsync(connection, transaction, id, token) is not { Status: GenerationStatus.Queued, UpstreamId: null } found)
            {
                return false;
            }

            var change = new GenerationChange(GenerationChangeKind.Interrupted, found with
            {
                Status = GenerationStatus.Failed,
                Error = error,
                Billing = GenerationBilling.Unknown,
                UpdatedAt = now,
                CompletedAt = now,
            }, found.Version);
            return await WriteChangeAsync(connection, transaction, change, token) is not null;
        }, cancellationToken);
        if (settled)
        {
            Feed?.Committed();
        }

        return settled;
    }

    public async Task<int> CloseInterruptedIdempotencyKeysAsync(StoredProblem answer, DateTimeOffset claimedBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answer);

        return await WriteAsync(null, async (connection, transaction, token) =>
        {
            int closed;
            // Open keys are few (ix_idempotency_keys_open); each looks up its generation by primary key.
            await using (var statement = Statement(connection, transaction, """
                UPDATE idempotency_keys SET status_code = @status_code, problem_code = @problem_code, problem = @problem
                WHERE status_code IS NULL AND generation_id IS NOT NULL
                  AND EXISTS (SELECT 1 FROM generations g
                              WHERE g.id = idempotency_keys.generation_id AND g.error_code = @interrupted);
                """))
            {
                var complete = statement.Command;
                Add(complete, "@status_code", answer.Status);
                Add(complete, "@problem_code", answer.Code);
                Add(complete, "@problem", JsonSerializer.Serialize(answer, LedgerJsonContext.Default.StoredProblem));
                Add(complete, "@interrupted", GenerationErrorCodes.Interrupted);
                closed = await complete.ExecuteNonQueryAsync(token);
            }

            await using (var statement = Statement(connection, transaction,
                "DELETE FROM idempotency_keys WHERE status_code IS NULL AND generation_id IS NULL AND created_at < @before;"))
            {
                var drop = statement.Command;
                Add(drop, "@before", FormatTimestamp(claimedBefore));
                closed += await drop.ExecuteNonQueryAsync(token);
            }

            return closed;
        }, cancellationToken);
    }

    public async Task<IReadOnlyList<Generation>> FindUnknownBillingAsync(DateTimeOffset createdSince, int limit, CancellationToken cancellationToken)
    {
        return await FindAsync(
            "WHERE billing = 'unknown' AND upstream_request_id IS NOT NULL AND created_at >= @at",
            FormatTimestamp(createdSince), limit, cancellationToken);
    }

    public async Task<bool> SettleBillingAsync(string id, GenerationBilling billing, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (billing == GenerationBilling.Unknown)
        {
            throw new ArgumentOutOfRangeException(nameof(billing), billing, "Settling a bill means knowing it.");
        }

        var settled = await WriteTransactionAsync(async (connection, transaction, token) =>
        {
            // Conditional, as above: one replica refunds a row, once.
            if (await FindForChangeAsync(connection, transaction, id, token) is not { Billing: GenerationBilling.Unknown } found)
            {
                return false;
            }

            var change = new GenerationChange(GenerationChangeKind.BillingSettled, found with
            {
                Billing = billing,
                Refunded = billing == GenerationBilling.NotBilled,
                UpdatedAt = now,
            }, found.Version);
            return await WriteChangeAsync(connection, transaction, change, token) is not null;
        }, cancellationToken);
        if (settled)
        {
            Feed?.Committed();
        }

        return settled;
    }

    /// <summary>At most <paramref name="limit"/> generations matching <paramref name="where"/> (on <c>@at</c>), oldest first.</summary>
    private async Task<IReadOnlyList<Generation>> FindAsync(string where, string at, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"{SelectColumns}\n{where}\nORDER BY created_at, id\nLIMIT @limit;";
        Add(command, "@at", at);
        Add(command, "@limit", limit);
        var found = new List<Generation>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(ReadGeneration(reader));
        }

        return found;
    }

    private static IdempotencyRecord ReadIdempotencyRecord(DbDataReader reader)
    {
        var problem = GetStringOrNull(reader, 8);
        return new IdempotencyRecord(
            reader.GetString(0),
            reader.GetString(1),
            reader.GetString(2),
            GetStringOrNull(reader, 3),
            reader.IsDBNull(4) ? null : Convert.ToInt32(reader.GetValue(4), CultureInfo.InvariantCulture),
            GetStringOrNull(reader, 5),
            ParseTimestamp(reader.GetString(6)),
            ParseTimestamp(reader.GetString(7)))
        {
            Problem = problem is null ? null : JsonSerializer.Deserialize(problem, LedgerJsonContext.Default.StoredProblem),
        };
    }

    /// <summary>Adds a parameter; a null value goes in as SQL NULL.</summary>
    protected static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    /// <summary>Every column, for the insert.</summary>
    private static void AddParameters(DbCommand command, Generation generation)
    {
        AddOutcomeParameters(command, generation);
        Add(command, "@model", generation.Model);
        Add(command, "@route_family", generation.RouteFamily);
        Add(command, "@warnings", JsonSerializer.Serialize(generation.Warnings, LedgerJsonContext.Default.IReadOnlyListGenerationWarning));
        Add(command, "@client_request_id", generation.ClientRequestId);
        Add(command, "@external_task_id", generation.ExternalTaskId);
        Add(command, "@request_summary", generation.RequestSummary);
        Add(command, "@created_at", FormatTimestamp(generation.CreatedAt));
        Add(command, "@owner_client", generation.OwnerClient);
        Add(command, "@owner_user", generation.OwnerUser);
        Add(command, "@video_seconds", generation.VideoSeconds);
        Add(command, "@cost_micros", ToMicros(generation.CostUsd));
        Add(command, "@upstream_request_id", generation.UpstreamRequestId);
        Add(command, "@version", generation.Version);
        Add(command, "@webhook_url", generation.WebhookUrl);
    }

    /// <summary>The id and the columns an update may change: what the upstream said, and whether the cost was refunded.</summary>
    private static void AddOutcomeParameters(DbCommand command, Generation generation)
    {
        ArgumentException.ThrowIfNullOrEmpty(generation.Id);

        Add(command, "@id", generation.Id);
        Add(command, "@upstream_id", generation.UpstreamId);
        Add(command, "@status", generation.Status.ToApiString());
        Add(command, "@upstream_status", generation.UpstreamStatus);
        Add(command, "@video_url", generation.Video?.Url);
        Add(command, "@video_content_type", generation.Video?.ContentType);
        Add(command, "@video_file_name", generation.Video?.FileName);
        Add(command, "@video_file_size", generation.Video?.FileSize);
        Add(command, "@error_code", generation.Error?.Code);
        Add(command, "@error_message", generation.Error?.Message);
        Add(command, "@credits_used", generation.Usage?.CreditsUsed);
        Add(command, "@tokens_used", generation.Usage?.TokensUsed);
        Add(command, "@updated_at", FormatTimestamp(generation.UpdatedAt));
        Add(command, "@completed_at", FormatTimestamp(generation.CompletedAt));
        Add(command, "@refreshed_at", FormatTimestamp(generation.RefreshedAt));
        Add(command, "@refunded", generation.Refunded ? 1 : 0);
        Add(command, "@billing", generation.Billing?.ToApiString());
        Add(command, "@next_refresh_at", FormatTimestamp(generation.NextRefreshAt));
        Add(command, "@refresh_failures", generation.RefreshFailures);
        Add(command, "@deadline_passed_at", FormatTimestamp(generation.DeadlinePassedAt));
        var kept = generation.Kept;
        Add(command, "@video_state", kept is null ? null : KeptStateText(kept.State));
        Add(command, "@video_attempts", kept?.Attempts ?? 0);
        Add(command, "@video_next_attempt_at", FormatTimestamp(kept?.NextAttemptAt));
        Add(command, "@video_key", kept?.Key);
        Add(command, "@video_stored_size", kept?.Size);
        Add(command, "@video_stored_type", kept?.ContentType);
        Add(command, "@video_sha256", kept?.Sha256);
        Add(command, "@video_stored_at", FormatTimestamp(kept?.StoredAt));
        Add(command, "@video_error", kept?.Error);
    }

    private static string KeptStateText(KeptVideoState state) => state switch
    {
        KeptVideoState.Pending => "pending",
        KeptVideoState.Stored => "stored",
        KeptVideoState.Failed => "failed",
        KeptVideoState.Expired => "expired",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    private static KeptVideoState ParseKeptState(string text) => text switch
    {
        "pending" => KeptVideoState.Pending,
        "stored" => KeptVideoState.Stored,
        "failed" => KeptVideoState.Failed,
        "expired" => KeptVideoState.Expired,
        _ => throw new InvalidDataException($"The ledger holds an unknown video state '{text}'."),
    };

    private static long ToMicros(decimal usd) => (long)decimal.Round(usd * MicrosPerUsd, MidpointRounding.AwayFromZero);

    private static Generation ReadGeneration(DbDataReader reader)
    {
        var statusText = reader.GetString(4);
        if (!StatusMapper.TryParseApiString(statusText, out var status))
        {
            throw new InvalidDataException($"The ledger holds an unknown status '{statusText}'.");
        }

        var videoUrl = GetStringOrNull(reader, 6);
        var errorCode = GetStringOrNull(reader, 10);
        var creditsUsed = GetDoubleOrNull(reader, 12);
        var tokensUsed = GetDoubleOrNull(reader, 13);

        return new Generation
        {
            Id = reader.GetString(0),
            UpstreamId = GetStringOrNull(reader, 1),
            Model = reader.GetString(2),
            RouteFamily = reader.GetString(3),
            Status = status,
            UpstreamStatus = GetStringOrNull(reader, 5),
            Video = videoUrl is null
                ? null
                : new GenerationVideo(
                    videoUrl, GetStringOrNull(reader, 7), GetStringOrNull(reader, 8),
                    reader.IsDBNull(9) ? null : reader.GetInt64(9)),
            Error = errorCode is null ? null : new GenerationError(errorCode, GetStringOrNull(reader, 11) ?? string.Empty),
            Usage = creditsUsed is null && tokensUsed is null ? null : new GenerationUsage(creditsUsed, tokensUsed),
            Warnings = JsonSerializer.Deserialize(reader.GetString(14), LedgerJsonContext.Default.IReadOnlyListGenerationWarning) ?? [],
            ClientRequestId = GetStringOrNull(reader, 15),
            ExternalTaskId = GetStringOrNull(reader, 16),
            RequestSummary = reader.GetString(17),
            CreatedAt = ParseTimestamp(reader.GetString(18)),
            UpdatedAt = ParseTimestamp(reader.GetString(19)),
            CompletedAt = reader.IsDBNull(20) ? null : ParseTimestamp(reader.GetString(20)),
            RefreshedAt = reader.IsDBNull(21) ? null : ParseTimestamp(reader.GetString(21)),
            OwnerClient = reader.GetString(22),
            OwnerUser = GetStringOrNull(reader, 23),
            VideoSeconds = Convert.ToInt32(reader.GetValue(24), CultureInfo.InvariantCulture),
            CostUsd = Convert.ToInt64(reader.GetValue(25), CultureInfo.InvariantCulture) / MicrosPerUsd,
            Refunded = Convert.ToInt64(reader.GetValue(26), CultureInfo.InvariantCulture) != 0,
            UpstreamRequestId = GetStringOrNull(reader, 27),
            Billing = GenerationBillingText.Parse(GetStringOrNull(reader, 28)),
            Version = Convert.ToInt64(reader.GetValue(29), CultureInfo.InvariantCulture),
            NextRefreshAt = GetTimestampOrNull(reader, 30),
            RefreshFailures = Convert.ToInt32(reader.GetValue(31), CultureInfo.InvariantCulture),
            DeadlinePassedAt = GetTimestampOrNull(reader, 32),
            Kept = reader.IsDBNull(33) ? null : new KeptVideo(
                ParseKeptState(reader.GetString(33)),
                Convert.ToInt32(reader.GetValue(34), CultureInfo.InvariantCulture),
                GetTimestampOrNull(reader, 35),
                GetStringOrNull(reader, 36),
                reader.IsDBNull(37) ? null : Convert.ToInt64(reader.GetValue(37), CultureInfo.InvariantCulture),
                GetStringOrNull(reader, 38),
                GetStringOrNull(reader, 39),
                GetTimestampOrNull(reader, 40),
                GetStringOrNull(reader, 41)),
            WebhookUrl = GetStringOrNull(reader, 42),
        };
    }

    private static string? GetStringOrNull(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static DateTimeOffset? GetTimestampOrNull(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : ParseTimestamp(reader.GetString(ordinal));

    private static double? GetDoubleOrNull(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    private static string FormatTimestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    private static string? FormatTimestamp(DateTimeOffset? value) =>
        value is { } time ? FormatTimestamp(time) : null;

    private static DateTimeOffset ParseTimestamp(string text) =>
        DateTimeOffset.ParseExact(
            text, TimestampFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
