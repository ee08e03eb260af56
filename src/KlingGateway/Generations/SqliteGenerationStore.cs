using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>
/// The ledger in one SQLite file, the embedded default, with the SQL shared with PostgreSQL (<see cref="SqlLedgerStore"/>).
/// </summary>
/// <remarks>
/// A connection per operation (Microsoft.Data.Sqlite pools them). WAL lets readers run beside the one writer;
/// concurrent writers wait on SQLite's own lock through the busy timeout rather than a process-wide lock here.
/// An admission's per-client lock is SQLite's write lock (BEGIN IMMEDIATE): stronger than needed, since it
/// serializes every client's admissions, but a file has one writer at a time anyway.
/// </remarks>
public sealed partial class SqliteGenerationStore : SqlLedgerStore, IDisposable
{
    // How long a statement waits for another connection's write lock before failing.
    private const int BusyTimeoutMilliseconds = 5000;

    /// <summary>
    /// The schema, one step per version, applied in order from the file's <c>PRAGMA user_version</c>. A change is a new
    /// step at the end; a shipped step is never edited.
    /// </summary>
    private static readonly string[] Migrations =
    [
        // Version 1.
        """
        CREATE TABLE generations (
            id                 TEXT    NOT NULL PRIMARY KEY,
            upstream_id        TEXT,
            model              TEXT    NOT NULL,
            route_family       TEXT    NOT NULL,
            status             TEXT    NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded', 'failed')),
            upstream_status    TEXT,
            video_url          TEXT,
            video_content_type TEXT,
            video_file_name    TEXT,
            video_file_size    INTEGER,
            error_code         TEXT,
            error_message      TEXT,
            credits_used       REAL,
            tokens_used        REAL,
            warnings           TEXT    NOT NULL DEFAULT '[]',
            client_request_id  TEXT,
            external_task_id   TEXT,
            request_summary    TEXT    NOT NULL,
            created_at         TEXT    NOT NULL,
            updated_at         TEXT    NOT NULL,
            completed_at       TEXT,
            refreshed_at       TEXT
        ) STRICT;
        CREATE INDEX ix_generations_created ON generations (created_at DESC, id DESC);
        CREATE INDEX ix_generations_status ON generations (status, created_at DESC, id DESC);
        CREATE INDEX ix_generations_model ON generations (model, created_at DESC, id DESC);
        CREATE INDEX ix_generations_upstream_id ON generations (upstream_id);
        """,

        // Version 2: who owns each generation and what it counts against, and idempotency keys. Rows from before
        // identities existed were made by unauthenticated callers, so they belong to the anonymous client.
        """
        ALTER TABLE generations ADD COLUMN owner_client TEXT NOT NULL DEFAULT 'anonymous';
        ALTER TABLE generations ADD COLUMN owner_user TEXT;
        ALTER TABLE generations ADD COLUMN video_seconds INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX ix_generations_owner ON generations (owner_client, created_at DESC, id DESC);
        CREATE TABLE idempotency_keys (
            client          TEXT    NOT NULL,
            idempotency_key TEXT    NOT NULL,
            request_hash    TEXT    NOT NULL,
            generation_id   TEXT,
            status_code     INTEGER,
            problem_code    TEXT,
            created_at      TEXT    NOT NULL,
            expires_at      TEXT    NOT NULL,
            PRIMARY KEY (client, idempotency_key)
        ) STRICT;
        CREATE INDEX ix_idempotency_keys_expires ON idempotency_keys (expires_at);
        """,
    ];

    private readonly string _connectionString;

    // Readiness opens the file afresh: a pooled connection keeps a deleted or unmounted file readable.
    private readonly string _probeConnectionString;

    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly ILogger<SqliteGenerationStore> _logger;

    public SqliteGenerationStore(
        IOptions<LedgerOptions> options, IHostEnvironment environment, ILogger<SqliteGenerationStore> logger)
        : this(options.Value.ResolveFullPath(environment.ContentRootPath), logger)
    {
    }

