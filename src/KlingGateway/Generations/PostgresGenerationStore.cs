using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KlingGateway.Generations;

/// <summary>
/// The ledger in PostgreSQL (<c>Ledger:Provider</c> = <c>postgres</c>), so several gateway replicas share generations,
/// budgets and idempotency keys. Plain Npgsql over a pooled data source; the SQL is <see cref="SqlLedgerStore"/>'s.
/// </summary>
/// <remarks>
/// The schema version lives in <c>ledger_schema_version</c>; migrations run at start in one transaction under an
/// advisory lock, so replicas starting together migrate one after the other. An admission's per-client lock is a
/// transaction-scoped advisory lock on a hash of the client name: admissions of one client serialize across
/// replicas, other clients' do not wait.
/// </remarks>
public sealed partial class PostgresGenerationStore : SqlLedgerStore, IAsyncDisposable, IDisposable
{
    // An arbitrary constant naming the migration lock ("KlingLdg" in ASCII).
    private const long MigrationLockId = 0x4B6C696E674C6467;

    /// <summary>The schema, one step per version. A change is a new step at the end; a shipped step is never edited.</summary>
    private static readonly string[] Migrations =
    [
        // Version 1: the SQLite ledger's schema at its version 2, in PostgreSQL types. Timestamps are text, as there,
        // because timestamptz keeps microseconds and the cursor compares 100 ns ticks.
        """
        CREATE TABLE generations (
            id                 text             NOT NULL PRIMARY KEY,
            upstream_id        text,
            model              text             NOT NULL,
            route_family       text             NOT NULL,
            status             text             NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded', 'failed')),
            upstream_status    text,
            video_url          text,
            video_content_type text,
            video_file_name    text,
            video_file_size    bigint,
            error_code         text,
            error_message      text,
            credits_used       double precision,
            tokens_used        double precision,
            warnings           text             NOT NULL DEFAULT '[]',
            client_request_id  text,
            external_task_id   text,
            request_summary    text             NOT NULL,
            created_at         text             NOT NULL,
            updated_at         text             NOT NULL,
            completed_at       text,
            refreshed_at       text,
            owner_client       text             NOT NULL DEFAULT 'anonymous',
            owner_user         text,
            video_seconds      integer          NOT NULL DEFAULT 0,
            cost_micros        bigint           NOT NULL DEFAULT 0,
            refunded           integer          NOT NULL DEFAULT 0
        );
        CREATE INDEX ix_generations_created ON generations (created_at DESC, id DESC);
        CREATE INDEX ix_generations_status ON generations (status, created_at DESC, id DESC);
        CREATE INDEX ix_generations_model ON generations (model, created_at DESC, id DESC);
        CREATE INDEX ix_generations_upstream_id ON generations (upstream_id);
        CREATE INDEX ix_generations_owner ON generations (owner_client, created_at DESC, id DESC);
        CREATE TABLE idempotency_keys (
            client          text    NOT NULL,
            idempotency_key text    NOT NULL,
            request_hash    text    NOT NULL,
            generation_id   text,
            status_code     integer,
            problem_code    text,
            created_at      text    NOT NULL,
            expires_at      text    NOT NULL,
            PRIMARY KEY (client, idempotency_key)
        );
        CREATE INDEX ix_idempotency_keys_expires ON idempotency_keys (expires_at);
        """,

        // Version 2: see MigrationSteps.SettlementAndReplay (the same SQL reads the same in both databases).
        MigrationSteps.SettlementAndReplay,

        // Version 3: each generation runs to its end on its own. The version callers see change, when to ask the upstream
        // next (the refresh lease), the watchdog's mark, the gateway's own copy of the video, and the secret video links
        // are signed with. Unfinished generations are due at once; succeeded ones from before get their video downloaded.
        """
        ALTER TABLE generations ADD COLUMN version integer NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN next_refresh_at text;
        ALTER TABLE generations ADD COLUMN refresh_failures integer NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN deadline_passed_at text;
        ALTER TABLE generations ADD COLUMN video_state text CHECK (video_state IN ('pending', 'stored', 'failed', 'expired'));
        ALTER TABLE generations ADD COLUMN video_attempts integer NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN video_next_attempt_at text;
        ALTER TABLE generations ADD COLUMN video_key text;
        ALTER TABLE generations ADD COLUMN video_stored_size bigint;
        ALTER TABLE generations ADD COLUMN video_stored_type text;
        ALTER TABLE generations ADD COLUMN video_sha256 text;
        ALTER TABLE generations ADD COLUMN video_stored_at text;
        ALTER TABLE generations ADD COLUMN video_error text;
        UPDATE generations SET next_refresh_at = COALESCE(refreshed_at, created_at)
        WHERE status IN ('queued', 'processing') AND upstream_id IS NOT NULL;
        UPDATE generations SET video_state = 'pending', video_next_attempt_at = COALESCE(completed_at, updated_at)
        WHERE status = 'succeeded' AND video_url IS NOT NULL;
        CREATE INDEX ix_generations_next_refresh ON generations (next_refresh_at) WHERE next_refresh_at IS NOT NULL;
        CREATE INDEX ix_generations_video_due ON generations (video_next_attempt_at) WHERE video_state = 'pending';
        CREATE INDEX ix_generations_video_kept ON generations (completed_at) WHERE video_state IN ('pending', 'stored', 'failed');
        CREATE TABLE gateway_secrets (
            name  text NOT NULL PRIMARY KEY,
            value text NOT NULL
        );
        """,

        // Version 4: the event log, the webhook outbox and the callback URL (Events/EventMigrations.cs).
        Events.EventMigrations.Postgres,
    ];

    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger<PostgresGenerationStore> _logger;

