namespace KlingGateway.Tests.Generations;

/// <summary>
/// What a test of gateway replicas on one PostgreSQL ledger holds: a schema of its own (when PostgreSQL is there, see
/// <see cref="PostgresDatabase"/>) and the gateways it started, all stopped and dropped after the test.
/// </summary>
internal sealed class SharedLedgerHosts
{
    private readonly List<GatewayFactory> _gateways = [];

    /// <summary>The test's schema; null when PostgreSQL is not there (the test reports itself skipped).</summary>
    public PostgresDatabase? Database { get; private set; }

    public async Task InitializeAsync() => Database = await PostgresDatabase.CreateIfAvailableAsync();

    /// <summary>Stops the gateway with the others after the test.</summary>
    public GatewayFactory Add(GatewayFactory gateway)
    {
        _gateways.Add(gateway);
        return gateway;
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await ((IAsyncLifetime)gateway).DisposeAsync();
        }

        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
    }
}
