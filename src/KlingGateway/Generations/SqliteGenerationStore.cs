using System.Collections.Concurrent;
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
/// A connection per read (Microsoft.Data.Sqlite pools them). WAL lets readers run beside the one writer. The writes of
/// this process are committed in groups by one writer at a time, on a connection it keeps (<see cref="WriteAsync{T}"/>); another process on the
/// same file is kept out by SQLite's own lock and busy timeout. An admission's per-client lock is SQLite's write lock
/// (BEGIN IMMEDIATE): stronger than needed, since it serializes every client's admissions, but a file has one writer
/// at a time anyway.
/// </remarks>
public sealed partial class SqliteGenerationStore : SqlLedgerStore, IDisposable
{
    // How long a statement waits for another connection's write lock before failing.
    private const int BusyTimeoutMilliseconds = 5000;

    /// <summary>
    /// The schema, one step per version, applied in order from the file's <c>PRAGMA user_version</c>. A change is a new
    /// step at the end; a shipped step is never edited.
    /// </summary>
    internal static readonly string[] Migrations =
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

        // Version 3: see MigrationSteps.SettlementAndReplay.
        MigrationSteps.SettlementAndReplay,

        // Version 4: each generation runs to its end on its own. The version callers see change, when to ask the upstream
        // next (the refresh lease), the watchdog's mark, the gateway's own copy of the video, and the secret video links
        // are signed with. Unfinished generations are due at once; succeeded ones from before get their video downloaded.
        """
        ALTER TABLE generations ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN next_refresh_at TEXT;
        ALTER TABLE generations ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN deadline_passed_at TEXT;
        ALTER TABLE generations ADD COLUMN video_state TEXT CHECK (video_state IN ('pending', 'stored', 'failed', 'expired'));
        ALTER TABLE generations ADD COLUMN video_attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN video_next_attempt_at TEXT;
        ALTER TABLE generations ADD COLUMN video_key TEXT;
        ALTER TABLE generations ADD COLUMN video_stored_size INTEGER;
        ALTER TABLE generations ADD COLUMN video_stored_type TEXT;
        ALTER TABLE generations ADD COLUMN video_sha256 TEXT;
        ALTER TABLE generations ADD COLUMN video_stored_at TEXT;
        ALTER TABLE generations ADD COLUMN video_error TEXT;
        UPDATE generations SET next_refresh_at = COALESCE(refreshed_at, created_at)
        WHERE status IN ('queued', 'processing') AND upstream_id IS NOT NULL;
        UPDATE generations SET video_state = 'pending', video_next_attempt_at = COALESCE(completed_at, updated_at)
        WHERE status = 'succeeded' AND video_url IS NOT NULL;
        CREATE INDEX ix_generations_next_refresh ON generations (next_refresh_at) WHERE next_refresh_at IS NOT NULL;
        CREATE INDEX ix_generations_video_due ON generations (video_next_attempt_at) WHERE video_state = 'pending';
        CREATE INDEX ix_generations_video_kept ON generations (completed_at) WHERE video_state IN ('pending', 'stored', 'failed');
        CREATE TABLE gateway_secrets (
            name  TEXT NOT NULL PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT;
        """,

