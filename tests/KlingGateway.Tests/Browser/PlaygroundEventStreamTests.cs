using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace KlingGateway.Tests.Browser;

/// <summary>
/// A stand-in for the event stream the page reads, <c>GET /v1/generations/{id}/events</c>, in front of the gateway's
/// own (which <c>PlaygroundLiveEventsTests</c> drives): the same shape (README, "Playground"), but written the hard ways a
/// proxy or another server may deliver it, which the page's reader must take: lines ended by CR LF and split across
/// writes, names the page does not know, and the first connection cut after one event, so the page must reconnect with
/// <c>Last-Event-ID</c>. It reads the gateway's status route for every event.
/// </summary>
internal sealed partial class GenerationEventStream : IStartupFilter
{
    /// <summary>The Last-Event-ID of each connection, in order ("" for none).</summary>
    public ConcurrentQueue<string> Connections { get; } = new();

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, nextMiddleware) =>
        {
            var match = EventsPath().Match(context.Request.Path.Value ?? "");
            if (!match.Success || !HttpMethods.IsGet(context.Request.Method))
            {
                await nextMiddleware(context);
                return;
            }

            await StreamAsync(context, match.Groups[1].Value);
        });
        next(app);
    };

    private async Task StreamAsync(HttpContext context, string id)
    {
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString();
        var first = Connections.IsEmpty;
        Connections.Enqueue(lastEventId);
        var number = int.TryParse(lastEventId, out var last) ? last : 0;
        using var self = new HttpClient { BaseAddress = new Uri($"{context.Request.Scheme}://{context.Request.Host}") };
        var cancel = context.RequestAborted;

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await WriteAsync(context, ": connected\n\nretry: 300\n\n");
        string? previous = null;
        while (!cancel.IsCancellationRequested)
        {
            var json = await self.GetStringAsync($"/v1/generations/{id}", cancel);
            var resource = JsonDocument.Parse(json).RootElement;
            var status = resource.GetProperty("status").GetString();
            var state = $"{status}|{resource.GetProperty("updated_at").GetString()}";
            if (state != previous)
            {
                previous = state;
                number++;
                // CR LF line ends, split inside one of them and inside the data line.
                var text = $"id: {number}\r\nevent: generation.{status}\r\ndata: {json}\r\n\r\n";
                var cut = text.IndexOf("\r\ndata", StringComparison.Ordinal) + 1;
                await WriteAsync(context, text[..cut]);
                await Task.Delay(30, cancel);
                await WriteAsync(context, text[cut..(cut + 20)]);
                await Task.Delay(30, cancel);
                await WriteAsync(context, text[(cut + 20)..]);
                if (first)
                {
                    return; // the first connection is cut after one event
                }

                if (status is "succeeded" or "failed")
                {
                    // A name the page does not know yet is still a resource update; then the stream ends.
                    await WriteAsync(context, $"id: {++number}\nevent: generation.video_stored\ndata: {json}\n\n");
                    return;
                }
            }

            await WriteAsync(context, ": heartbeat\n\n");
            await Task.Delay(150, cancel);
        }
    }

    private static async Task WriteAsync(HttpContext context, string text)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    [GeneratedRegex("^/v1/generations/(gen_[A-Za-z0-9_-]+)/events$")]
    private static partial Regex EventsPath();
}

/// <summary>The gateway with <see cref="GenerationEventStream"/> in front of it.</summary>
public sealed class StreamingPlayground() : PlaygroundFixture(new Dictionary<string, string?>(), configure: b =>
    b.ConfigureServices(s => s.AddSingleton<IStartupFilter>(Stream)))
{
    internal static readonly GenerationEventStream Stream = new();
}

public sealed class PlaygroundEventStreamTests(StreamingPlayground playground) : IClassFixture<StreamingPlayground>
{
    [ChromiumFact]
    public async Task WithTheEventStream_StatusComesFromItReconnectingWithLastEventId_AndNothingIsPolled()
    {
        await using var opened = await playground.OpenAsync();
        var page = opened.Page;
        await page.SelectOptionAsync("#model", Bodies.V21Standard);
        await page.FillAsync("#f-image_url-url", Bodies.MonaLisa);
        await page.FillAsync("#f-prompt", "Streamed [sim:queued=2,generating=2]");
        await page.ClickAsync("#submit");

        await Assertions.Expect(page.Locator("#run-mode")).ToHaveTextAsync("live (event stream)", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#run-status")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 45_000 });
        await page.WaitForFunctionAsync("() => { const v = document.getElementById('run-video'); return v && v.duration > 0; }",
            null, new PageWaitForFunctionOptions { Timeout = 15_000 });

        var connections = StreamingPlayground.Stream.Connections.ToArray();
        Assert.True(connections.Length >= 2, $"connections: {connections.Length}");
        Assert.Equal("", connections[0]);
        Assert.Equal("1", connections[1]);

        // Every status came from the stream: the page never read the status route itself.
        var id = await page.TextContentAsync("#run-id");
        Assert.DoesNotContain(opened.Requests, r => new Uri(r.Url).AbsolutePath == $"/v1/generations/{id}");
        Assert.Empty(opened.ScriptErrors);
    }
}
