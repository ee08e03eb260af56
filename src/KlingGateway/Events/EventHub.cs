using System.Collections.Concurrent;
using System.Threading.Channels;
using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Events;

/// <summary>
/// One per replica: reads the ledger's event log once for every subscriber of this replica and hands each event to the
/// streams that want it, so ten thousand subscribers cost the ledger one read per event and the upstream nothing (no
/// stream ever asks it; the lifecycle's refresh does that alone, once per interval).
/// </summary>
/// <remarks>
/// <para>
/// <b>When it reads.</b> At once when this process committed an event (<see cref="ChangeFeed"/>), when another replica
/// did (PostgreSQL <c>NOTIFY</c>, <see cref="PostgresChangeListener"/>), and every second whatever happens, so an event
/// arrives within a second even while the listener reconnects.
/// </para>
/// <para>
/// <b>In order, without a gap.</b> Events are handed on in sequence order. On PostgreSQL a sequence number is taken
/// when the row is inserted, not when it commits, so for a moment a number can be missing while a later one is
/// visible. A missing number holds the events after it back until it appears or <see cref="GapWait"/> passes (then it
/// belonged to a transaction that rolled back, or to a restart of the sequence's cache); a number given up on that
/// still appears within <see cref="LateWindow"/> is handed on then, as a late event. So a stream's <c>id:</c> only
/// grows, and a client resuming after it misses nothing committed before it. SQLite has one writer, and no gaps.
/// </para>
/// <para>
/// <b>Idle.</b> With no subscriber on this replica, and a log whose sequences commit in order (SQLite), the hub reads only
/// where the log ends, not the events: nobody is there to hand them to, and a stream opened later replays everything up
/// to that point from the log itself. That keeps a create from paying for a read of its own event (bench/FINDINGS.md).
/// </para>
/// <para>
/// <b>Bounded.</b> At most <see cref="EventOptions.MaxSubscribers"/> streams per replica and
/// <see cref="EventOptions.MaxSubscribersPerClient"/> per client; each has a queue of <see cref="QueueLength"/> events,
/// and one whose reader falls that far behind is ended (its client resumes from the ledger with <c>Last-Event-ID</c>),
/// so a slow reader never holds the others back or the replica's memory up.
/// </para>
/// </remarks>
public sealed partial class EventHub : BackgroundService
{
    /// <summary>How long a missing sequence number holds later events back.</summary>
    public static readonly TimeSpan GapWait = TimeSpan.FromSeconds(3);

    /// <summary>How long a skipped sequence number is still looked for, and its event handed on late if it appears.</summary>
    public static readonly TimeSpan LateWindow = TimeSpan.FromMinutes(1);

    /// <summary>The events a subscriber may have waiting before it is ended as too slow.</summary>
    public const int QueueLength = 256;

    /// <summary>The longest wait between two reads of the log.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    private const int Page = 500;
    private const int MaxLate = 1000;

    private readonly IEventLog _log;
    private readonly ChangeFeed _feed;
    private readonly IOptions<EventOptions> _options;
    private readonly EventMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<EventHub> _logger;
    private readonly ConcurrentDictionary<string, SubscriberSet> _byGeneration = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SubscriberSet> _byOwner = new(StringComparer.Ordinal);
    private readonly SubscriberSet _everything = new();
    private readonly SubscriberSet _all = new();
    private readonly ConcurrentDictionary<string, int> _perClient = new(StringComparer.Ordinal);
    private readonly Dictionary<long, DateTimeOffset> _late = [];
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _publishLock = new();
    private long _initialHigh = -1;
    private int _total;
    private long _high = -1;
    private DateTimeOffset? _gapSince;
    private volatile bool _stopping;

    public EventHub(
        IEventLog log, ChangeFeed feed, IOptions<EventOptions> options, EventMetrics metrics, IHostApplicationLifetime lifetime,
        TimeProvider time, ILogger<EventHub> logger)
    {
        _log = log;
        _feed = feed;
        _options = options;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        // Streams end as soon as the host begins to stop, before the server waits for requests to finish: a stream would
        // otherwise hold the stop for all of Gateway:ShutdownTimeout. Their clients reconnect to another replica.
        lifetime.ApplicationStopping.Register(EndAll);
    }

    /// <summary>The sequence of the last event handed on; a stream opened now gets every later one live.</summary>
    public long High => Interlocked.Read(ref _high);