        // Version 5: the event log, the webhook outbox and the callback URL (Events/EventMigrations.cs).
        Events.EventMigrations.Sqlite,
    ];

    private readonly string _connectionString;

    // Readiness opens the file afresh: a pooled connection keeps a deleted or unmounted file readable.
    private readonly string _probeConnectionString;

    // The most writes one group commits, so one transaction stays short when the queue is long.
    private const int MaxGroup = 256;

    // The writes waiting for the next group, and 1 while a writer is taking groups from it.
    private readonly ConcurrentQueue<QueuedWrite> _writes = new();
    private int _writing;

    // The group writer's own connection, opened (with its pragmas) once and kept: only the one running writer uses it.
    // A group that fails closes it, so the next group starts on a fresh connection. Its statements are prepared once
    // and kept with it: parsing the insert cost more than running it (docs/BENCHMARKS.md).
    private SqliteConnection? _writer;
    private readonly Dictionary<string, SqliteCommand> _writerStatements = new(StringComparer.Ordinal);

    // The writes' statements are constants; a bound keeps a statement built per call from growing the cache. Room for the
    // ledger's, the event log's and the webhook outbox's.
    private const int MaxWriterStatements = 64;

    // Checkpoints. SQLite's automatic checkpoint runs in the commit that crosses its bound (1,000 WAL pages by default),
    // so one group (and every write queued behind it) waited while the WAL was copied into the file: most of the
    // create's p99 at 1,000 a second (bench/FINDINGS.md). Now, after every few commits, a PASSIVE checkpoint copies on a
    // connection of its own while writes go on. SQLite's checkpoint on the writer stays, past a larger bound, and finds
    // nearly everything copied already. It is still needed: SQLite starts the WAL over only after a checkpoint that no
    // commit overtook, which under steady writes only the writer's own is; and it bounds the WAL when the background
    // one falls behind. 1 in _checkpointing while a background checkpoint runs, and for good once the store is disposed.
    private readonly CheckpointPolicy _checkpoints;
    private int _commitsSinceCheckpoint;
    private int _checkpointing;
    private int _disposed;

    private readonly ILogger<SqliteGenerationStore> _logger;

    public SqliteGenerationStore(
        IOptions<LedgerOptions> options, IHostEnvironment environment, ILogger<SqliteGenerationStore> logger, Events.ChangeFeed? feed = null)
        : this(options.Value.ResolveFullPath(environment.ContentRootPath), logger, feed: feed)
    {
    }

    internal SqliteGenerationStore(
        string fullPath, ILogger<SqliteGenerationStore> logger, CheckpointPolicy? checkpoints = null, Events.ChangeFeed? feed = null)
        : base(feed)
    {
        FullPath = fullPath;
        _logger = logger;
        _checkpoints = checkpoints ?? CheckpointPolicy.Default;
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

    // One writer per file, so an event's sequence is visible only after every lower one.
    public override bool CommitsInSequence => true;

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

        await using var connection = await OpenSqliteAsync(forWrites: true, cancellationToken);

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

    /// <summary>Closes the writer's and the pooled connections to the file (the last close also checkpoints the WAL).</summary>
    public void Dispose()
    {
        // Waits out a background checkpoint and lets no new one start, so none opens a connection after the pool is
        // cleared. Once only: the flag stays taken.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            SpinWait.SpinUntil(() => Interlocked.CompareExchange(ref _checkpointing, 1, 0) == 0);
        }

        CloseWriter();
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private void CloseWriter()
    {
        var writer = Interlocked.Exchange(ref _writer, null);
        if (writer is null)
        {
            return;
        }

        foreach (var command in _writerStatements.Values)
        {
            command.Dispose();
        }

        _writerStatements.Clear();
        writer.Dispose();
    }

    /// <summary>On the writer's connection, the statement's prepared command, kept for the next write; elsewhere a new one.</summary>
    protected override StatementLease Statement(DbConnection connection, DbTransaction? transaction, string sql)
    {
        if (!ReferenceEquals(connection, _writer))
        {
            return base.Statement(connection, transaction, sql);
        }

        if (!_writerStatements.TryGetValue(sql, out var command))
        {
            if (_writerStatements.Count >= MaxWriterStatements)
            {
                return base.Statement(connection, transaction, sql);
            }

            command = _writer.CreateCommand();
            command.CommandText = sql;
            _writerStatements.Add(sql, command);
        }

        command.Transaction = (SqliteTransaction?)transaction;
        command.Parameters.Clear();
        return new StatementLease(command, owned: false);
    }

    /// <summary>
    /// A connection for reads. It skips the writer's pragmas: in WAL mode a read does not take the write lock, and the
    /// rare busy answer (recovery after a crash) is retried by Microsoft.Data.Sqlite itself.
    /// </summary>
    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await OpenSqliteAsync(forWrites: false, cancellationToken);

    /// <summary>
    /// SQLite lets one connection write at a time, and a commit costs far more than the microseconds of a write. So the
    /// writes of this process queue here and one writer commits all that are waiting together: one BEGIN IMMEDIATE,
    /// the writes one after another in arrival order with a savepoint each, one COMMIT. A write that throws is rolled
    /// back to its savepoint and fails its caller alone; the others land. Each runs under the file's write lock and
    /// sees the writes before it, so an admission's read-then-insert is as exclusive as in a transaction of its own.
    /// Writers wait asynchronously, never in SQLite's busy handler, which sleeps in steps of milliseconds
    /// (docs/BENCHMARKS.md). A caller cancelled before its write starts is taken out of the queue; reads never wait here.
    /// </summary>
    protected override Task<T> WriteAsync<T>(
        string? lockClient, Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        var write = new QueuedWrite<T>(work, cancellationToken);
        _writes.Enqueue(write);
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            _ = Task.Run(WriteGroupsAsync, CancellationToken.None);
        }

        return write.Task;
    }

    /// <summary>Commits groups until the queue is empty; only one runs at a time.</summary>
    private async Task WriteGroupsAsync()
    {
        var group = new List<QueuedWrite>();
        while (true)
        {
            while (group.Count < MaxGroup && _writes.TryDequeue(out var write))
            {
                if (write.TryStart())
                {
                    group.Add(write);
                }
            }

            if (group.Count == 0)
            {
                Volatile.Write(ref _writing, 0);
                // A write queued after the last look but before the flag dropped would otherwise wait for nobody.
                if (_writes.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            if (await CommitGroupAsync(group) && ++_commitsSinceCheckpoint >= _checkpoints.EveryCommits
                && Interlocked.CompareExchange(ref _checkpointing, 1, 0) == 0)
            {
                _commitsSinceCheckpoint = 0;
                _ = Task.Run(CheckpointAsync, CancellationToken.None);
            }

            group.Clear();
        }
    }

    /// <summary>Copies what the WAL holds into the file on its own connection, without waiting for the writer or readers.</summary>
    private async Task CheckpointAsync()
    {
        try
        {
            await using var connection = await OpenSqliteAsync(forWrites: false, CancellationToken.None);
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            await command.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (SqliteException exception)
        {
            // Nothing is lost: the pages stay in the WAL, and the next checkpoint copies them.
            LogCheckpointFailed(_logger, FullPath, exception);
        }
        finally
        {
            Volatile.Write(ref _checkpointing, 0);
        }
    }

    /// <summary>Runs the group in one transaction and completes every caller; never throws. False when the group failed.</summary>
    private async Task<bool> CommitGroupAsync(List<QueuedWrite> group)
    {
        try
        {
            var connection = _writer ??= await OpenSqliteAsync(forWrites: true, CancellationToken.None);
            await using var transaction = connection.BeginTransaction(deferred: false);
            var landed = new List<QueuedWrite>(group.Count);
            foreach (var write in group)
            {
                // The savepoints are kept statements too: SqliteTransaction.Save and Release parse theirs on every call.
                await RunKeptAsync(connection, transaction, "SAVEPOINT write;");
                try
                {
                    await write.RunAsync(connection, transaction);
                }
                catch (Exception exception)
                {
                    // Undoes this write only. If SQLite has already rolled the whole transaction back (a full disk, an
                    // I/O error), this throws and the group fails below.
                    await RunKeptAsync(connection, transaction, "ROLLBACK TO write;");
                    await RunKeptAsync(connection, transaction, "RELEASE write;");
                    write.Fail(exception);
                    continue;
                }

                await RunKeptAsync(connection, transaction, "RELEASE write;");
                landed.Add(write);
            }

            await transaction.CommitAsync(CancellationToken.None);
            foreach (var write in landed)
            {
                write.Succeed();
            }

            return true;
        }
        catch (Exception exception)
        {
            // The connection may be what failed (a full disk, the file gone): the next group opens a new one.
            CloseWriter();

            // Nothing of the group was committed: every caller not yet answered fails with the group's error.
            foreach (var write in group)
            {
                write.Fail(exception);
            }

            return false;
        }
    }

    private async Task RunKeptAsync(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        await using var statement = Statement(connection, transaction, sql);
        await statement.Command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    /// <summary>A caller's write waiting in the queue, and its completion.</summary>
    private abstract class QueuedWrite
    {
        private const int Waiting = 0, Started = 1, Canceled = 2;
        private int _state;

        /// <summary>Claims the write for a group; false when its caller was cancelled first.</summary>
        public bool TryStart() => Interlocked.CompareExchange(ref _state, Started, Waiting) == Waiting;

        public abstract Task RunAsync(SqliteConnection connection, SqliteTransaction transaction);

        public abstract void Succeed();

        public abstract void Fail(Exception exception);

        protected bool TryCancel() => Interlocked.CompareExchange(ref _state, Canceled, Waiting) == Waiting;
    }

    private sealed class QueuedWrite<T> : QueuedWrite
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> _work;
        private readonly CancellationToken _cancellationToken;
        private readonly CancellationTokenRegistration _registration;
        private T _result = default!;

        public QueuedWrite(Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
        {
            _work = work;
            _cancellationToken = cancellationToken;
            _registration = cancellationToken.Register(static state => ((QueuedWrite<T>)state!).Cancel(), this);
        }

        public Task<T> Task => _completion.Task;

        // Its statements still see the caller's token, so a cancel while it runs rolls back to its savepoint.
        public override async Task RunAsync(SqliteConnection connection, SqliteTransaction transaction) =>
            _result = await _work(connection, transaction, _cancellationToken);

        public override void Succeed()
        {
            _registration.Dispose();
            _completion.TrySetResult(_result);
        }

        public override void Fail(Exception exception)
        {
            _registration.Dispose();
            if (exception is OperationCanceledException && _cancellationToken.IsCancellationRequested)
            {
                _completion.TrySetCanceled(_cancellationToken);
            }
            else
            {
                _completion.TrySetException(exception);
            }
        }

        private void Cancel()
        {
            if (TryCancel())
            {
                _completion.TrySetCanceled(_cancellationToken);
            }
        }
    }

    // Changes and claims go through the group writer like every write: its transaction is theirs.
    protected override Task<T> WriteTransactionAsync<T>(
        Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        WriteAsync(null, work, cancellationToken);

    // BEGIN IMMEDIATE: the file's write lock is taken before the admission reads, not at its first write. The group
    // writer begins its transactions the same way, so admissions here never come through this.
    protected override Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    /// <summary>An open connection; one <paramref name="forWrites"/> (the writer's, the migration's) with the writer's pragmas.</summary>
    private async Task<SqliteConnection> OpenSqliteAsync(bool forWrites, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            if (!forWrites)
            {
                return connection;
            }

            await using var pragmas = connection.CreateCommand();
            // Per-connection settings. NORMAL is durable across process crashes in WAL mode; only a power loss can
            // undo the last commits. Each write of a group runs in a savepoint, whose undo journal SQLite would
            // otherwise keep in a temporary file opened, written and deleted per write; in memory it costs a copy.
            // The page cache stays at SQLite's default: a larger one made every commit slower, as SQLite walks the
            // whole cache at the end of each transaction (docs/BENCHMARKS.md). Checkpoints: see CheckpointPolicy; a WAL
            // that grew past its bound (readers kept it from starting over) is cut back when it does.
            pragmas.CommandText = string.Create(
                CultureInfo.InvariantCulture,
                $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; "
                + $"PRAGMA wal_autocheckpoint = {_checkpoints.WriterAtPages}; PRAGMA journal_size_limit = {_checkpoints.WalSizeLimitBytes};");
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

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} could not checkpoint its WAL; it is kept and tried again")]
    private static partial void LogCheckpointFailed(ILogger logger, string ledgerPath, Exception exception);

    /// <summary>
    /// When the store checkpoints its WAL: in the background after every <paramref name="EveryCommits"/> commits, and on
    /// the writer (SQLite's own checkpoint) once the WAL holds <paramref name="WriterAtPages"/> pages.
    /// </summary>
    internal sealed record CheckpointPolicy(int EveryCommits, int WriterAtPages)
    {
        // Measured at 1,000 creates a second (bench/FINDINGS.md): the writer's at 16,384 pages (64 MiB of 4 KiB pages)
        // took the p99 from about 8 ms to 4-5 ms; at 4,096 pages it was 6-7 ms. The background one every 20 commits
        // (a tenth of a second of creates at that rate) leaves the writer's little to copy.
        public static readonly CheckpointPolicy Default = new(EveryCommits: 20, WriterAtPages: 16_384);

        /// <summary>The size a WAL that grew past twice its bound is cut back to when it starts over.</summary>
        public long WalSizeLimitBytes => 2L * WriterAtPages * 4096;
    }
}

/// <summary>Source-generated JSON for the columns the ledger stores as JSON text.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IReadOnlyList<GenerationWarning>))]
[JsonSerializable(typeof(StoredProblem))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;
