using System.Security.Cryptography;
using System.Text;
using Microsoft.Playwright;

namespace KlingGateway.Tests.Browser;

/// <summary>A gateway that lets no one in without a key: one client, "web", with 5 video seconds a day.</summary>
public sealed class KeyedPlayground() : PlaygroundFixture(Settings, ClientKey)
{
    public const string ClientKey = "playground-web-key-4a1f0c9e2b7d";

    private static Dictionary<string, string?> Settings => new()
    {
        ["Auth:AllowAnonymous"] = "false",
        ["Auth:Clients:web:KeyHashes:0"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ClientKey))),
        ["Auth:Clients:web:DailyVideoSeconds"] = "5",
    };
}

/// <summary>The client key (typed once, kept for the tab, sent as X-Api-Key, never shown) and the 429 a limit gives.</summary>
public sealed class PlaygroundKeyTests(KeyedPlayground playground) : IClassFixture<KeyedPlayground>
{
    [ChromiumFact]
    public async Task KeyIsAskedForOnceKeptForTheTabSentAsXApiKey_AndALimitSaysWhatRemainsAndWhen()
    {
        await using var opened = await playground.OpenAsync(waitForModels: false);
        var page = opened.Page;

        // Without a key the gateway answers 401: the page says so and puts the focus on the key box.
        await Assertions.Expect(page.Locator("#notice")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#client-key")).ToBeFocusedAsync();
        await page.FillAsync("#client-key", KeyedPlayground.ClientKey);
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#model option")).ToHaveCountAsync(playground.Models.GetArrayLength());
        await Assertions.Expect(page.Locator("#notice")).ToBeHiddenAsync();
        Assert.Equal(KeyedPlayground.ClientKey, await page.EvaluateAsync<string>("sessionStorage.getItem('kling-gateway.client-key')"));

        // Typed once: a reload of the tab keeps it.
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#model option")).ToHaveCountAsync(playground.Models.GetArrayLength());
        await Assertions.Expect(page.Locator("#usage-client")).ToHaveTextAsync("web");

        // A 5 s generation within the day's 5 video seconds: it runs and its video plays.
        await page.SelectOptionAsync("#model", Bodies.V1Standard);
        await page.FillAsync("#f-image_url-url", Bodies.MonaLisa);
        await page.FillAsync("#f-prompt", "The first of the day");
        await page.SelectOptionAsync("#f-duration", "5");
        await page.ClickAsync("#submit");
        await Assertions.Expect(page.Locator("#run-status")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 45_000 });
        await page.WaitForFunctionAsync("() => { const v = document.getElementById('run-video'); return v && v.duration > 0; }",
            null, new PageWaitForFunctionOptions { Timeout = 15_000 });

        // The curl command and the page hold no key; every call to the API carried it as X-Api-Key, except the video,
        // which streamed from its signed link (the token is its credential; the key is in no URL).
        await page.ClickAsync("#curl-details summary");
        var curl = await page.TextContentAsync("#curl");
        Assert.Contains("X-Api-Key: $KLING_GATEWAY_KEY", curl, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyedPlayground.ClientKey, curl, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyedPlayground.ClientKey, await page.ContentAsync(), StringComparison.Ordinal);
        static bool IsSignedVideo(IRequest r) =>
            new Uri(r.Url).AbsolutePath.EndsWith("/content", StringComparison.Ordinal) && new Uri(r.Url).Query.Contains("token=", StringComparison.Ordinal);
        var videoReads = opened.Requests.Where(IsSignedVideo).ToList();
        Assert.NotEmpty(videoReads);
        Assert.All(opened.Requests, r => Assert.DoesNotContain(KeyedPlayground.ClientKey, r.Url, StringComparison.Ordinal));
        var apiCalls = opened.Requests.Where(r => new Uri(r.Url).AbsolutePath.StartsWith("/v1/", StringComparison.Ordinal) && !IsSignedVideo(r)).ToList();
        Assert.NotEmpty(apiCalls);
        var afterKey = apiCalls.SkipWhile(r => !r.Headers.ContainsKey("x-api-key")).ToList();
        Assert.All(afterKey, r => Assert.Equal(KeyedPlayground.ClientKey, r.Headers["x-api-key"]));

        // 10 more seconds do not fit: the 429 says what remains, when it resets, and when to retry.
        await page.SelectOptionAsync("#f-duration", "10");
        await page.FillAsync("#f-prompt", "One too many");
        await page.ClickAsync("#submit");
        await Assertions.Expect(page.Locator("#limit-seconds")).ToHaveTextAsync("0 of 5");
        await Assertions.Expect(page.Locator("#limit-resets")).ToContainTextAsync("in ");
        await Assertions.Expect(page.Locator("#limit-retry")).ToContainTextAsync("You can retry in");
        await Assertions.Expect(page.Locator("#form-problem")).ToContainTextAsync("The daily video-second budget would be exceeded");
        await Assertions.Expect(page.Locator("#usage-left")).ToHaveTextAsync("0 of 5 video s", new() { Timeout = 30_000 });
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = PlaygroundFixture.Screenshot("limit"), FullPage = true });

        // Kept for this tab only: another tab starts without it.
        await using var other = await playground.OpenAsync(waitForModels: false);
        await Assertions.Expect(other.Page.Locator("#notice")).ToBeVisibleAsync();
        Assert.Null(await other.Page.EvaluateAsync<string?>("sessionStorage.getItem('kling-gateway.client-key')"));

        // Forgotten on request.
        await page.ClickAsync("#forget-key");
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('kling-gateway.client-key')"));
        Assert.Empty(opened.ScriptErrors);
        Assert.Empty(await opened.ViolationsAsync());
    }
}
