using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static KlingGateway.Tests.Access.AccessHosts;
using static KlingGateway.Tests.Lifecycle.LifecycleHelpers;

namespace KlingGateway.Tests.Browser;

/// <summary>
/// A real browser's <c>&lt;video src="{video.url}"&gt;</c>, with no credentials (anonymous callers are off): the stored video,
/// and one streamed through the gateway from its source while storage is off. Each loads and reports its duration.
/// </summary>
public sealed class VideoElementTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumFactAttribute.Executable))
        {
            return;
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumFactAttribute.Executable,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        foreach (var gateway in _gateways)
        {
            await StopAsync(gateway);
        }
    }

    [ChromiumFact]
    public async Task AStoredVideo_PlaysFromItsLink_AndReportsItsDuration()
    {
        var (baseAddress, url) = await FinishedVideoAsync("stored");

        var duration = await PlayAsync(baseAddress, url, "stored");

        Assert.InRange(duration, 0.1, 60);
    }

    [ChromiumFact]
    public async Task WithStorageOff_AVideoStreamedThroughTheGateway_PlaysAndReportsItsDuration()
    {
        var (baseAddress, url) = await FinishedVideoAsync("not_kept", ("Storage:Enabled", "false"));

        var duration = await PlayAsync(baseAddress, url, "streamed");

        Assert.InRange(duration, 0.1, 60);
    }

    /// <summary>A gateway on a real loopback port (a browser cannot reach the in-memory test server) and alpha's finished video.</summary>
    private async Task<(string BaseAddress, string Url)> FinishedVideoAsync(string storage, params (string Key, string? Value)[] extra)
    {
        var gateway = new GatewayFactory(Settings(extra));
        await gateway.InitializeAsync();
        _gateways.Add(gateway);
        gateway.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        gateway.StartServer();
        var baseAddress = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');

        using var alpha = new HttpClient { BaseAddress = new Uri(baseAddress) };
        alpha.DefaultRequestHeaders.Add("X-Api-Key", AlphaKey);
        var id = await CreatedIdAsync(alpha, Body(directives: "queued=0,generating=0"));
        await ListedUntilAsync(alpha, id, g => VideoStorage(g) == storage, $"the video to be {storage}");
        var generation = await alpha.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
        var url = generation.GetProperty("video").GetProperty("url").GetString()!;
        Assert.StartsWith(baseAddress, url, StringComparison.Ordinal);
        return (baseAddress, url);
    }

    private async Task<double> PlayAsync(string baseAddress, string url, string name)
    {
        var page = await _browser!.NewPageAsync();
        // A page of the gateway's own origin, as the playground is; the element itself sends no credentials.
        await page.GotoAsync($"{baseAddress}/health/live");
        await page.SetContentAsync($"<video id=\"v\" controls preload=\"metadata\" muted src=\"{System.Net.WebUtility.HtmlEncode(url)}\"></video>");
        var duration = await page.EvaluateAsync<double>("""
            () => new Promise((resolve, reject) => {
              const v = document.getElementById('v');
              const done = () => resolve(v.duration);
              if (v.readyState >= 1) { done(); return; }
              v.addEventListener('loadedmetadata', done, { once: true });
              v.addEventListener('error', () => reject(new Error('video error ' + (v.error && v.error.code))), { once: true });
              setTimeout(() => reject(new Error('no metadata after 20 s')), 20000);
            })
            """);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, $"video-element-{name}.png") });
        return duration;
    }
}
