using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace KlingGateway.Tests.Hostile;

/// <summary>
/// The gateway as a caller meets it: the real app on a real Kestrel port on loopback (so raw, malformed HTTP reaches
/// Kestrel itself), with the upstream simulator, a SQLite ledger and a log file of its own.
/// </summary>
public class KestrelGateway : IAsyncLifetime
{
    private readonly GatewayFactory _factory;

    public KestrelGateway() : this(new Dictionary<string, string?>())
    {
    }

    protected KestrelGateway(IDictionary<string, string?> settings) => _factory = new GatewayFactory(settings);

    public GatewayFactory Factory => _factory;

    /// <summary>The base address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Bytes the bodies being received hold in the gateway's budget now.</summary>
    public long BufferedBodyBytes => _factory.Services.GetRequiredService<BodyBufferBudget>().Held;

    public async Task InitializeAsync()
    {
        await _factory.InitializeAsync();
        _factory.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        _factory.StartServer();
        Address = new Uri(_factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public Task DisposeAsync() => ((IAsyncLifetime)_factory).DisposeAsync();

    /// <summary>The log written so far, one JSON event a line.</summary>
    public string[] LogLines() => File.Exists(_factory.LogPath) ? _factory.ReadLog().Split('\n', StringSplitOptions.RemoveEmptyEntries) : [];
}
