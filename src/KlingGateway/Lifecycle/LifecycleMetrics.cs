using System.Collections.Frozen;
using System.Diagnostics.Metrics;
using System.Text.Json;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Upstream;

namespace KlingGateway.Lifecycle;

/// <summary>
/// The instruments of a generation's life after its create, on the gateway's own meter (<see cref="GatewayMetrics.Name"/>,
/// exported with it): refreshes by outcome, watchdog expiries, downloads, and gauges of what the ledger holds (in flight,
/// videos and bytes stored), which the refresh worker reads from the ledger every few seconds, so every replica of a
/// shared ledger reports the same totals.
/// </summary>
public sealed class LifecycleMetrics
{
    private static readonly FrozenDictionary<UpstreamFaultKind, string> FaultNames =
        Enum.GetValues<UpstreamFaultKind>().ToFrozenDictionary(k => k, k => JsonNamingPolicy.SnakeCaseLower.ConvertName(k.ToString()));

    private readonly Counter<long> _refreshes;
    private readonly Counter<long> _watchdogExpiries;
    private readonly Counter<long> _videosDownloaded;
    private readonly Counter<long> _downloadFailures;
    private LedgerStats _stats = new(0, 0, 0);

    public LifecycleMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(GatewayMetrics.Name);
        _refreshes = meter.CreateCounter<long>("kling_gateway.generation.refreshes", "{refresh}",
            "Upstream status refreshes, by trigger (worker, read) and outcome (unchanged, progressed, finished, deadline_exceeded, late_succeeded, or the fault).");
        _watchdogExpiries = meter.CreateCounter<long>("kling_gateway.generation.watchdog_expiries", "{generation}",
            "Generations failed by the watchdog for running past Generations:Deadline, by model.");
        _videosDownloaded = meter.CreateCounter<long>("kling_gateway.video.downloads", "{video}",
            "Videos downloaded into storage.");
        _downloadFailures = meter.CreateCounter<long>("kling_gateway.video.download_failures", "{attempt}",
            "Failed download attempts, by whether another attempt follows (retry) or the download gave up (failed).");
        meter.CreateObservableGauge("kling_gateway.generation.in_flight", () => Volatile.Read(ref _stats).InFlight, "{generation}",
            "Generations queued or processing in the ledger.");
        meter.CreateObservableGauge("kling_gateway.video.stored", () => Volatile.Read(ref _stats).VideosStored, "{video}",
            "Videos in the gateway's storage.");
        meter.CreateObservableGauge("kling_gateway.video.stored_bytes", () => Volatile.Read(ref _stats).BytesStored, "By",
            "Bytes of the videos in the gateway's storage.");
    }

    /// <summary>A fault kind as a tag value (<c>rate_limited</c>), as the gateway's other instruments write it.</summary>
    public static string FaultName(UpstreamFaultKind kind) => FaultNames[kind];

    /// <summary>The ledger's latest counts, for the gauges.</summary>
    public void Observe(LedgerStats stats) => Volatile.Write(ref _stats, stats);

    /// <summary>One refresh: <paramref name="trigger"/> is <c>worker</c> or <c>read</c>.</summary>
    public void Refreshed(string trigger, string outcome) =>
        _refreshes.Add(1, new("trigger", trigger), new("outcome", outcome));

    public void WatchdogExpired(Generation generation) =>
        _watchdogExpiries.Add(1, new KeyValuePair<string, object?>("model", generation.Model));

    public void VideoStored() => _videosDownloaded.Add(1);

    public void DownloadFailed(bool final) =>
        _downloadFailures.Add(1, new KeyValuePair<string, object?>("outcome", final ? "failed" : "retry"));
}
