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

    private Task<string>? _videoLink;

    /// <summary>
    /// The path and query of a succeeded generation's video link (<c>/v1/generations/{id}/content?token=…</c>), made once:
    /// a generation created, run to its end on the simulator, its video kept.
    /// </summary>
    public Task<string> VideoLinkAsync() => _videoLink ??= MakeVideoLinkAsync();

    private async Task<string> MakeVideoLinkAsync()
    {
        var client = _factory.CreateClient();
        var created = await _factory.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "queued=0,generating=0"));
        var id = created.GetProperty("id").GetString()!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var generation = await GatewayFactory.WaitUntilFinishedAsync(client, id);
            if (generation.TryGetProperty("video", out var video) && video.TryGetProperty("url", out var url) && url.GetString() is { } link)
            {
                var uri = new Uri(link);
                return uri.PathAndQuery;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no video link for {id}: {generation}");
            await Task.Delay(100);
        }
    }

    /// <summary>The log written so far, one JSON event a line.</summary>
    public string[] LogLines() => File.Exists(_factory.LogPath) ? _factory.ReadLog().Split('\n', StringSplitOptions.RemoveEmptyEntries) : [];
}
