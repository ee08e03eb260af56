// Holds N event streams of one generation open (GET {path}, Accept: text/event-stream) and records, for every event
// after the first on each stream, how long after the change it arrived: its arrival time minus the resource's updated_at
// (the moment the gateway recorded the change; the same clock, on the same machine). Prints "ready N" once every stream
// has its first event, so the caller knows the subscribers are all in place, and writes a JSON summary when every stream
// has ended (the gateway ends a generation's stream after its last event) or the time limit passes.
//
//   SseFanout BASE_URL PATH CONNECTIONS SECONDS OUT_JSON
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

if (args.Length != 5)
{
    Console.Error.WriteLine("usage: SseFanout BASE_URL PATH CONNECTIONS SECONDS OUT_JSON");
    return 2;
}

var baseUrl = new Uri(args[0]);
var path = args[1];
var connections = int.Parse(args[2], CultureInfo.InvariantCulture);
var limit = TimeSpan.FromSeconds(double.Parse(args[3], CultureInfo.InvariantCulture));
var output = args[4];

using var handler = new SocketsHttpHandler
{
    MaxConnectionsPerServer = int.MaxValue,
    UseProxy = false,
    AutomaticDecompression = DecompressionMethods.None,
    ConnectTimeout = TimeSpan.FromSeconds(30),
};
using var http = new HttpClient(handler) { BaseAddress = baseUrl, Timeout = Timeout.InfiniteTimeSpan };
using var stop = new CancellationTokenSource(limit);

var latencies = new ConcurrentDictionary<string, ConcurrentBag<double>>(StringComparer.Ordinal);
var received = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
int opened = 0, failed = 0, first = 0, ended = 0;
var errors = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
var clock = Stopwatch.StartNew();

// Opened a few hundred at a time: a burst of ten thousand connects would only measure the accept queue.
using var opening = new SemaphoreSlim(200);
var streams = Enumerable.Range(0, connections).Select(async _ =>
{
    await opening.WaitAsync(stop.Token);
    HttpResponseMessage response;
    try
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop.Token);
    }
    catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException)
    {
        Failed(exception.GetType().Name);
        return;
    }
    finally
    {
        opening.Release();
    }

    using (response)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            Failed($"HTTP {(int)response.StatusCode}");
            return;
        }

        Interlocked.Increment(ref opened);
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(stop.Token);
            await ReadEventsAsync(body, stop.Token);
            Interlocked.Increment(ref ended);
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or HttpRequestException)
        {
            errors.AddOrUpdate(exception.GetType().Name, 1, (_, n) => n + 1);
        }
    }
}).ToList();

_ = Task.Run(async () =>
{
    await ready.Task;
    Console.WriteLine($"ready {Volatile.Read(ref first)} after {clock.Elapsed.TotalSeconds:0.0} s");
});

await Task.WhenAll(streams);
ready.TrySetResult();

var summary = new Dictionary<string, object?>
{
    ["requested"] = connections,
    ["opened"] = opened,
    ["failed"] = failed,
    ["got_first_event"] = first,
    ["ended_by_server"] = ended,
    ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1),
    ["errors"] = errors,
    ["events"] = latencies.ToDictionary(e => e.Key, e =>
    {
        var values = e.Value.Order().ToArray();
        return (object)new Dictionary<string, object>
        {
            ["subscribers_reached"] = received.GetValueOrDefault(e.Key),
            ["p50_ms"] = Percentile(values, 0.50),
            ["p90_ms"] = Percentile(values, 0.90),
            ["p99_ms"] = Percentile(values, 0.99),
            ["max_ms"] = values.Length == 0 ? 0 : Math.Round(values[^1], 1),
        };
    }),
};
await File.WriteAllTextAsync(output, JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
return 0;

async Task ReadEventsAsync(Stream body, CancellationToken cancellationToken)
{
    var buffer = new byte[16 * 1024];
    var pending = new StringBuilder();
    var isFirst = true;
    int read;
    while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
    {
        var arrived = DateTimeOffset.UtcNow;
        pending.Append(Encoding.UTF8.GetString(buffer, 0, read));
        var text = pending.ToString();
        int end;
        while ((end = text.IndexOf("\n\n", StringComparison.Ordinal)) >= 0)
        {
            var frame = text[..end];
            text = text[(end + 2)..];
            if (!frame.Contains("data:", StringComparison.Ordinal))
            {
                continue; // retry: or a heartbeat comment
            }

            if (isFirst)
            {
                // The generation as it was when the stream opened: not a change.
                isFirst = false;
                if (Interlocked.Increment(ref first) + Volatile.Read(ref failed) >= connections)
                {
                    ready.TrySetResult();
                }

                continue;
            }

            var name = Field(frame, "event: ") ?? "message";
            received.AddOrUpdate(name, 1, (_, n) => n + 1);
            if (UpdatedAt(frame) is { } changed)
            {
                latencies.GetOrAdd(name, _ => []).Add((arrived - changed).TotalMilliseconds);
            }
        }

        pending.Clear().Append(text);
    }
}

void Failed(string why)
{
    errors.AddOrUpdate(why, 1, (_, n) => n + 1);
    if (Interlocked.Increment(ref failed) + Volatile.Read(ref first) >= connections)
    {
        ready.TrySetResult();
    }
}

static string? Field(string frame, string prefix)
{
    foreach (var line in frame.Split('\n'))
    {
        if (line.StartsWith(prefix, StringComparison.Ordinal))
        {
            return line[prefix.Length..];
        }
    }

    return null;
}

static DateTimeOffset? UpdatedAt(string frame)
{
    const string key = "\"updated_at\":\"";
    var at = frame.IndexOf(key, StringComparison.Ordinal);
    if (at < 0)
    {
        return null;
    }

    var start = at + key.Length;
    var stop = frame.IndexOf('"', start);
    return DateTimeOffset.TryParse(frame.AsSpan(start, stop - start), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value)
        ? value
        : null;
}

static double Percentile(double[] sorted, double p) =>
    sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)], 1);
