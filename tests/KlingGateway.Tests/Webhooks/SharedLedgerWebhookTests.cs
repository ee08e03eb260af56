using KlingGateway.Tests.Access;
using KlingGateway.Tests.Generations;
using KlingGateway.Tests.Lifecycle;

namespace KlingGateway.Tests.Webhooks;

/// <summary>
/// Two replicas on one PostgreSQL ledger send one outbox: each delivery is claimed by one of them, so every event reaches
/// the receiver once (at least once: a second send would take a lease running out first), in order per generation.
/// </summary>
public sealed class SharedLedgerWebhookTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];
    private PostgresDatabase? _database;
    private WebhookReceiver? _receiver;

    public async Task InitializeAsync()
    {
        if (PostgresDatabase.WhyUnavailable is null)
        {
            _database = await PostgresDatabase.CreateAsync();
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await AccessHosts.StopAsync(gateway);
        }

        if (_receiver is not null)
        {
            await _receiver.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [PostgresFact]
    public async Task TwoReplicas_SendEachEventOnce_InOrderPerGeneration()
    {
        var secret = WebhookReceiver.NewSecret();
        _receiver = await WebhookReceiver.StartAsync(secret);
        (string, string?)[] settings =
        [
            ("Ledger:Provider", "postgres"),
            ("Ledger:ConnectionString", _database!.ConnectionString),
            ("Webhooks:AllowedAddressRanges:0", "127.0.0.0/8"),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Url", _receiver.Url()),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0", secret),
        ];
        var first = await AccessHosts.StartAsync(AccessHosts.Settings(settings));
        _gateways.Add(first);
        var second = await AccessHosts.StartAsync(AccessHosts.Settings([.. settings, ("AimlApi:BaseUrl", first.SimulatorAddress)]));
        _gateways.Add(second);
        var clients = new[] { AccessHosts.Client(first, AccessHosts.AlphaKey), AccessHosts.Client(second, AccessHosts.AlphaKey) };

        var ids = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add(await AccessHosts.CreatedIdAsync(clients[i % 2], AccessHosts.Body(directives: "queued=0.3,generating=0.3")));
        }

        var delivered = await LifecycleHelpers.WaitForAsync(() => Task.FromResult<List<Receipt>?>(_receiver.Delivered),
            receipts => ids.All(id => receipts.Any(r => r.GenerationId == id && r.Type == "generation.video_stored")),
            "every generation's last event", TimeSpan.FromSeconds(60));

        Assert.Equal(delivered.Count, delivered.Select(r => r.Id).Distinct().Count());
        Assert.Equal(_receiver.Arrivals.Count, delivered.Count);
        var events = (long)(await _database.ScalarAsync("SELECT COUNT(*) FROM generation_events;"))!;
        Assert.Equal(events, delivered.Count);
        foreach (var id in ids)
        {
            var versions = delivered.Where(r => r.GenerationId == id).Select(r => r.Json.GetProperty("data").GetProperty("updated_at").GetString()).ToList();
            Assert.Equal(versions.Order(StringComparer.Ordinal), versions);
        }
    }
}