    /// <summary>Completes once the hub knows where the log ends (the first read after the start).</summary>
    public Task Started => _started.Task;

    /// <summary>
    /// Where a subscription's live events begin: every event after this sequence reaches its queue, none up to it does.
    /// Read after <see cref="Started"/>.
    /// </summary>
    public long LiveAfter(Subscription subscription)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        return subscription.StartHigh >= 0 ? subscription.StartHigh : Interlocked.Read(ref _initialHigh);
    }

    /// <summary>
    /// Opens a subscription to one generation's events (<paramref name="generationId"/>) or to every event
    /// <paramref name="owner"/> may see (every event at all for <see langword="null"/>, an admin); refused when the replica
    /// or the client already holds its most.
    /// </summary>
    public Subscription? TrySubscribe(string client, string? generationId, GenerationOwner? owner, out SubscriptionRefusal refusal)
    {
        var settings = _options.Value;
        if (_stopping)
        {
            refusal = SubscriptionRefusal.HostFull;
            return null;
        }

        if (Interlocked.Increment(ref _total) > settings.MaxSubscribers)
        {
            Interlocked.Decrement(ref _total);
            refusal = SubscriptionRefusal.HostFull;
            _metrics.Refused("host_limit");
            return null;
        }

        if (_perClient.AddOrUpdate(client, 1, (_, count) => count + 1) > settings.MaxSubscribersPerClient)
        {
            _perClient.AddOrUpdate(client, 0, (_, count) => count - 1);
            Interlocked.Decrement(ref _total);
            refusal = SubscriptionRefusal.ClientFull;
            _metrics.Refused("client_limit");
            return null;
        }

        var subscription = new Subscription(this, client, generationId, owner);
        // Under the publish lock: every event up to the high mark was handed on before this subscription existed, every
        // later one reaches its queue. A stream replays the first kind from the log and reads the second live.
        lock (_publishLock)
        {
            Register(subscription);
            subscription.StartHigh = _high;
        }

        refusal = SubscriptionRefusal.None;
        _metrics.Opened(generationId is null);
        if (_stopping)
        {
            subscription.End();
        }

        return subscription;
    }

    private void Register(Subscription subscription)
    {
        _all.Add(subscription);
        if (subscription.GenerationId is { } id)
        {
            Add(_byGeneration, id, subscription);
        }
        else if (subscription.Owner is { } owner)
        {
            Add(_byOwner, OwnerKey(owner.Client, owner.User), subscription);
        }
        else
        {
            _everything.Add(subscription);
        }
    }

    private static void Add(ConcurrentDictionary<string, SubscriberSet> sets, string key, Subscription subscription)
    {
        // A set emptied and retired meanwhile refuses the add; the next look finds (or makes) a live one.
        while (!sets.GetOrAdd(key, _ => new SubscriberSet()).Add(subscription))
        {
        }
    }

    internal void Unregister(Subscription subscription)
    {
        _all.Remove(subscription);
        if (subscription.GenerationId is { } id)
        {
            Remove(_byGeneration, id, subscription);
        }
        else if (subscription.Owner is { } owner)
        {
            Remove(_byOwner, OwnerKey(owner.Client, owner.User), subscription);
        }
        else
        {
            _everything.Remove(subscription);
        }

        _perClient.AddOrUpdate(subscription.Client, 0, (_, count) => count - 1);
        Interlocked.Decrement(ref _total);
        _metrics.Closed(subscription.GenerationId is null);
    }

    private static void Remove(ConcurrentDictionary<string, SubscriberSet> sets, string key, Subscription subscription)
    {
        if (sets.TryGetValue(key, out var set) && set.Remove(subscription) && set.TryRetire())
        {
            sets.TryRemove(new KeyValuePair<string, SubscriberSet>(key, set));
        }
    }

    private static string OwnerKey(string client, string? user) => user is null ? client : $"{client}\n{user}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var wakeup = _feed.Listen();
        using var heartbeat = new PeriodicTimer(_options.Value.HeartbeatInterval, _time);
        var heartbeats = HeartbeatAsync(heartbeat, stoppingToken);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    if (_high < 0)
                    {
                        var latest = await _log.LatestSequenceAsync(stoppingToken);
                        lock (_publishLock)
                        {
                            Interlocked.Exchange(ref _initialHigh, latest);
                            Interlocked.Exchange(ref _high, latest);
                        }

                        _started.TrySetResult();
                    }

                    if (!await PassWhileIdleAsync(stoppingToken))
                    {
                        await CatchUpAsync(stoppingToken);
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // The ledger may be briefly unreachable: the next read starts where this one stopped.
                    LogReadFailed(_logger, exception.GetType().Name, Bounded(exception.Message));
                }

                await wakeup.WaitAsync(_gapSince is null ? PollInterval : TimeSpan.FromMilliseconds(50), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: every stream was ended when the host began to stop.
        }
        finally
        {
            EndAll();
            await heartbeats;
        }
    }

    /// <summary>
    /// With nobody subscribed, moves the high mark to where the log ends without reading the events (see the remarks,
    /// "Idle"); false when there is someone to hand events to, or the log may still fill a gap below its end.
    /// </summary>
    private async Task<bool> PassWhileIdleAsync(CancellationToken cancellationToken)
    {
        if (!_log.CommitsInSequence || Volatile.Read(ref _total) > 0 || _gapSince is not null || _late.Count > 0)
        {
            return false;
        }

        var latest = await _log.LatestSequenceAsync(cancellationToken);
        // A subscription counts itself before it takes the publish lock and reads the high mark under it: seen here,
        // it gets its events read and handed on; not seen, it starts after this mark and replays up to it from the log.
        lock (_publishLock)
        {
            if (Volatile.Read(ref _total) > 0)
            {
                return false;
            }

            if (latest > _high)
            {
                Interlocked.Exchange(ref _high, latest);
            }
        }

        return true;
    }

    /// <summary>Hands on every event committed since the last one handed on, in sequence order (see the remarks on gaps).</summary>
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var batch = await _log.ReadAfterAsync(_high, Page, cancellationToken);
            foreach (var generationEvent in batch)
            {
                if (generationEvent.Sequence > _high + 1)
                {
                    var now = _time.GetUtcNow();
                    _gapSince ??= now;
                    if (now - _gapSince < GapWait)
                    {
                        // Held back: the missing number may still commit. Looked at again shortly.
                        return;
                    }

                    for (var missing = _high + 1; missing < generationEvent.Sequence && _late.Count < MaxLate; missing++)
                    {
                        _late[missing] = now + LateWindow;
                    }

                    LogGapSkipped(_logger, _high + 1, generationEvent.Sequence - 1);
                }

                _gapSince = null;
                lock (_publishLock)
                {
                    Publish(generationEvent, late: false);
                    Interlocked.Exchange(ref _high, generationEvent.Sequence);
                }
            }

            if (batch.Count < Page)
            {
                break;
            }
        }

        _gapSince = null;
        if (_late.Count > 0)
        {
            await LookForLateAsync(cancellationToken);
        }
    }

    private async Task LookForLateAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        foreach (var (sequence, until) in _late.ToList())
        {
            if (until < now)
            {
                _late.Remove(sequence);
            }
        }

        foreach (var found in await _log.ReadSequencesAsync([.. _late.Keys.Take(100)], cancellationToken))
        {
            _late.Remove(found.Sequence);
            LogLateEvent(_logger, found.Sequence);
            Publish(found, late: true);
        }
    }

    private void Publish(GenerationEvent generationEvent, bool late)
    {
        _metrics.Published(_time.GetUtcNow() - generationEvent.OccurredAt);
        var item = new HubItem(generationEvent, late);
        if (_byGeneration.TryGetValue(generationEvent.GenerationId, out var watchers))
        {
            Offer(watchers, item);
        }

        if (_byOwner.TryGetValue(OwnerKey(generationEvent.OwnerClient, generationEvent.OwnerUser), out var owners))
        {
            Offer(owners, item);
        }

        Offer(_everything, item);
    }

    private void Offer(SubscriberSet set, HubItem item)
    {
        foreach (var subscription in set.Snapshot())
        {
            if (!subscription.Offer(item))
            {
                _metrics.SlowSubscriber();
                LogSlowSubscriber(_logger, subscription.Client, subscription.GenerationId ?? "(all)");
            }
        }
    }

    private async Task HeartbeatAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                foreach (var subscription in _all.Snapshot())
                {
                    subscription.Heartbeat();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void EndAll()
    {
        _stopping = true;
        foreach (var subscription in _all.Snapshot())
        {
            subscription.End();
        }
    }

    private static string Bounded(string message) => message.Length > 300 ? message[..300] + "…" : message;

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning,
        Message = "Event streams: reading the event log failed ({ErrorType}: {Error}); trying again shortly")]
    private static partial void LogReadFailed(ILogger logger, string errorType, string error);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning,
        Message = "Event streams: events {FirstMissing} to {LastMissing} did not appear within the gap wait; later events are handed on, and these if they appear late")]
    private static partial void LogGapSkipped(ILogger logger, long firstMissing, long lastMissing);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information,
        Message = "Event streams: event {Sequence} committed after later ones were handed on; handed on late")]
    private static partial void LogLateEvent(ILogger logger, long sequence);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Information,
        Message = "Event stream of client {Client} ({Stream}) fell too far behind and was ended; it resumes with Last-Event-ID")]
    private static partial void LogSlowSubscriber(ILogger logger, string client, string stream);

    /// <summary>A set of subscriptions, read as an array that is rebuilt only after it changed.</summary>
    private sealed class SubscriberSet
    {
        private readonly Lock _gate = new();
        private readonly HashSet<Subscription> _items = [];
        private Subscription[]? _snapshot = [];
        private bool _retired;

        public bool Add(Subscription subscription)
        {
            lock (_gate)
            {
                if (_retired)
                {
                    return false;
                }

                _items.Add(subscription);
                _snapshot = null;
                return true;
            }
        }

        public bool Remove(Subscription subscription)
        {
            lock (_gate)
            {
                _snapshot = null;
                return _items.Remove(subscription);
            }
        }

        /// <summary>Retires the set when it is empty, so an emptied generation's entry can go; false when it is not.</summary>
        public bool TryRetire()
        {
            lock (_gate)
            {
                _retired = _items.Count == 0;
                return _retired;
            }
        }

        public Subscription[] Snapshot()
        {
            var snapshot = Volatile.Read(ref _snapshot);
            if (snapshot is not null)
            {
                return snapshot;
            }

            lock (_gate)
            {
                return _snapshot ??= [.. _items];
            }
        }
    }
}

