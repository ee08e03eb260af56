using KlingGateway.Events;
using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Ledger;

/// <summary>The ledger in one SQLite file, the embedded default (<see cref="SqliteLedgerDatabase"/>).</summary>
public sealed class SqliteGenerationStore : SqlLedgerStore, IDisposable
{
    private readonly SqliteLedgerDatabase _database;

    public SqliteGenerationStore(
        IOptions<LedgerOptions> options, IHostEnvironment environment, ILogger<SqliteGenerationStore> logger, ChangeFeed? feed = null)
        : this(options.Value.ResolveFullPath(environment.ContentRootPath), logger, feed: feed)
    {
    }

    internal SqliteGenerationStore(
        string fullPath, ILogger<SqliteGenerationStore> logger, SqliteCheckpointPolicy? checkpoints = null, ChangeFeed? feed = null)
        : this(new SqliteLedgerDatabase(fullPath, logger, checkpoints), logger, feed)
    {
    }

    private SqliteGenerationStore(SqliteLedgerDatabase database, ILogger logger, ChangeFeed? feed)
        : base(database, logger, feed)
    {
        _database = database;
    }

    /// <summary>The absolute path of the SQLite file.</summary>
    public string FullPath => _database.Target;

    /// <summary>The schema version this build creates and understands.</summary>
    public static int SchemaVersion => LedgerSchema.Sqlite.Count;

    /// <summary>Closes the writer's and the pooled connections to the file (the last close also checkpoints the WAL).</summary>
    public void Dispose() => _database.Dispose();
}
