using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace KlingGateway.Tests.Events;

/// <summary>One event as a reader of the stream sees it.</summary>
internal sealed record StreamEvent(string? Id, string Name, string Data)
{
    public JsonElement Resource => JsonDocument.Parse(Data).RootElement.Clone();
}

/// <summary>
/// A text/event-stream read over a real HTTP connection, line by line, as the HTML Standard's event-stream interpretation
/// says (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): fields, comments,
/// blank lines ending an event. Written for the tests, independent of the gateway's own writer.
/// </summary>
internal sealed class EventStreamClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    // A line being read: a wait that times out leaves it pending, and the next wait takes it up (a StreamReader read
    // cannot be abandoned half-way and started again).
    private Task<string?>? _pending;

    private EventStreamClient(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public HttpResponseMessage Response => _response;

    /// <summary>Comment lines read so far (heartbeats), without their colon.</summary>
    public List<string> Comments { get; } = [];

    /// <summary>The last <c>retry:</c> read, in milliseconds.</summary>
    public int? Retry { get; private set; }

    /// <summary>Whether the server ended the stream.</summary>
    public bool Ended { get; private set; }

    public static async Task<EventStreamClient> OpenAsync(HttpClient client, string path, string? lastEventId = null, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        return new EventStreamClient(response, new StreamReader(stream, Encoding.UTF8));
    }

    /// <summary>The next event; null when the server ended the stream. Fails after <paramref name="limit"/> of silence (no event).</summary>
    public async Task<StreamEvent?> NextAsync(TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(30));
        string? id = null, name = null;
        var data = new List<string>();
        var sawId = false;
        while (true)
        {
            string? line;
            try
            {
                line = await ReadLineAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"No event within {(limit ?? TimeSpan.FromSeconds(30)).TotalSeconds} s.");
            }

            if (line is null)
            {
                Ended = true;
                return null;
            }

            if (line.Length == 0)
            {
                if (data.Count > 0)
                {
                    return new StreamEvent(sawId ? id : null, name ?? "message", string.Join('\n', data));
                }

                name = null;
                continue;
            }

            if (line[0] == ':')
            {
                Comments.Add(line[1..].Trim());
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            switch (field)
            {
                case "id":
                    id = value;
                    sawId = true;
                    break;
                case "event":
                    name = value;
                    break;
                case "data":
                    data.Add(value);
                    break;
                case "retry":
                    Retry = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                    break;
            }
        }
    }

    /// <summary>Every event until the server ends the stream.</summary>
    public async Task<List<StreamEvent>> ReadToEndAsync(TimeSpan? quiet = null)
    {
        var events = new List<StreamEvent>();
        while (await NextAsync(quiet) is { } next)
        {
            events.Add(next);
        }

        return events;
    }

    /// <summary>Reads until <paramref name="comments"/> comment lines have come (and no event).</summary>
    public async Task WaitForCommentsAsync(int comments, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromSeconds(30));
        while (Comments.Count < comments)
        {
            var line = await ReadLineAsync(timeout.Token);
            Assert.NotNull(line);
            Assert.False(line.StartsWith("data", StringComparison.Ordinal), $"an event came: {line}");
            if (line.StartsWith(':'))
            {
                Comments.Add(line[1..].Trim());
            }
            else if (line.StartsWith("retry:", StringComparison.Ordinal))
            {
                Retry = int.Parse(line[6..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        _pending ??= _reader.ReadLineAsync(CancellationToken.None).AsTask();
        var line = await _pending.WaitAsync(cancellationToken);
        _pending = null;
        return line;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A gateway listening on a real loopback port (Kestrel), for clients that read streams as browsers do.</summary>
internal static class LiveGateway
{
    public static async Task<(GatewayFactory Gateway, HttpClient Client)> StartAsync(IDictionary<string, string?> settings)
    {
        var gateway = new GatewayFactory(settings);
        await gateway.InitializeAsync();
        gateway.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        gateway.StartServer();
        return (gateway, Client(gateway));
    }

    public static HttpClient Client(GatewayFactory gateway, string? apiKey = null)
    {
        var address = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(2) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        return client;
    }
}
