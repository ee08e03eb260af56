using Microsoft.Playwright;

namespace KlingGateway.Tests.Browser;

/// <summary>
/// The playground on the gateway's own event streams (no stand-in): the open generation and the list follow them live,
/// and the page never polls the status route or the list for what the streams tell it.
/// </summary>
public sealed class PlaygroundLiveEventsTests(AnonymousPlayground playground) : IClassFixture<AnonymousPlayground>
{
    [ChromiumFact]
    public async Task TheOpenGenerationAndTheList_FollowTheGatewaysEventStreams_WithoutPolling()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        await Assertions.Expect(page.Locator("#list-mode")).ToHaveTextAsync("live", new() { Timeout = 15_000 });
        await page.SelectOptionAsync("#model", Bodies.V21Standard);
        await page.FillAsync("#f-image_url-url", Bodies.MonaLisa);
        await page.FillAsync("#f-prompt", "Followed live [sim:queued=1,generating=1]");
        await page.ClickAsync("#submit");

        await Assertions.Expect(page.Locator("#run-mode")).ToHaveTextAsync("live (event stream)", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#run-status")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 45_000 });
        await page.WaitForFunctionAsync("() => { const v = document.getElementById('run-video'); return v && v.duration > 0; }",
            null, new PageWaitForFunctionOptions { Timeout = 15_000 });
        var id = await page.TextContentAsync("#run-id");
        await Assertions.Expect(page.Locator($"#list-items [data-id='{id}']")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 30_000 });

        var paths = opened.Requests.Select(r => new Uri(r.Url)).Where(u => u.AbsolutePath.StartsWith("/v1/generations", StringComparison.Ordinal)).ToList();
        Assert.Contains(paths, u => u.AbsolutePath == $"/v1/generations/{id}/events");
        Assert.Contains(paths, u => u.AbsolutePath == "/v1/generations/events");
        // Every status came from the streams: the status route was never read, and the list was read only when the page
        // loaded it (not refreshed every 10 s).
        Assert.DoesNotContain(paths, u => u.AbsolutePath == $"/v1/generations/{id}");
        Assert.True(paths.Count(u => u.AbsolutePath == "/v1/generations" && u.Query.Length > 0) <= 1,
            string.Join(", ", paths.Select(u => u.PathAndQuery)));
        Assert.Empty(await opened.ViolationsAsync());
        Assert.Empty(opened.ScriptErrors);
    }
}
