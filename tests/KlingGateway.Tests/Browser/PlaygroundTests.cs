using System.Net.Http.Json;
using System.Text.Json;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace KlingGateway.Tests.Browser;

/// <summary>The zero-config shape: anonymous callers let in, no limits, the playground on.</summary>
public sealed class AnonymousPlayground() : PlaygroundFixture(new Dictionary<string, string?>());

/// <summary>
/// What a developer does with the playground in a real browser, against the gateway and the simulator: picks each
/// model, starts a generation and watches it to a playing video, sends bad input and reads each fault beside its
/// field, double-clicks, and follows the list and the usage.
/// </summary>
public sealed partial class PlaygroundTests(AnonymousPlayground playground) : IClassFixture<AnonymousPlayground>
{
    private const string Image = Bodies.MonaLisa;
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [ChromiumFact]
    public async Task EachModel_ShowsExactlyItsFieldsAndHidesTheOthers()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        var everyField = playground.Models.EnumerateArray().SelectMany(m => m.GetProperty("fields").EnumerateArray())
            .Select(f => f.GetProperty("name").GetString()!).ToHashSet();

        foreach (var model in playground.Models.EnumerateArray())
        {
            var id = model.GetProperty("id").GetString()!;
            await page.SelectOptionAsync("#model", id);
            var fields = model.GetProperty("fields").EnumerateArray().ToList();
            // The gateway's own create route takes every field without a routes list, or with "gateway" in it.
            var taken = fields.Where(f => f.GetProperty("name").GetString() != "model"
                    && (!f.TryGetProperty("routes", out var routes) || routes.EnumerateArray().Any(r => r.GetString() == "gateway")))
                .ToList();
            var shown = await page.Locator("#fields > [data-path]").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.path)");

            Assert.Equal(taken.Select(f => f.GetProperty("name").GetString()!), shown);
            foreach (var hidden in everyField.Except(shown))
            {
                Assert.Equal(0, await page.Locator($"[data-path='{hidden}']").CountAsync());
            }

