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
        var directory = Path.Combine(Repository.Root, "artifacts", "playground");
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
}

/// <summary>Decodable images for a browser to preview (the validation tests' images are headers only).</summary>
public static class BrowserImages
{
    /// <summary>A real RGB PNG: a horizontal gradient, so a preview shows something.</summary>
    public static byte[] Png(int width, int height)
    {
        using var raw = new MemoryStream();
        for (var y = 0; y < height; y++)
        {
            raw.WriteByte(0); // filter: none
            for (var x = 0; x < width; x++)
            {
                raw.Write([(byte)(255 * x / width), (byte)(255 * y / height), 160]);
            }
        }

        using var compressed = new MemoryStream();
        using (var zlib = new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            raw.Position = 0;
            raw.CopyTo(zlib);
        }

        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // RGB
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.Write(crc);
    }

    /// <summary>The PNG chunk CRC (ISO 3309, as the PNG specification's annex gives it).</summary>
    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return crc ^ 0xFFFFFFFFu;
    }
}

/// <summary>One open playground and what it did.</summary>
public sealed class PlaygroundPage(IBrowserContext context, IPage page) : IAsyncDisposable
{
    public IBrowserContext Context { get; } = context;

    public IPage Page { get; } = page;

    public List<IRequest> Requests { get; } = [];

    /// <summary>Uncaught exceptions and unhandled rejections in the page's scripts.</summary>
    public List<string> ScriptErrors { get; } = [];

    public async Task<IReadOnlyList<string>> ViolationsAsync() => await Page.EvaluateAsync<string[]>("window.__violations");

    public async ValueTask DisposeAsync() => await Context.DisposeAsync();
}
