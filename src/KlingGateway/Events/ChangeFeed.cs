using KlingGateway.Webhooks;

namespace KlingGateway.Events;

/// <summary>
/// What the ledger needs to report a change as it records it, and who to tell once it committed: the webhook routes of
/// the generation's client (a delivery is recorded in the change's own transaction), and the readers in this process
/// waiting for new events (<see cref="EventHub"/>, <see cref="WebhookDeliveryWorker"/>). Other replicas hear of a change
/// from PostgreSQL's <c>NOTIFY</c>, sent in the same transaction (<see cref="PostgresChangeListener"/>).
/// </summary>
public sealed class ChangeFeed(IWebhookRouting? routing = null)
{
    private readonly Lock _gate = new();
    private Wakeup[] _listeners = [];
    private Wakeup[] _deliveryListeners = [];

    /// <summary>Where each event of a client's generations is delivered; null records no delivery (a store built alone, in a test).</summary>
    public IWebhookRouting? Routing => routing;

    /// <summary>A wakeup set after every commit that recorded an event.</summary>
    public Wakeup Listen()
    {
        var wakeup = new Wakeup();
        lock (_gate)
        {
            _listeners = [.. _listeners, wakeup];
        }

        return wakeup;
    }

    /// <summary>
    /// A wakeup set after a commit that may have recorded a webhook delivery: not after the many that recorded none
    /// (every change of a client without webhooks), so the delivery worker does not look at the outbox for nothing.
    /// </summary>
    public Wakeup ListenForDeliveries()
    {
        var wakeup = new Wakeup();
        lock (_gate)
        {
            _deliveryListeners = [.. _deliveryListeners, wakeup];
        }

        return wakeup;
    }

    /// <summary>
    /// Called by the ledger after a commit that recorded an event (and by a replica's listener for another's);
    /// <paramref name="deliveries"/> is false only when the commit is known to have recorded no webhook delivery.
    /// </summary>
    public void Committed(bool deliveries = true)
    {
        foreach (var listener in Volatile.Read(ref _listeners))
        {
            listener.Set();
        }

        if (deliveries)
        {
            foreach (var listener in Volatile.Read(ref _deliveryListeners))
            {
                listener.Set();
            }
        }
    }
}

/// <summary>A wakeup that remembers one signal: a set before the wait ends the wait at once; many sets make one wake.</summary>
public sealed class Wakeup : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);
    private int _set;

    public void Set()
    {
        if (Interlocked.Exchange(ref _set, 1) == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>Waits for a set, at most <paramref name="timeout"/>; true when it was set.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var woken = await _signal.WaitAsync(timeout, cancellationToken);
        if (woken)
        {
            // Cleared before the waiter reads, so a set during the read wakes the next wait.
            Volatile.Write(ref _set, 0);
        }

        return woken;
    }

    public void Dispose() => _signal.Dispose();
}
