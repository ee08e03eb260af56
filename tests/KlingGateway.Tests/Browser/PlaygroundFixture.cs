using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace KlingGateway.Tests.Browser;

/// <summary>
/// The gateway with the playground on, on a real Kestrel port, in front of the simulator, and one headless Debian
/// chromium for the class. Each test opens its own browser context (its own sessionStorage). Without chromium nothing
/// starts, and the <see cref="ChromiumFactAttribute"/> tests report themselves skipped.
/// </summary>
public abstract class PlaygroundFixture(
    IDictionary<string, string?> settings, string? clientKey = null, Action<IWebHostBuilder>? configure = null) : IAsyncLifetime
{
    private IPlaywright? _playwright;
    private WebApplicationFactory<Program>? _host;

    public GatewayFactory Gateway { get; } = new(new Dictionary<string, string?>(settings) { ["Playground:Enabled"] = "true" });

    /// <summary>The gateway as started: <see cref="Gateway"/>, plus what the fixture adds to it.</summary>
    private WebApplicationFactory<Program> Host => _host ??= configure is null ? Gateway : Gateway.WithWebHostBuilder(configure);

    public IBrowser Browser { get; private set; } = null!;

    public string BaseAddress => Host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>The catalog as the page reads it.</summary>
    public JsonElement Models { get; private set; }

    /// <summary>Screenshots go here (CI keeps artifacts/): artifacts/playground/NAME.png under the repository root.</summary>
    public static string Screenshot(string name)
    {
        var directory = Path.Combine(RepositoryRoot(), "artifacts", "playground");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, $"{name}.png");
    }

    public async Task InitializeAsync()
    {
        await ((IAsyncLifetime)Gateway).InitializeAsync();
        if (!File.Exists(ChromiumFactAttribute.Executable))
        {
            return;
        }

        Host.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        Host.StartServer();
        using var client = new HttpClient { BaseAddress = new Uri(BaseAddress) };
        if (clientKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", clientKey);
        }

        Models = (await client.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("models").Clone();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumFactAttribute.Executable,
            Headless = true,
            // As root in a closed network: no sandbox, and none of Chromium's own background traffic.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_playwright is not null)
        {
            await Browser.DisposeAsync();
            _playwright.Dispose();
        }

        // Disposing the gateway disposes the host derived from it too.
        await ((IAsyncLifetime)Gateway).DisposeAsync();
    }

    /// <summary>A fresh page on the playground, with every request and every CSP violation it causes recorded.</summary>
    public async Task<PlaygroundPage> OpenAsync(int width = 1400, int height = 1000, bool waitForModels = true)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        var page = await context.NewPageAsync();
        var opened = new PlaygroundPage(context, page);
        page.Request += (_, request) => opened.Requests.Add(request);
        page.PageError += (_, error) => opened.ScriptErrors.Add(error);
        await page.AddInitScriptAsync("""
            window.__violations = [];
            document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
            """);
        await page.GotoAsync($"{BaseAddress}/playground");
        if (waitForModels)
        {
            await page.Locator("#model option").First.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });
        }

        return opened;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "KlingGateway.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("KlingGateway.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>One open playground and what it did.</summary>
public sealed class PlaygroundPage(IBrowserContext context, IPage page) : IAsyncDisposable
{
    public IPage Page { get; } = page;

    public List<IRequest> Requests { get; } = [];

    /// <summary>Uncaught exceptions and unhandled rejections in the page's scripts.</summary>
    public List<string> ScriptErrors { get; } = [];

    public async Task<IReadOnlyList<string>> ViolationsAsync() => await Page.EvaluateAsync<string[]>("window.__violations");

    public async ValueTask DisposeAsync() => await context.DisposeAsync();
}
