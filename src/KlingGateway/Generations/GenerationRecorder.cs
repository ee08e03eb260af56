using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Lifecycle;

namespace KlingGateway.Generations;

/// <summary>
/// Records one change of a generation: the ledger write (<see cref="IGenerationStore.RecordChangeAsync"/>, where a row
/// reporting the change belongs in the same transaction), then what follows it in this process: the settled cache, the
/// metrics, the log and the audit events. Every writer after the create's admission comes through here: the create's
/// upstream answer, the refresh, the watchdog, the video download and the retention sweep.
/// </summary>
public sealed partial class GenerationRecorder(
    IGenerationStore store,
    SettledGenerations settled,
    GatewayMetrics metrics,
    LifecycleMetrics lifecycleMetrics,
    ILogger<GenerationRecorder> logger,
    ILoggerFactory loggerFactory)
{
    private readonly ILogger _audit = loggerFactory.CreateLogger(AuditLog.Category);

    /// <summary>
    /// The generation as written, or <see langword="null"/> when someone else changed it first (its expected version no
    /// longer matched).
    /// </summary>
    public async Task<Generation?> RecordAsync(GenerationChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);

        var written = await store.RecordChangeAsync(change, cancellationToken);
        if (written is null)
        {
            return null;
        }

        settled.Forget(written.Id);
        switch (change.Kind)
        {
            // A late failure of a generation the watchdog already failed was counted and audited then.
            case GenerationChangeKind.Succeeded or GenerationChangeKind.Failed when written.DeadlinePassedAt is null:
                metrics.Finished(written);
                LogFinished(logger, written.Id, written.Model, written.Status.ToApiString(), written.UpstreamStatus);
                AuditLog.Completed(_audit, written);
                break;
            case GenerationChangeKind.DeadlineExceeded:
                metrics.Finished(written);
                lifecycleMetrics.WatchdogExpired(written);
                LogDeadlineExceeded(logger, written.Id, written.Model, written.UpstreamStatus);
                AuditLog.DeadlineExceeded(_audit, written);
                break;
            case GenerationChangeKind.LateSucceeded:
                LogLateSucceeded(logger, written.Id, written.Model);
                AuditLog.LateSucceeded(_audit, written);
                break;
            case GenerationChangeKind.VideoStored:
                lifecycleMetrics.VideoStored();
                break;
            case GenerationChangeKind.VideoRetry or GenerationChangeKind.VideoFailed:
                lifecycleMetrics.DownloadFailed(final: change.Kind == GenerationChangeKind.VideoFailed);
                break;
        }

        return written;
    }

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information,
        Message = "Generation {GenerationId} for {Model} finished {Status} (upstream {UpstreamStatus})")]
    private static partial void LogFinished(ILogger logger, string generationId, string model, string status, string? upstreamStatus);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning,
        Message = "Generation {GenerationId} for {Model} ran past Generations:Deadline (upstream {UpstreamStatus}): failed as deadline_exceeded, still checked for a late video")]
    private static partial void LogDeadlineExceeded(ILogger logger, string generationId, string model, string? upstreamStatus);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Information,
        Message = "Generation {GenerationId} for {Model} completed upstream after its deadline: now succeeded, its video is kept")]
    private static partial void LogLateSucceeded(ILogger logger, string generationId, string model);
}