    internal SqliteGenerationStore(string fullPath, ILogger<SqliteGenerationStore> logger)
    {
        FullPath = fullPath;
        _logger = logger;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
        }.ToString();
        _probeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString();
    }

    /// <summary>The absolute path of the SQLite file.</summary>
    public string FullPath { get; }

    /// <summary>The schema version this build creates and understands.</summary>
    public static int SchemaVersion => Migrations.Length;

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(FullPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var connection = await OpenSqliteAsync(cancellationToken);

        // WAL is a property of the file: set once, it stays for every later connection.
        await using (var wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            var mode = (string?)await wal.ExecuteScalarAsync(cancellationToken);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                LogJournalModeNotWal(_logger, FullPath, mode);
            }
        }

        // BEGIN IMMEDIATE takes the write lock first, so two processes starting on one file migrate one after the other.
        await using var transaction = connection.BeginTransaction(deferred: false);
        var version = await ReadUserVersionAsync(connection, transaction, cancellationToken);
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The ledger at {FullPath} has schema version {version}, newer than this build knows ({SchemaVersion}). " +
                "Run a newer gateway, or point Ledger:Path at another file.");
        }

        for (var step = version; step < SchemaVersion; step++)
        {
            await using var migrate = connection.CreateCommand();
            migrate.Transaction = transaction;
            // PRAGMA takes no parameters; the value is this build's own integer.
            migrate.CommandText = Migrations[step]
                + string.Create(CultureInfo.InvariantCulture, $"\nPRAGMA user_version = {step + 1};");
            await migrate.ExecuteNonQueryAsync(cancellationToken);
            LogMigrationApplied(_logger, FullPath, step + 1);
        }

        await transaction.CommitAsync(cancellationToken);
        LogLedgerReady(_logger, FullPath, SchemaVersion);
    }

    public override async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new SqliteConnection(_probeConnectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            // Reads the table, not just the file: a missing or unmigrated ledger is not ready.
            command.CommandText = "SELECT 1 FROM generations LIMIT 1;";
            await command.ExecuteScalarAsync(cancellationToken);
            return true;
        }
        catch (SqliteException exception)
        {
            LogUnreachable(_logger, FullPath, exception);
            return false;
        }
    }

    /// <summary>Closes the pooled connections to the file (the last close also checkpoints the WAL).</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) => await OpenSqliteAsync(cancellationToken);

    /// <summary>
    /// SQLite lets one connection write at a time. Writers of this process take turns here, waiting asynchronously,
    /// instead of meeting on the file lock, where SQLite's busy handler sleeps in steps of milliseconds: under load that
    /// sleep, not the microseconds of the write, was most of a create's time (docs/BENCHMARKS.md). Reads never wait
    /// here, and another process on the same file is still kept out by SQLite's own lock and busy timeout.
    /// </summary>
    protected override async ValueTask<WriteTurn> EnterWriteAsync(CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken);
        return new WriteTurn(_writeGate);
    }

    // BEGIN IMMEDIATE: the file's write lock is taken before the admission reads, not at its first write.
    protected override Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    private async Task<SqliteConnection> OpenSqliteAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using var pragmas = connection.CreateCommand();
            // Per-connection settings. NORMAL is durable across process crashes in WAL mode; only a power loss can
            // undo the last commits.
            pragmas.CommandText = string.Create(
                CultureInfo.InvariantCulture,
                $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL;");
            await pragmas.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<int> ReadUserVersionAsync(
        SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version;";
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information,
        Message = "Ledger migrated {LedgerPath} to schema version {SchemaVersion}")]
    private static partial void LogMigrationApplied(ILogger logger, string ledgerPath, int schemaVersion);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information,
        Message = "Ledger ready at {LedgerPath}, schema version {SchemaVersion}")]
    private static partial void LogLedgerReady(ILogger logger, string ledgerPath, int schemaVersion);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} could not switch to WAL; journal mode is {JournalMode}")]
    private static partial void LogJournalModeNotWal(ILogger logger, string ledgerPath, string? journalMode);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} is not reachable")]
    private static partial void LogUnreachable(ILogger logger, string ledgerPath, Exception exception);
}

/// <summary>Source-generated JSON for the columns the ledger stores as JSON text.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IReadOnlyList<GenerationWarning>))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;