            var warned = model.GetProperty("accepted_with_warning").EnumerateArray().Select(w => w.GetString()!).ToHashSet();
            foreach (var field in taken)
            {
                var name = field.GetProperty("name").GetString()!;
                var element = page.Locator($"#fields > [data-path='{name}']");
                var text = await element.InnerTextAsync();
                Assert.Contains(field.GetProperty("description").GetString()!, text, StringComparison.Ordinal);
                Assert.Equal(warned.Contains(name) ? 1 : 0, await element.Locator(".badge.warn").CountAsync());
                if (field.TryGetProperty("allowed_values", out var allowed) && name != "camera_control")
                {
                    foreach (var value in allowed.EnumerateArray())
                    {
                        Assert.Equal(1, await element.Locator($"option[value='{value.GetString()}']").CountAsync());
                    }
                }

                if (field.TryGetProperty("default", out var defaultValue))
                {
                    Assert.Contains($"default {defaultValue.GetString()}", text, StringComparison.Ordinal);
                }

                if (field.TryGetProperty("maximum", out var maximum) && name == "cfg_scale")
                {
                    Assert.Equal(maximum.GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture),
                        await element.Locator("input").GetAttributeAsync("max"));
                }
            }

            // Camera control: a type, then one slider and number per config key for type simple.
            if (taken.Any(f => f.GetProperty("name").GetString() == "camera_control"))
            {
                await page.SelectOptionAsync("#f-camera_control-type", "simple");
                var keys = taken.Single(f => f.GetProperty("name").GetString() == "camera_control").GetProperty("config_keys")
                    .EnumerateArray().Select(k => k.GetString()!).ToList();
                foreach (var key in keys)
                {
                    await Assertions.Expect(page.Locator($"#f-camera_control-config-{key}")).ToBeVisibleAsync();
                    await Assertions.Expect(page.Locator($"[data-path='camera_control.config.{key}'] input[type=range]")).ToBeVisibleAsync();
                }

                await page.SelectOptionAsync("#f-camera_control-type", "");
            }

            await page.ScreenshotAsync(new PageScreenshotOptions { Path = PlaygroundFixture.Screenshot($"model-{model.GetProperty("key").GetString()}"), FullPage = true });
        }

        Assert.Empty(opened.ScriptErrors);
        Assert.Empty(await opened.ViolationsAsync());
    }

    [ChromiumFact]
    public async Task ValidRequest_StatusChangesLiveThenTheVideoPlaysWithADuration()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        var usageBefore = await UsageAsync();
        await page.SelectOptionAsync("#model", Bodies.V2Master);
        await page.FillAsync("#f-image_url-url", Image);
        await page.FillAsync("#f-prompt", "Mona Lisa puts on glasses with her hands. [sim:queued=1.5,generating=1.5]");
        await page.EvaluateAsync("window.__sameDocument = true");

        await page.ClickAsync("#submit");
        var status = page.Locator("#run-status");
        await status.WaitForAsync();
        var seen = new List<string>();
        var deadline = DateTime.UtcNow + Generous;
        while (DateTime.UtcNow < deadline)
        {
            var now = await status.GetAttributeAsync("data-status");
            if (now is not null && (seen.Count == 0 || seen[^1] != now))
            {
                seen.Add(now);
            }

            if (now is "succeeded" or "failed")
            {
                break;
            }

            await Task.Delay(100);
        }

        // Seen queued (or processing) first and succeeded last, in the same document: no reload happened.
        Assert.True(seen.Count >= 2, $"statuses seen: {string.Join(", ", seen)}");
        Assert.Contains(seen[0], new[] { "queued", "processing" });
        Assert.Equal("succeeded", seen[^1]);
        Assert.True(await page.EvaluateAsync<bool>("window.__sameDocument === true"));
        Assert.NotEqual("0:00", await page.TextContentAsync("#run-elapsed"));

        // The video loads, reports a duration, and seeks.
        var video = page.Locator("#run-video");
        await video.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        await page.WaitForFunctionAsync("() => { const v = document.getElementById('run-video'); return v && v.readyState >= 1 && isFinite(v.duration) && v.duration > 0; }",
            null, new PageWaitForFunctionOptions { Timeout = 15_000 });
        var duration = await video.EvaluateAsync<double>("v => v.duration");
        Assert.True(duration > 0);
        var seeked = await video.EvaluateAsync<double>(
            "v => new Promise(resolve => { v.addEventListener('seeked', () => resolve(v.currentTime), { once: true }); v.currentTime = v.duration / 2; })");
        Assert.True(seeked > 0);
        Assert.StartsWith(duration.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture), await page.TextContentAsync("#video-duration"));

        var id = await page.TextContentAsync("#run-id");
        using var client = new HttpClient { BaseAddress = new Uri(playground.BaseAddress) };
        var generation = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
        Assert.Equal(generation.GetProperty("video").GetProperty("url").GetString(), await page.GetAttributeAsync("#video-download", "href"));

        // The list and the usage followed, without a reload.
        await Assertions.Expect(page.Locator($"#list-items [data-id='{id}']")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 30_000 });
        var usageAfter = await UsageAsync();
        await Assertions.Expect(page.Locator("#usage-generations")).ToHaveTextAsync(
            usageAfter.GetProperty("today").GetProperty("generations").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), new() { Timeout = 30_000 });
        Assert.Equal(usageBefore.GetProperty("today").GetProperty("generations").GetInt32() + 1, usageAfter.GetProperty("today").GetProperty("generations").GetInt32());
        await Assertions.Expect(page.Locator("#usage-spent")).ToContainTextAsync(
            $"{usageAfter.GetProperty("today").GetProperty("video_seconds").GetInt32()} video s");

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = PlaygroundFixture.Screenshot("succeeded"), FullPage = true });
        // The first screen, as docs/playground.png shows it.
        await page.EvaluateAsync("window.scrollTo(0, 0)");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = PlaygroundFixture.Screenshot("overview") });
        Assert.DoesNotMatch(NoValue(), await page.InnerTextAsync("body"));

        // Everything the page loaded or called came from the gateway itself, except the video, whose URL is the
        // upstream's until the gateway serves videos itself; and the browser enforced no policy violation.
        var gatewayOrigin = new Uri(playground.BaseAddress).GetLeftPart(UriPartial.Authority);
        var videoUrl = generation.GetProperty("video").GetProperty("url").GetString()!;
        var elsewhere = opened.Requests.Where(r => new Uri(r.Url).GetLeftPart(UriPartial.Authority) != gatewayOrigin && r.Url != videoUrl)
            .Select(r => r.Url).ToList();
        Assert.Empty(elsewhere);
        Assert.Empty(await opened.ViolationsAsync());
        Assert.Empty(opened.ScriptErrors);
    }

    [ChromiumFact]
    public async Task InvalidRequest_ShowsEachFaultBesideItsFieldAndSendsNothingUpstream()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        var creates = playground.Gateway.Simulator.CreateCount;
        await page.SelectOptionAsync("#model", Bodies.V1Standard);
        await page.FillAsync("#f-image_url-url", "ftp://x");
        await page.FillAsync("#f-cfg_scale", "3");
        await page.SelectOptionAsync("#f-camera_control-type", "simple");
        await page.FillAsync("#f-camera_control-config-zoom", "12");
        await page.ClickAsync("text=Add a mask");
        await page.FillAsync("#f-dynamic_masks-0-mask-url", "ftp://y");
        await page.FillAsync("#f-dynamic_masks-0-trajectories-0-x", "1");
        await page.FillAsync("#f-dynamic_masks-0-trajectories-0-y", "2");
        await page.FillAsync("#f-dynamic_masks-0-trajectories-1-x", "1.5");
        await page.FillAsync("#f-dynamic_masks-0-trajectories-1-y", "2");

        var response = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#submit"),
            r => r.Url.EndsWith("/v1/generations", StringComparison.Ordinal) && r.Request.Method == "POST");
        Assert.Equal(400, response.Status);
        var problem = JsonDocument.Parse(await response.TextAsync()).RootElement;
        var errors = problem.GetProperty("errors").EnumerateObject().ToList();
        Assert.Contains(errors, e => e.Name == "dynamic_masks[0].trajectories[1].x");
        Assert.Contains(errors, e => e.Name == "camera_control.config.zoom");

        foreach (var error in errors)
        {
            var shown = page.Locator($".field-error[data-error-path='{error.Name}']");
            await Assertions.Expect(shown.First).ToBeVisibleAsync();
            var messages = await shown.AllTextContentsAsync();
            Assert.Equal(error.Value.EnumerateArray().Select(m => m.GetString()), messages);
            // Beside its own input: the error sits in the element that holds that JSON path, whose input is marked invalid.
            Assert.Equal(error.Name, await shown.First.EvaluateAsync<string>("e => e.parentElement.closest('[data-path]').dataset.path"));
            Assert.Equal("true", await page.Locator($"[data-path='{error.Name}'] [data-control]").First.GetAttributeAsync("aria-invalid"));
        }

        await Assertions.Expect(page.Locator("#form-problem .summary li")).ToHaveCountAsync(errors.Sum(e => e.Value.GetArrayLength()));
        await Assertions.Expect(page.Locator("#form-problem")).ToBeFocusedAsync();
        Assert.Equal(creates, playground.Gateway.Simulator.CreateCount);
        Assert.DoesNotMatch(NoValue(), await page.InnerTextAsync("body"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = PlaygroundFixture.Screenshot("invalid"), FullPage = true });

        // Fixing a field and sending again clears the faults that are gone.
        await page.FillAsync("#f-cfg_scale", "0.5");
        await page.ClickAsync("#submit");
        await Assertions.Expect(page.Locator(".field-error[data-error-path='cfg_scale']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator(".field-error[data-error-path='image_url']")).ToHaveCountAsync(1);
        Assert.Empty(opened.ScriptErrors);
    }

    [ChromiumFact]
    public async Task DoubleClick_StartsOneGeneration_AndTheSameContentAgainStartsNone()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        var creates = playground.Gateway.Simulator.CreateCount;
        await page.SelectOptionAsync("#model", Bodies.V21Pro);
        await page.FillAsync("#f-image_url-url", Image);
        await page.FillAsync("#f-prompt", $"A double click {Guid.NewGuid():N}");
        var posts = new List<IRequest>();
        page.Request += (_, r) =>
        {
            if (r.Method == "POST")
            {
                posts.Add(r);
            }
        };

        await page.DblClickAsync("#submit");
        await page.Locator("#run-id").WaitForAsync();
        var id = await page.TextContentAsync("#run-id");
        await Assertions.Expect(page.Locator($"#list-items [data-id='{id}']")).ToHaveCountAsync(1);

        // Sent again with the same content: the same Idempotency-Key, the same generation, no second create upstream.
        await page.ClickAsync("#submit");
        await Assertions.Expect(page.Locator("#submit-status")).ToContainTextAsync("Same request as before");
        Assert.Equal(id, await page.TextContentAsync("#run-id"));
        Assert.Equal(creates + 1, playground.Gateway.Simulator.CreateCount);
        Assert.Single(posts.Select(p => p.Headers["idempotency-key"]).Distinct());

        // A new key on request: the same content now starts a second generation.
        await page.ClickAsync("#new-key");
        await page.ClickAsync("#submit");
        await Assertions.Expect(page.Locator("#run-id")).Not.ToHaveTextAsync(id!);
        Assert.Equal(creates + 2, playground.Gateway.Simulator.CreateCount);
        Assert.Empty(opened.ScriptErrors);
    }

    [ChromiumFact]
    public async Task LocalImage_IsPreviewedAndSentAsADataUri_PointsArePickedOnIt_AndTheCopiedCurlIsTheSameRequest()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        await opened.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        var png = BrowserImages.Png(640, 400);
        await page.SelectOptionAsync("#model", Bodies.V1Pro);
        await page.FillAsync("#f-prompt", $"From a local file {Guid.NewGuid():N}");
        await page.CheckAsync("[data-path='image_url'] input[type=radio][value=file]");
        await page.SetInputFilesAsync("#f-image_url-file", new FilePayload { Name = "frame.png", MimeType = "image/png", Buffer = png });
        await Assertions.Expect(page.Locator("[data-path='image_url'] figcaption")).ToContainTextAsync("frame.png: 640×400 px");
        await Assertions.Expect(page.Locator("[data-path='image_url'] img")).ToBeVisibleAsync();

        // A dynamic mask by URL, its two points clicked on the first frame: x from the left, y from the bottom.
        await page.ClickAsync("text=Add a mask");
        await page.FillAsync("#f-dynamic_masks-0-mask-url", "https://example.com/mask.png");
        var picker = page.Locator("[data-path='dynamic_masks[0].trajectories'] .picker");
        var box = (await picker.BoundingBoxAsync())!;
        await picker.ClickAsync(new() { Position = new() { X = box.Width * 0.25f, Y = box.Height * 0.75f } });
        await picker.ClickAsync(new() { Position = new() { X = box.Width * 0.5f, Y = box.Height * 0.5f } });
        Assert.InRange(int.Parse(await page.InputValueAsync("#f-dynamic_masks-0-trajectories-0-x")), 158, 162);
        Assert.InRange(int.Parse(await page.InputValueAsync("#f-dynamic_masks-0-trajectories-0-y")), 98, 102);
        Assert.InRange(int.Parse(await page.InputValueAsync("#f-dynamic_masks-0-trajectories-1-x")), 318, 322);
        Assert.InRange(int.Parse(await page.InputValueAsync("#f-dynamic_masks-0-trajectories-1-y")), 198, 202);
        Assert.Equal(2, await page.Locator("[data-path='dynamic_masks[0].trajectories'] circle").CountAsync());

        // The body view shortens the data URI; the request carries it whole.
        await page.ClickAsync("#raw-details summary");
        // The view is refreshed as the section opens: waited for, not read once.
        await Assertions.Expect(page.Locator("#raw-body")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex(@"data:image/png;base64,[A-Za-z0-9+/]{80}… \(\d+ kB\)"));
        var creates = playground.Gateway.Simulator.CreateCount;
        var request = await page.RunAndWaitForRequestAsync(() => page.ClickAsync("#submit"),
            r => r.Method == "POST" && r.Url.EndsWith("/v1/generations", StringComparison.Ordinal));
        var sent = JsonDocument.Parse(request.PostData!).RootElement;
        Assert.Equal("data:image/png;base64," + Convert.ToBase64String(png), sent.GetProperty("image_url").GetString());
        Assert.Equal(2, sent.GetProperty("dynamic_masks")[0].GetProperty("trajectories").GetArrayLength());
        await page.Locator("#run-id").WaitForAsync();
        var id = await page.TextContentAsync("#run-id");
        Assert.Equal(creates + 1, playground.Gateway.Simulator.CreateCount);

        // "Copy as curl" copies that same request whole, with the same Idempotency-Key: run as it is, it answers
        // with the same generation and starts nothing.
        await page.ClickAsync("#copy-curl");
        var curl = await page.EvaluateAsync<string>("navigator.clipboard.readText()");
        Assert.Contains(Convert.ToBase64String(png), curl, StringComparison.Ordinal);
        var script = Path.Combine(playground.Gateway.WorkDirectory, "copied-curl.sh");
        await File.WriteAllTextAsync(script, curl);
        using var shell = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", [script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await shell.StandardOutput.ReadToEndAsync();
        await shell.WaitForExitAsync();
        Assert.True(shell.ExitCode == 0, await shell.StandardError.ReadToEndAsync());
        Assert.Equal(id, JsonDocument.Parse(output).RootElement.GetProperty("id").GetString());
        Assert.Equal(creates + 1, playground.Gateway.Simulator.CreateCount);
        Assert.Empty(opened.ScriptErrors);
        Assert.Empty(await opened.ViolationsAsync());
    }

    [ChromiumFact]
    public async Task HandEditedBody_IsSentAsWritten_AndAFaultWithNoInputIsStillListed()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        await page.SelectOptionAsync("#model", Bodies.V21Standard);
        await page.ClickAsync("#raw-details summary");
        await page.CheckAsync("#raw-edit");
        Assert.True(await page.Locator("#f-prompt").IsDisabledAsync());
        var body = $$"""{"model": "{{Bodies.V21Standard}}", "image_url": "{{Bodies.MonaLisa}}", "prompt": "By hand {{Guid.NewGuid():N}}", "sound": true}""";
        await page.FillAsync("#raw-body", body);

        var response = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#submit"),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/v1/generations", StringComparison.Ordinal));
        Assert.Equal(400, response.Status);
        Assert.Equal(body, response.Request.PostData);
        await Assertions.Expect(page.Locator("#form-problem .summary li")).ToContainTextAsync("sound is not a known field");

        await page.FillAsync("#raw-body", body.Replace(", \"sound\": true", "", StringComparison.Ordinal));
        await page.ClickAsync("#submit");
        await Assertions.Expect(page.Locator("#run-status")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#form-problem")).ToBeHiddenAsync();

        await page.UncheckAsync("#raw-edit");
        Assert.False(await page.Locator("#f-prompt").IsDisabledAsync());
        Assert.Empty(opened.ScriptErrors);
    }

    [ChromiumFact]
    public async Task List_FollowsGenerationsStartedElsewhere_FiltersAndOpensThem()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        using var client = new HttpClient { BaseAddress = new Uri(playground.BaseAddress) };
        var started = await playground.Gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "queued=1,generating=1"));
        var id = started.GetProperty("id").GetString()!;

        // Started by another caller of the same client: it appears, then finishes, without a reload.
        var item = page.Locator($"#list-items [data-id='{id}']");
        await Assertions.Expect(item).ToHaveCountAsync(1, new() { Timeout = 30_000 });
        await Assertions.Expect(item).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 45_000 });

        await page.SelectOptionAsync("#filter-model", Bodies.V2Master);
        await Assertions.Expect(item).ToHaveCountAsync(0);
        await page.SelectOptionAsync("#filter-model", Bodies.V1Pro);
        await page.SelectOptionAsync("#filter-status", "succeeded");
        await Assertions.Expect(item).ToHaveCountAsync(1);
        foreach (var status in await page.Locator("#list-items [data-id]").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.status)"))
        {
            Assert.Equal("succeeded", status);
        }

        // One click (here, the keyboard) opens it.
        await item.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#run-id")).ToHaveTextAsync(id);
        await Assertions.Expect(page.Locator("#run-status")).ToHaveAttributeAsync("data-status", "succeeded");
        await Assertions.Expect(item).ToHaveAttributeAsync("aria-current", "true");
        Assert.Empty(opened.ScriptErrors);
    }

    [ChromiumFact]
    public async Task Page_PassesAxeAccessibilityRules_AlsoInANarrowWindowAndWithFaultsShown()
    {
        await using var opened = await playground.OpenAsync(width: 380, height: 900);
        var page = opened.Page;
        await page.SelectOptionAsync("#model", Bodies.V1Pro);
        await page.SelectOptionAsync("#f-camera_control-type", "simple");
        await page.ClickAsync("text=Add a mask");
        await page.FillAsync("#f-image_url-url", "not a url");
        await page.ClickAsync("#submit");
        await page.Locator(".field-error").First.WaitForAsync();

        var result = await page.RunAxe();
        Assert.True(result.Violations.Length == 0, string.Join("\n", result.Violations.Select(v =>
            $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target))}")));

        // Nothing is wider than the window.
        var overflowing = await page.EvaluateAsync<string[]>("""
            [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('.visually-hidden'))
              .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
            """);
        Assert.Empty(overflowing);
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= document.documentElement.clientWidth"),
            await page.EvaluateAsync<string>("""
                document.documentElement.scrollWidth + ' > ' + document.documentElement.clientWidth + ': ' +
                [...document.querySelectorAll('body *')].filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
                  .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${e.scrollWidth}/${e.clientWidth}`).join('; ')
                """));
        // Every control is reachable by keyboard and shows a visible focus ring.
        await page.FocusAsync("#f-image_url-url");
        Assert.NotEqual("none", await page.EvalOnSelectorAsync<string>("#f-image_url-url", "e => getComputedStyle(e).outlineStyle"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = PlaygroundFixture.Screenshot("narrow"), FullPage = true });
    }

    /// <summary>A value the page failed to fill in, printed as JavaScript writes it.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\b(null|undefined|NaN)\b|\[object ")]
    private static partial System.Text.RegularExpressions.Regex NoValue();

    private async Task<JsonElement> UsageAsync()
    {
        using var client = new HttpClient { BaseAddress = new Uri(playground.BaseAddress) };
        return await client.GetFromJsonAsync<JsonElement>("/v1/usage");
    }
}
