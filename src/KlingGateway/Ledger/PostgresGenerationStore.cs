using KlingGateway.Events;
using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Ledger;

/// <summary>
/// The ledger in PostgreSQL (<c>Ledger:Provider</c> = <c>postgres</c>), so several gateway replicas share generations,
/// budgets and idempotency keys (<see cref="PostgresLedgerDatabase"/>).
/// </summary>
public sealed class PostgresGenerationStore : SqlLedgerStore, IAsyncDisposable, IDisposable
{
    private readonly PostgresLedgerDatabase _database;

    public PostgresGenerationStore(IOptions<LedgerOptions> options, ILogger<PostgresGenerationStore> logger, ChangeFeed? feed = null)
        : this(options.Value.ConnectionString ?? throw new InvalidOperationException("Ledger:ConnectionString is required for PostgreSQL."), logger, feed)
    {
    }

    internal PostgresGenerationStore(string connectionString, ILogger<PostgresGenerationStore> logger, ChangeFeed? feed = null)
        : this(new PostgresLedgerDatabase(connectionString), logger, feed)
    {
    }

    private PostgresGenerationStore(PostgresLedgerDatabase database, ILogger logger, ChangeFeed? feed)
        : base(database, logger, feed)
    {
        _database = database;
    }

    /// <summary>Host, port and database, safe to log (no user name or password).</summary>
    public string Target => _database.Target;

    /// <summary>The schema version this build creates and understands.</summary>
    public static int SchemaVersion => LedgerSchema.Postgres.Count;

    /// <summary>
    /// The channel this ledger's events are announced on (<c>NOTIFY</c>, <see cref="PostgresChangeListener"/>), with
    /// the schema in its name. Set by <see cref="SqlLedgerStore.InitializeAsync"/>.
    /// </summary>
    public string NotifyChannel => _database.NotifyChannel;

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    public void Dispose() => _database.Dispose();
}