/// <summary>Why a subscription was refused.</summary>
public enum SubscriptionRefusal
{
    None,

    /// <summary>The replica holds <see cref="EventOptions.MaxSubscribers"/> streams, or is stopping.</summary>
    HostFull,

    /// <summary>The client holds <see cref="EventOptions.MaxSubscribersPerClient"/> streams on this replica.</summary>
    ClientFull,
}

/// <summary>An event handed on, or a heartbeat (no event); <paramref name="Late"/> for one that committed after later ones.</summary>
public readonly record struct HubItem(GenerationEvent? Event, bool Late);

/// <summary>One open stream's place in the <see cref="EventHub"/>: its queue of events and heartbeats. Dispose to leave.</summary>
public sealed class Subscription : IDisposable
{
    private readonly EventHub _hub;
    private readonly Channel<HubItem> _queue = Channel.CreateBounded<HubItem>(new BoundedChannelOptions(EventHub.QueueLength)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private int _disposed;

    internal Subscription(EventHub hub, string client, string? generationId, GenerationOwner? owner)
    {
        _hub = hub;
        Client = client;
        GenerationId = generationId;
        Owner = owner;
    }

    public string Client { get; }

    /// <summary>The one generation followed, or null for a caller's (or, with no owner, every) generation.</summary>
    public string? GenerationId { get; }

    /// <summary>Whose generations an all-generations stream follows; null with no generation id: every one (an admin).</summary>
    public GenerationOwner? Owner { get; }

    /// <summary>The hub's high mark when this subscription joined (-1 before the hub had read the log's end).</summary>
    internal long StartHigh { get; set; } = -1;

    /// <summary>Set when the queue overflowed: the reader fell behind and the stream must end.</summary>
    public bool FellBehind { get; private set; }

    /// <summary>Events and heartbeats; completes when the stream must end (the host stops, or the reader fell behind).</summary>
    public ChannelReader<HubItem> Reader => _queue.Reader;

    internal bool Offer(HubItem item)
    {
        if (_queue.Writer.TryWrite(item))
        {
            return true;
        }

        if (FellBehind || Volatile.Read(ref _disposed) != 0)
        {
            return true;
        }

        FellBehind = true;
        _queue.Writer.TryComplete();
        return false;
    }

    /// <summary>A heartbeat, unless events are waiting anyway.</summary>
    internal void Heartbeat() => _queue.Writer.TryWrite(new HubItem(null, false));

    internal void End() => _queue.Writer.TryComplete();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _queue.Writer.TryComplete();
            _hub.Unregister(this);
        }
    }
}
