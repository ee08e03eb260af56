using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using KlingGateway.Infrastructure;

namespace KlingGateway.Tests.Lifecycle;

/// <summary>What the lifecycle tests share: waiting for the ledger to say something, and reading it as a caller would.</summary>
internal static class LifecycleHelpers
{
    /// <summary>Polls <paramref name="condition"/> until it holds, failing with <paramref name="what"/> after a generous bound.</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T?>> read, Func<T, bool> condition, string what, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(30));
        T? last = default;
        while (DateTime.UtcNow < deadline)
        {
            last = await read();
            if (last is not null && condition(last))
            {
                return last;
            }

            await Task.Delay(50);
        }

        throw new Xunit.Sdk.XunitException($"Timed out waiting for {what}; last seen: {(last is JsonElement json ? json.ToString() : last?.ToString())}");
    }

    /// <summary>One generation as the list route shows it (the list never calls the upstream).</summary>
    public static async Task<JsonElement?> ListedAsync(HttpClient client, string id)
    {
        var page = await client.GetFromJsonAsync<JsonElement>("/v1/generations?limit=100");
        foreach (var item in page.GetProperty("items").EnumerateArray())
        {
            if (item.GetProperty("id").GetString() == id)
            {
                return item.Clone();
            }
        }

        return null;
    }

    /// <summary>Waits, through the list route only, until the generation satisfies <paramref name="condition"/>.</summary>
    public static async Task<JsonElement> ListedUntilAsync(HttpClient client, string id, Func<JsonElement, bool> condition, string what, TimeSpan? limit = null) =>
        await WaitForAsync<JsonElement?>(() => ListedAsync(client, id), g => condition(g!.Value), what, limit) ?? default;

    /// <summary>The gateway's log once it holds <paramref name="text"/>: lines reach the file from a background writer.</summary>
    public static async Task<string> LogWithAsync(GatewayFactory gateway, string text) =>
        (await WaitForAsync<string>(() => Task.FromResult<string?>(gateway.ReadLog()), log => log.Contains(text, StringComparison.Ordinal),
            $"the log to hold {text}"))!;

    public static string? VideoStorage(JsonElement generation) =>
        generation.TryGetProperty("video", out var video) && video.ValueKind == JsonValueKind.Object ? video.GetProperty("storage").GetString() : null;

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>Collects the gateway's measurements from one host only (its meter factory), gauges included.</summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();

    public MetricRecorder(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == GatewayMetrics.Name && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
        _listener.Start();
    }

    public double Sum(string name, params (string Key, string Value)[] tags) => Matching(name, tags).Sum(m => m.Value);

    /// <summary>The gauge's value now.</summary>
    public double Observe(string name)
    {
        var before = _measurements.Count(m => m.Name == name);
        _listener.RecordObservableInstruments();
        return _measurements.Where(m => m.Name == name).Skip(before).Select(m => m.Value).LastOrDefault();
    }

    public void Dispose() => _listener.Dispose();

    private IEnumerable<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> Matching(string name, (string Key, string Value)[] tags) =>
        _measurements.Where(m => m.Name == name && tags.All(t => m.Tags.Any(k => k.Key == t.Key && Equals(k.Value?.ToString(), t.Value))));
}
