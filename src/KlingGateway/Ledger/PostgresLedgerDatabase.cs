using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace KlingGateway.Ledger;

/// <summary>
/// The ledger in PostgreSQL: plain Npgsql over a pooled data source. The schema version lives in
/// <c>ledger_schema_version</c>; migrations run at start in one transaction under an advisory lock, so replicas starting
/// together migrate one after the other. An admission's per-client lock is a transaction-scoped advisory lock on a hash
/// of the client name: admissions of one client serialize across replicas, other clients' do not wait.
/// </summary>
internal sealed class PostgresLedgerDatabase : LedgerDatabase, IAsyncDisposable, IDisposable
{
    // An arbitrary constant naming the migration lock ("KlingLdg" in ASCII).
    private const long MigrationLockId = 0x4B6C696E674C6467;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresLedgerDatabase(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // For logs: where, never who or with what password.
        Target = $"{builder.Host}:{builder.Port}/{builder.Database}";
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    /// <summary>Host, port and database, safe to log (no user name or password).</summary>
    public override string Target { get; }

    /// <summary>
    /// The channel this ledger's events are announced on (<c>NOTIFY</c>). Channels are one namespace per database, while
    /// ledgers are one per schema: the schema is in the name, so two ledgers in one database (a staging and a test
    /// gateway, or one schema per test) never hear each other. Set when the schema is migrated.
    /// </summary>
    public string NotifyChannel { get; private set; } = ChannelFor("public");

    public override IReadOnlyList<string> Migrations => LedgerSchema.Postgres;

    public override async Task<DbConnection> OpenForMigrationAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    public override async Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            await using var setup = connection.CreateCommand();
            setup.Transaction = transaction;
            setup.CommandText = """
                SELECT pg_advisory_xact_lock(@lock);
                CREATE TABLE IF NOT EXISTS ledger_schema_version (version integer NOT NULL);
                """;
            LedgerValues.Add(setup, "@lock", MigrationLockId);
            await setup.ExecuteNonQueryAsync(cancellationToken);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    public override async Task<int> ReadSchemaVersionAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var read = connection.CreateCommand();
        read.Transaction = transaction;
        read.CommandText = "SELECT COALESCE(MAX(version), 0) FROM ledger_schema_version;";
        return LedgerValues.ToInt32(await read.ExecuteScalarAsync(cancellationToken));
    }

    public override void AppendSchemaVersion(DbCommand command, int version)
    {
        command.CommandText += "\nDELETE FROM ledger_schema_version;\nINSERT INTO ledger_schema_version (version) VALUES (@version);";
        LedgerValues.Add(command, "@version", version);
    }

    public override async Task AfterMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var schema = connection.CreateCommand();
        schema.Transaction = transaction;
        schema.CommandText = "SELECT current_schema();";
        NotifyChannel = ChannelFor((string?)await schema.ExecuteScalarAsync(cancellationToken) ?? "public");
    }

    public override string TooNew(int version, int known) =>
        $"The PostgreSQL ledger at {Target} has schema version {version}, newer than this build knows ({known}). " +
        "Run a newer gateway, or point Ledger:ConnectionString at another database.";

    public override async Task<DbConnection> OpenProbeAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    public override bool IsUnreachable(Exception exception) => exception is NpgsqlException or InvalidOperationException;

    public override void LogMigrated(ILogger logger, int schemaVersion) => LedgerLog.PostgresMigrated(logger, Target, schemaVersion);

    public override void LogReady(ILogger logger, int schemaVersion) => LedgerLog.PostgresReady(logger, Target, schemaVersion);

    // The message only: an exception's data can carry connection details.
    public override void LogUnreachable(ILogger logger, Exception exception) => LedgerLog.PostgresUnreachable(logger, Target, exception.Message);

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    // Replicas claiming due refreshes or downloads at once skip each other's rows rather than queue behind them.
    public override string SkipLocked => "FOR UPDATE SKIP LOCKED";

    public override async Task<DbTransaction> BeginClientLockAsync(DbConnection connection, string client, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        try
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            // Held until the transaction ends. Read committed then shows this admission every row an earlier holder
            // committed, so the check it makes next is against the true state.
            command.CommandText = "SELECT pg_advisory_xact_lock(hashtextextended(@client, 0));";
            LedgerValues.Add(command, "@client", client);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// <c>pg_notify</c> in the change's own transaction: PostgreSQL delivers it to every listener when, and only if, the
    /// transaction commits (https://www.postgresql.org/docs/15/sql-notify.html). The payload is the event's sequence.
    /// </summary>
    public override async Task NotifyAsync(DbConnection connection, DbTransaction? transaction, long sequence, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT pg_notify(@channel, @payload);";
        LedgerValues.Add(command, "@channel", NotifyChannel);
        LedgerValues.Add(command, "@payload", sequence.ToString(CultureInfo.InvariantCulture));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();

    // PostgreSQL cuts identifiers at 63 bytes (NAMEDATALEN - 1, https://www.postgresql.org/docs/15/sql-syntax-lexical.html):
    // a longer schema name is replaced by a hash of it.
    private static string ChannelFor(string schema)
    {
        const string prefix = "kling_gateway_events:";
        var name = prefix + schema;
        return Encoding.UTF8.GetByteCount(name) <= 63
            ? name
            : prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(schema)))[..32];
    }
}