    public PostgresGenerationStore(IOptions<LedgerOptions> options, ILogger<PostgresGenerationStore> logger, Events.ChangeFeed? feed = null)
        : this(options.Value.ConnectionString ?? throw new InvalidOperationException("Ledger:ConnectionString is required for PostgreSQL."), logger, feed)
    {
    }

    internal PostgresGenerationStore(string connectionString, ILogger<PostgresGenerationStore> logger, Events.ChangeFeed? feed = null)
        : base(feed)
    {
        _logger = logger;
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // For logs: where, never who or with what password.
        Target = $"{builder.Host}:{builder.Port}/{builder.Database}";
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    /// <summary>Host, port and database, safe to log (no user name or password).</summary>
    public string Target { get; }

    /// <summary>The schema version this build creates and understands.</summary>
    public static int SchemaVersion => Migrations.Length;

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var setup = connection.CreateCommand())
        {
            setup.Transaction = transaction;
            setup.CommandText = """
                SELECT pg_advisory_xact_lock(@lock);
                CREATE TABLE IF NOT EXISTS ledger_schema_version (version integer NOT NULL);
                """;
            setup.Parameters.AddWithValue("lock", MigrationLockId);
            await setup.ExecuteNonQueryAsync(cancellationToken);
        }

        int version;
        await using (var read = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = "SELECT COALESCE(MAX(version), 0) FROM ledger_schema_version;";
            version = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }

        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The PostgreSQL ledger at {Target} has schema version {version}, newer than this build knows ({SchemaVersion}). " +
                "Run a newer gateway, or point Ledger:ConnectionString at another database.");
        }

        for (var step = version; step < SchemaVersion; step++)
        {
            await using var migrate = connection.CreateCommand();
            migrate.Transaction = transaction;
            migrate.CommandText = Migrations[step] + "\nDELETE FROM ledger_schema_version;\nINSERT INTO ledger_schema_version (version) VALUES (@version);";
            migrate.Parameters.AddWithValue("version", step + 1);
            await migrate.ExecuteNonQueryAsync(cancellationToken);
            LogMigrationApplied(_logger, Target, step + 1);
        }

        await using (var schema = connection.CreateCommand())
        {
            schema.Transaction = transaction;
            schema.CommandText = "SELECT current_schema();";
            NotifyChannel = ChannelFor((string?)await schema.ExecuteScalarAsync(cancellationToken) ?? "public");
        }

        await transaction.CommitAsync(cancellationToken);
        LogLedgerReady(_logger, Target, SchemaVersion);
    }

    /// <summary>
    /// The channel this ledger's events are announced on (<c>NOTIFY</c>, <see cref="Events.PostgresChangeListener"/>).
    /// Channels are one namespace per database, while ledgers are one per schema: the schema is in the name, so two
    /// ledgers in one database (a staging and a test gateway, or one schema per test) never hear each other. Set by
    /// <see cref="InitializeAsync"/>.
    /// </summary>
    public string NotifyChannel { get; private set; } = ChannelFor("public");

    // PostgreSQL cuts identifiers at 63 bytes (NAMEDATALEN - 1, https://www.postgresql.org/docs/15/sql-syntax-lexical.html):
    // a longer schema name is replaced by a hash of it.
    private static string ChannelFor(string schema)
    {
        const string prefix = "kling_gateway_events:";
        var name = prefix + schema;
        return System.Text.Encoding.UTF8.GetByteCount(name) <= 63
            ? name
            : prefix + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(schema)))[..32];
    }

    /// <summary>
    /// <c>pg_notify</c> in the change's own transaction: PostgreSQL delivers it to every listener when, and only if, the
    /// transaction commits (https://www.postgresql.org/docs/15/sql-notify.html). The payload is the event's sequence.
    /// </summary>
    protected override async Task NotifyAsync(DbConnection connection, DbTransaction? transaction, long sequence, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT pg_notify(@channel, @payload);";
        Add(command, "@channel", NotifyChannel);
        Add(command, "@payload", sequence.ToString(CultureInfo.InvariantCulture));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            // Reads the table, not just the server: an unmigrated ledger is not ready.
            command.CommandText = "SELECT 1 FROM generations LIMIT 1;";
            await command.ExecuteScalarAsync(cancellationToken);
            return true;
        }
        catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException)
        {
            LogUnreachable(_logger, Target, exception.Message);
            return false;
        }
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    // Replicas claiming due refreshes or downloads at once skip each other's rows rather than queue behind them.
    protected override string SkipLocked => "FOR UPDATE SKIP LOCKED";

    protected override async Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            // Held until the transaction ends. Read committed then shows this admission every row an earlier holder
            // committed, so the check it makes next is against the true state.
            command.CommandText = "SELECT pg_advisory_xact_lock(hashtextextended(@client, 0));";
            Add(command, "@client", client);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information,
        Message = "Ledger migrated PostgreSQL {LedgerTarget} to schema version {SchemaVersion}")]
    private static partial void LogMigrationApplied(ILogger logger, string ledgerTarget, int schemaVersion);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information,
        Message = "Ledger ready in PostgreSQL {LedgerTarget}, schema version {SchemaVersion}")]
    private static partial void LogLedgerReady(ILogger logger, string ledgerTarget, int schemaVersion);

    // The message only: an exception's data can carry connection details.
    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning,
        Message = "Ledger in PostgreSQL {LedgerTarget} is not reachable: {Reason}")]
    private static partial void LogUnreachable(ILogger logger, string ledgerTarget, string reason);
}
