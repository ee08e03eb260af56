using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace KlingGateway.Tests.Browser;

/// <summary>Runs only where Debian's chromium is installed (CI installs it); elsewhere it is reported as skipped.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Executable = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Executable))
        {
            Skip = $"{Executable} is not installed (apt-get install chromium); .ci/run installs it.";
        }
    }
}

/// <summary>
/// What a developer does on first contact: open Swagger UI in a real browser, start a generation with the
/// example body, and poll it to a finished video, all on the zero-config run with its built-in simulator.
/// </summary>
public sealed class SwaggerUiTests : IAsyncLifetime
{
    private readonly WebApplicationFactory<Program> _gateway = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
    {
        b.UseSetting("environment", "Development");
        b.UseSetting("Ledger:Path", Path.Combine(Path.GetTempPath(), "kling-gateway-tests", $"swagger-{Guid.NewGuid():N}.db"));
        b.UseSetting("Simulator:QueuedSeconds", "0.2");
        b.UseSetting("Simulator:GeneratingSeconds", "0.3");
        b.UseSetting("Generations:StatusRefreshInterval", "00:00:00.100");
    });

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumFactAttribute.Executable))
        {
            return;
        }

        _gateway.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        _gateway.StartServer();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumFactAttribute.Executable,
            Headless = true,
            // As root in a closed network: no sandbox, and none of Chromium's own background traffic.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        await _gateway.DisposeAsync();
    }

    private string BaseAddress => _gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    [ChromiumFact]
    public async Task SwaggerUi_StartsAGenerationWithTheExampleAndPollsItToAVideo()
    {
        var page = await _browser!.NewPageAsync();
        await page.GotoAsync($"{BaseAddress}/swagger/index.html");

        // Start a generation with the documented example (the upstream docs' Mona Lisa request).
        var create = page.Locator("#operations-Generations-CreateGeneration");
        await create.Locator(".opblock-summary").ClickAsync();
        await create.Locator(".try-out__btn").ClickAsync();
        await create.Locator("button.execute").ClickAsync();
        var created = await ResponseBodyAsync(create);
        Assert.Equal("queued", created.GetProperty("status").GetString());
        var id = created.GetProperty("id").GetString()!;

        // Poll it from the status route until it finishes.
        var read = page.Locator("#operations-Generations-GetGeneration");
        await read.Locator(".opblock-summary").ClickAsync();
        await read.Locator(".try-out__btn").ClickAsync();
        await read.Locator("input[placeholder='id']").FillAsync(id);
        JsonElement status = default;
        for (var attempt = 0; attempt < 40; attempt++)
        {
            await read.Locator("button.execute").ClickAsync();
            status = await ResponseBodyAsync(read);
            if (status.GetProperty("status").GetString() is "succeeded" or "failed")
            {
                break;
            }

            await page.WaitForTimeoutAsync(250);
            await read.Locator("button.btn-clear").ClickAsync();
        }

        Assert.Equal("succeeded", status.GetProperty("status").GetString());
        Assert.Contains($"/v1/generations/{id}/content?token=", status.GetProperty("video").GetProperty("url").GetString(), StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "swagger-ui.png"), FullPage = true });
    }

    private static async Task<JsonElement> ResponseBodyAsync(ILocator operation)
    {
        var body = operation.Locator(".live-responses-table .response-col_description .microlight").First;
        await body.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        return JsonDocument.Parse(await body.InnerTextAsync()).RootElement.Clone();
    }
}
