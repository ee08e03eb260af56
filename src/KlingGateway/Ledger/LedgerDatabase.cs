using System.Data.Common;

namespace KlingGateway.Ledger;

/// <summary>
/// What differs between the databases the ledger runs on: connections, how writes are committed, the per-client
/// admission lock, the schema's steps and where its version is kept, and the change notice. Every statement of the
/// ledger's tables is written once, against this (<see cref="SqlLedgerStore"/> and the classes it is made of);
/// <see cref="SqliteLedgerDatabase"/> and <see cref="PostgresLedgerDatabase"/> fill it in.
/// </summary>
internal abstract class LedgerDatabase
{
    /// <summary>Where the ledger is, safe to log: a file path, or host, port and database (never a user or password).</summary>
    public abstract string Target { get; }

    // ---- Schema (LedgerMigrator) ----

    /// <summary>The schema, one step per version, applied in order. A change is a new step at the end; a shipped step is never edited.</summary>
    public abstract IReadOnlyList<string> Migrations { get; }

    /// <summary>The connection the migrations run on, with whatever the database needs set first (SQLite: WAL).</summary>
    public abstract Task<DbConnection> OpenForMigrationAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The migration's transaction, holding a lock no other process migrating the same ledger can hold, so gateways
    /// starting together migrate one after the other.
    /// </summary>
    public abstract Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>The schema version the ledger is at (0 for a new one), read in the migration's transaction.</summary>
    public abstract Task<int> ReadSchemaVersionAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Makes <paramref name="command"/>, one step's statements, also record that the ledger is now at <paramref name="version"/>.</summary>
    public abstract void AppendSchemaVersion(DbCommand command, int version);

    /// <summary>Runs in the migration's transaction after the last step; reads what the store needs to know of its schema.</summary>
    public virtual Task AfterMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <summary>The refusal of a ledger newer than this build: where it is, and the setting that points elsewhere.</summary>
    public abstract string TooNew(int version, int known);

    // ---- Readiness (LedgerReadiness) ----

    /// <summary>A connection that proves the ledger is there now (not one a pool kept open to a file since deleted).</summary>
    public abstract Task<DbConnection> OpenProbeAsync(CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="exception"/>, thrown by the probe, means the ledger cannot be reached.</summary>
    public abstract bool IsUnreachable(Exception exception);

    // ---- Log events (LedgerLog), each database with its own ids ----

    public abstract void LogMigrated(ILogger logger, int schemaVersion);

    public abstract void LogReady(ILogger logger, int schemaVersion);

    public abstract void LogUnreachable(ILogger logger, Exception exception);

    // ---- Reads and writes ----

    /// <summary>An open connection for reads, with the database's per-connection settings applied.</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Runs one write: <paramref name="work"/> runs its statements on the connection, with the transaction given (set
    /// it on every command), and neither commits nor rolls back; what it returns, or throws, is the caller's. The
    /// default opens a connection for it. With <paramref name="lockClient"/>, the work runs in a transaction from
    /// <see cref="BeginClientLockAsync"/> that is committed after it returns; without, its statements commit one by
    /// one (the transaction given is null). SQLite has one writer per file and commits the writes waiting together
    /// (<see cref="SqliteWriteQueue"/>).
    /// </summary>
    public virtual async Task<T> WriteAsync<T>(
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
    /// Runs <paramref name="work"/> in one transaction of its own (set it on every command) and commits it. SQLite runs
    /// it in the group writer's transaction (<see cref="SqliteWriteQueue"/>), which commits it with its group.
    /// </summary>
    public virtual async Task<T> WriteTransactionAsync<T>(
        Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);

        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var result = await work(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>
    /// A transaction that holds a lock no other admission for <paramref name="client"/> (on any replica) can hold at
    /// the same time, until it commits or rolls back.
    /// </summary>
    public abstract Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken);

    /// <summary>
    /// A command for one statement of a write, on the write's connection and transaction, with no parameters yet. The
    /// default is a new command, disposed with the lease; SQLite's writer hands out the prepared ones it keeps
    /// (<see cref="SqliteStatementCache"/>), which the lease then leaves alone.
    /// </summary>
    public virtual StatementLease Statement(DbConnection connection, DbTransaction? transaction, string sql) =>
        StatementLease.New(connection, transaction, sql);

    /// <summary>
    /// A lock clause for the claims' inner select, so replicas claiming at once pass over each other's rows instead of
    /// waiting for them; empty where the database has one writer anyway.
    /// </summary>
    public virtual string SkipLocked => "";

    /// <summary>
    /// Sends a notice of the event once the transaction commits; PostgreSQL's <c>NOTIFY</c> does exactly that
    /// (<see cref="PostgresLedgerDatabase"/>). Nothing elsewhere: SQLite has one replica, told in process.
    /// </summary>
    public virtual Task NotifyAsync(DbConnection connection, DbTransaction? transaction, long sequence, CancellationToken cancellationToken) =>
        Task.CompletedTask;
}

/// <summary>A write's command, disposed at the end of the lease unless the database keeps it.</summary>
internal readonly struct StatementLease(DbCommand command, bool owned) : IAsyncDisposable
{
    public DbCommand Command { get; } = command;

    /// <summary>A new command of its own, disposed with the lease.</summary>
    public static StatementLease New(DbConnection connection, DbTransaction? transaction, string sql)
    {
        ArgumentNullException.ThrowIfNull(connection);

        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return new StatementLease(command, owned: true);
    }

    public ValueTask DisposeAsync() => owned ? Command.DisposeAsync() : ValueTask.CompletedTask;
}
