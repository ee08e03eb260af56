using System.Diagnostics.Metrics;
using KlingGateway.Infrastructure;

namespace KlingGateway.Events;

/// <summary>The event streams' instruments, on the gateway's own meter (<see cref="GatewayMetrics.Name"/>).</summary>
public sealed class EventMetrics
{
    private readonly Counter<long> _refused;
    private readonly Counter<long> _slow;
    private readonly Histogram<double> _fanoutLag;
    private long _oneGeneration;
    private long _allGenerations;

    public EventMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(GatewayMetrics.Name);
        meter.CreateObservableGauge("kling_gateway.events.subscribers", () => new[]
        {
            new Measurement<long>(Volatile.Read(ref _oneGeneration), new KeyValuePair<string, object?>("stream", "generation")),
            new Measurement<long>(Volatile.Read(ref _allGenerations), new KeyValuePair<string, object?>("stream", "all")),
        }, "{stream}", "Event streams open on this replica, by stream (one generation's, or all of a caller's generations).");
        _refused = meter.CreateCounter<long>("kling_gateway.events.streams_refused", "{stream}",
            "Event streams refused, by reason (host_limit: Events:MaxSubscribers; client_limit: Events:MaxSubscribersPerClient).");
        _slow = meter.CreateCounter<long>("kling_gateway.events.slow_subscribers", "{stream}",
            "Event streams ended because their reader fell too far behind; the client resumes with Last-Event-ID.");
        _fanoutLag = meter.CreateHistogram<double>("kling_gateway.events.fanout_lag", "s",
            "From a change's commit to this replica handing its event to its subscribers (another replica's change included); "
            + "recorded only while this replica has subscribers.");
    }

    public void Opened(bool allGenerations) => Interlocked.Increment(ref allGenerations ? ref _allGenerations : ref _oneGeneration);

    public void Closed(bool allGenerations) => Interlocked.Decrement(ref allGenerations ? ref _allGenerations : ref _oneGeneration);

    public void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void SlowSubscriber() => _slow.Add(1);

    public void Published(TimeSpan lag) => _fanoutLag.Record(Math.Max(0, lag.TotalSeconds));
}
