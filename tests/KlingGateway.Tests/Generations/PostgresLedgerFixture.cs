using KlingGateway.Events;
using KlingGateway.Ledger;
using Microsoft.Extensions.Logging.Abstractions;

namespace KlingGateway.Tests.Generations;

/// <summary>A PostgreSQL ledger in a schema of its own (<see cref="PostgresDatabase"/>), and stores opened on it; all closed and dropped afterwards.</summary>
internal sealed class PostgresLedgerFixture
{
    private readonly List<PostgresGenerationStore> _stores = [];

    /// <summary>The test's schema; null when PostgreSQL is not there (the test reports itself skipped).</summary>
    public PostgresDatabase? Database { get; private set; }

    public async Task InitializeAsync() => Database = await PostgresDatabase.CreateIfAvailableAsync();

    /// <summary>A new store on the schema, not yet initialized.</summary>
    public PostgresGenerationStore Open(ChangeFeed? feed = null)
    {
        var store = new PostgresGenerationStore(Database!.ConnectionString, NullLogger<PostgresGenerationStore>.Instance, feed);
        _stores.Add(store);
        return store;
    }

    public async Task<PostgresGenerationStore> OpenInitializedAsync(ChangeFeed? feed = null)
    {
        var store = Open(feed);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
    }
}
