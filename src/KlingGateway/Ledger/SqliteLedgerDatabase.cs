using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace KlingGateway.Ledger;

/// <summary>
/// The ledger in one SQLite file: connections and their settings, the schema version in <c>PRAGMA user_version</c>,
/// and writes committed in groups by one writer at a time (<see cref="SqliteWriteQueue"/>).
/// </summary>
/// <remarks>
/// A connection per read (Microsoft.Data.Sqlite pools them). WAL lets readers run beside the one writer. Another process
/// on the same file is kept out by SQLite's own lock and busy timeout. An admission's per-client lock is SQLite's write
/// lock (BEGIN IMMEDIATE): stronger than needed, since it serializes every client's admissions, but a file has one
/// writer at a time anyway.
/// </remarks>
internal sealed class SqliteLedgerDatabase : LedgerDatabase, IDisposable
{
    // How long a statement waits for another connection's write lock before failing.
    private const int BusyTimeoutMilliseconds = 5000;

    private readonly string _connectionString;

    // Readiness opens the file afresh: a pooled connection keeps a deleted or unmounted file readable.
    private readonly string _probeConnectionString;

    private readonly ILogger _logger;
    private readonly SqliteCheckpoints _checkpoints;
    private readonly SqliteWriteQueue _writes;

    public SqliteLedgerDatabase(string fullPath, ILogger logger, SqliteCheckpointPolicy? checkpoints)
    {
        Target = fullPath;
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
        _checkpoints = new SqliteCheckpoints(
            checkpoints ?? SqliteCheckpointPolicy.Default, token => OpenSqliteAsync(forWrites: false, token), fullPath, logger);
        _writes = new SqliteWriteQueue(token => OpenSqliteAsync(forWrites: true, token), _checkpoints);
    }

    /// <summary>The absolute path of the SQLite file.</summary>
    public override string Target { get; }

    public override IReadOnlyList<string> Migrations => LedgerSchema.Sqlite;

    public override async Task<DbConnection> OpenForMigrationAsync(CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Target);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var connection = await OpenSqliteAsync(forWrites: true, cancellationToken);
        try
        {
            // WAL is a property of the file: set once, it stays for every later connection.
            await using var wal = connection.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            var mode = (string?)await wal.ExecuteScalarAsync(cancellationToken);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                LedgerLog.JournalModeNotWal(_logger, Target, mode);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // BEGIN IMMEDIATE takes the write lock first, so two processes starting on one file migrate one after the other.
    public override Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public override async Task<int> ReadSchemaVersionAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version;";
        return LedgerValues.ToInt32(await command.ExecuteScalarAsync(cancellationToken));
    }

    // PRAGMA takes no parameters; the value is this build's own integer.
    public override void AppendSchemaVersion(DbCommand command, int version) =>
        command.CommandText += string.Create(CultureInfo.InvariantCulture, $"\nPRAGMA user_version = {version};");

    public override string TooNew(int version, int known) =>
        $"The ledger at {Target} has schema version {version}, newer than this build knows ({known}). " +
        "Run a newer gateway, or point Ledger:Path at another file.";

    public override async Task<DbConnection> OpenProbeAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_probeConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public override bool IsUnreachable(Exception exception) => exception is SqliteException;

    public override void LogMigrated(ILogger logger, int schemaVersion) => LedgerLog.SqliteMigrated(logger, Target, schemaVersion);

    public override void LogReady(ILogger logger, int schemaVersion) => LedgerLog.SqliteReady(logger, Target, schemaVersion);

    public override void LogUnreachable(ILogger logger, Exception exception) => LedgerLog.SqliteUnreachable(logger, Target, exception);

    /// <summary>
    /// A connection for reads. It skips the writer's pragmas: in WAL mode a read does not take the write lock, and the
    /// rare busy answer (recovery after a crash) is retried by Microsoft.Data.Sqlite itself.
    /// </summary>
    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await OpenSqliteAsync(forWrites: false, cancellationToken);

    // Every write of this process goes through the group writer; its transaction is theirs.
    public override Task<T> WriteAsync<T>(
        string? lockClient, Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _writes.WriteAsync(work, cancellationToken);

    public override Task<T> WriteTransactionAsync<T>(
        Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _writes.WriteAsync(work, cancellationToken);

    // BEGIN IMMEDIATE: the file's write lock is taken before the admission reads, not at its first write. The group
    // writer begins its transactions the same way, so admissions here never come through this.
    public override Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public override StatementLease Statement(DbConnection connection, DbTransaction? transaction, string sql) =>
        _writes.Statement(connection, transaction, sql);

    /// <summary>Closes the writer's and the pooled connections to the file (the last close also checkpoints the WAL).</summary>
    public void Dispose()
    {
        _checkpoints.Stop();
        _writes.Dispose();
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

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
            // whole cache at the end of each transaction (docs/BENCHMARKS.md). Checkpoints: see SqliteCheckpoints; a WAL
            // that grew past its bound (readers kept it from starting over) is cut back when it does.
            var policy = _checkpoints.Policy;
            pragmas.CommandText = string.Create(
                CultureInfo.InvariantCulture,
                $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; "
                + $"PRAGMA wal_autocheckpoint = {policy.WriterAtPages}; PRAGMA journal_size_limit = {policy.WalSizeLimitBytes};");
            await pragmas.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
