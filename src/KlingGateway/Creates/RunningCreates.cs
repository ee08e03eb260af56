using System.Collections.Concurrent;

using KlingGateway.Generations;

namespace KlingGateway.Creates;

/// <summary>
/// The creates this process is running, from before their admission (which may wait for a lock) until the upstream's
/// answer is recorded. <see cref="CreateSettlementWorker"/> never settles such a create as interrupted, however long it
/// takes; another replica's creates are protected by <see cref="GenerationOptions.InterruptedAfter"/> alone.
/// </summary>
public sealed class RunningCreates
{
    private readonly ConcurrentDictionary<string, byte> _running = new(StringComparer.Ordinal);

    /// <summary>Marks the create of <paramref name="id"/> as running in this process until the returned scope is disposed.</summary>
    public IDisposable Track(string id)
    {
        _running[id] = 0;
        return new Scope(_running, id);
    }

    /// <summary>Whether this process is running the create of <paramref name="id"/>.</summary>
    public bool Contains(string id) => _running.ContainsKey(id);

    private sealed class Scope(ConcurrentDictionary<string, byte> running, string id) : IDisposable
    {
        public void Dispose() => running.TryRemove(id, out _);
    }
}
