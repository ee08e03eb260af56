using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace KlingGateway.Access;

/// <summary>A client's requests in its current window, this one included, and how long until the window resets.</summary>
public readonly record struct WindowCount(long Count, TimeSpan ResetAfter);

/// <summary>
/// Counts each client's requests in fixed windows of <see cref="AuthOptions.RateLimitWindow"/>: a window starts with
/// the first request after the previous one ended. With <c>Redis:ConnectionString</c> the count is kept in Redis, so
/// replicas share it (<see cref="RedisRequestCounter"/>); without one, or while Redis does not answer, each replica
/// counts on its own. The counts live here, not in the rate limiter instances, which the framework creates and
/// disposes as it sees fit. The latest count this replica saw is kept per client for the RateLimit-Remaining header,
/// so answers need no second trip to Redis.
/// </summary>
public sealed class RequestCounter
{
    // Entries are per client (a configured, so bounded, set); past this many, ended windows are dropped.
    private const int PruneAbove = 4096;

    private readonly ConcurrentDictionary<string, LocalWindow> _local = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Seen> _latest = new(StringComparer.Ordinal);
    private readonly RedisRequestCounter _redis;
    private readonly TimeProvider _time;

    public RequestCounter(IOptions<AuthOptions> options, RedisRequestCounter redis, TimeProvider time)
    {
        Window = options.Value.RateLimitWindow;
        _redis = redis;
        _time = time;
    }

    public TimeSpan Window { get; }

    /// <summary>Counts the request here and now when this replica counts alone; false when Redis must be asked.</summary>
    public bool TryCount(string client, out WindowCount count)
    {
        if (_redis.IsConfigured)
        {
            count = default;
            return false;
        }

        count = CountLocally(client);
        return true;
    }

    /// <summary>
    /// Counts the request in Redis when one is configured and answers within its timeout; otherwise on this replica
    /// (failing open: an unreachable Redis never refuses or stalls a request). Never throws for Redis' sake.
    /// </summary>
    public async ValueTask<WindowCount> CountAsync(string client, CancellationToken cancellationToken)
    {
        if (_redis.IsConfigured && await _redis.TryCountAsync(client, Window, cancellationToken) is { } shared)
        {
            Remember(client, shared);
            return shared;
        }

        return CountLocally(client);
    }

    /// <summary>What remains of <paramref name="limit"/> in the client's window, by the latest count this replica saw.</summary>
    public int Remaining(string client, int limit)
    {
        if (!_latest.TryGetValue(client, out var seen) || _time.GetTimestamp() >= seen.EndsAt)
        {
            return limit;
        }

        return (int)Math.Clamp(limit - seen.Count, 0, limit);
    }

    private WindowCount CountLocally(string client)
    {
        var window = _local.GetOrAdd(client, static _ => new LocalWindow());
        WindowCount count;
        lock (window)
        {
            var now = _time.GetTimestamp();
            if (window.Count == 0 || _time.GetElapsedTime(window.StartedAt, now) >= Window)
            {
                window.StartedAt = now;
                window.Count = 0;
            }

            window.Count++;
            count = new WindowCount(window.Count, Window - _time.GetElapsedTime(window.StartedAt, now));
        }

        Remember(client, count);
        PruneIfLarge();
        return count;
    }

    private void Remember(string client, WindowCount count)
    {
        var now = _time.GetTimestamp();
        var seen = new Seen(count.Count, now + (long)(count.ResetAfter.TotalSeconds * _time.TimestampFrequency));
        _latest.AddOrUpdate(client,
            static (_, arg) => arg.Seen,
            // Concurrent answers can arrive out of order: within one window the higher count is the later one.
            static (_, old, arg) => arg.Now >= old.EndsAt || arg.Seen.Count >= old.Count ? arg.Seen : old,
            (Seen: seen, Now: now));
    }

    private void PruneIfLarge()
    {
        if (_latest.Count <= PruneAbove && _local.Count <= PruneAbove)
        {
            return;
        }

        var now = _time.GetTimestamp();
        foreach (var (client, seen) in _latest)
        {
            if (now >= seen.EndsAt)
            {
                _latest.TryRemove(new KeyValuePair<string, Seen>(client, seen));
            }
        }

        foreach (var (client, window) in _local)
        {
            if (_time.GetElapsedTime(window.StartedAt, now) >= Window)
            {
                _local.TryRemove(new KeyValuePair<string, LocalWindow>(client, window));
            }
        }
    }

    private sealed class LocalWindow
    {
        public long StartedAt { get; set; }

        public long Count { get; set; }
    }

    private readonly record struct Seen(long Count, long EndsAt);
}
