using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

/// <summary>
/// Downloads every finished generation's video into storage, from the ledger alone: a pending download is claimed with
/// one conditional update (which counts the attempt and leases it for <c>Storage:DownloadTimeout</c> and ten seconds), so replicas never
/// download one video at the same time, and a download whose process died is taken up again when its lease ends.
/// Transient faults are retried with an exponential backoff, up to <c>Storage:DownloadAttempts</c>; then, or at once for a
/// refusal (404, not a video, over the cap), the download gives up and the content route streams from the source.
/// </summary>
public sealed partial class VideoDownloadWorker(
    IGenerationStore store,
    GenerationRecorder generations,
    VideoDownloader downloader,
    IVideoStorage storage,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<VideoDownloadWorker> logger) : BackgroundService
{
    /// <summary>How often the ledger is asked for due downloads when there was nothing to do.</summary>
    public static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan MaxRetry = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }

        var running = new List<Task>();
        using var slots = new SemaphoreSlim(settings.MaxConcurrentDownloads, settings.MaxConcurrentDownloads);
        var nextCleanup = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            IReadOnlyList<Generation> claimed = [];
            try
            {
                if (time.GetUtcNow() >= nextCleanup)
                {
                    // A temporary file older than two download timeouts has no live writer on any replica: its download's
                    // lease ended long ago (a process killed mid-download leaves one).
                    var removed = await storage.RemoveAbandonedAsync(time.GetUtcNow() - 2 * settings.DownloadTimeout, stoppingToken);
                    if (removed > 0)
                    {
                        LogAbandonedRemoved(logger, removed);
                    }

                    nextCleanup = time.GetUtcNow() + settings.DownloadTimeout;
                }

                var free = slots.CurrentCount;
                if (free > 0)
                {
                    var now = time.GetUtcNow();
                    claimed = await store.ClaimDueDownloadsAsync(now, now + LeaseFor(settings), free, stoppingToken);
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The ledger or the volume may be briefly unreachable; the next pass tries again.
                LogClaimFailed(logger, exception.GetType().Name);
            }

            foreach (var generation in claimed)
            {
                await slots.WaitAsync(stoppingToken);
                running.Add(Task.Run(async () =>
                {
                    try
                    {
                        await DownloadAsync(generation, stoppingToken);
                    }
                    finally
                    {
                        slots.Release();
                    }
                }, CancellationToken.None));
            }

            running.RemoveAll(t => t.IsCompleted);
            try
            {
                await Task.Delay(claimed.Count > 0 && slots.CurrentCount > 0 ? TimeSpan.Zero : IdlePoll, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // A download cut off by the stop keeps its lease; the next start takes it up once the lease ends.
        await Task.WhenAll(running);
    }

    /// <summary>
    /// A download's lease: its timeout and a margin for storing and recording it, so no second attempt starts while the
    /// first can still be running.
    /// </summary>
    public static TimeSpan LeaseFor(StorageOptions settings) => settings.DownloadTimeout + TimeSpan.FromSeconds(10);

    private async Task DownloadAsync(Generation generation, CancellationToken stoppingToken)
    {
        DownloadOutcome outcome;
        try
        {
            outcome = await downloader.DownloadAsync(generation, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var settings = options.Value;
        var kept = generation.Kept ?? new KeptVideo(KeptVideoState.Pending);
        var now = time.GetUtcNow();
        GenerationChange change;
        if (outcome.Stored is { } stored)
        {
            change = new(GenerationChangeKind.VideoStored, generation with { Kept = stored with { Attempts = kept.Attempts } }, generation.Version);
        }
        else if (outcome.Transient && kept.Attempts < settings.DownloadAttempts)
        {
            var wait = settings.DownloadRetryDelay * Math.Pow(2, Math.Min(kept.Attempts - 1, 16));
            change = new(GenerationChangeKind.VideoRetry, generation with
            {
                Kept = kept with { NextAttemptAt = now + (wait > MaxRetry ? MaxRetry : wait), Error = outcome.Error },
            }, generation.Version);
            LogRetry(logger, generation.Id, kept.Attempts, outcome.Error);
        }
        else
        {
            change = new(GenerationChangeKind.VideoFailed, generation with
            {
                Kept = kept with { State = KeptVideoState.Failed, NextAttemptAt = null, Error = outcome.Error },
            }, generation.Version);
            LogGaveUp(logger, generation.Id, kept.Attempts, outcome.Error);
        }

        try
        {
            if (await generations.RecordAsync(change, CancellationToken.None) is null && outcome.Stored is not null)
            {
                // Changed meanwhile: another replica stored it first (the file under the key is the same video), or the
                // retention sweep expired it, whose file must not outlive the record.
                LogSuperseded(logger, generation.Id);
                if ((await store.FindAsync(generation.Id, CancellationToken.None))?.Kept?.State != KeptVideoState.Stored)
                {
                    await storage.DeleteAsync(VideoDownloader.KeyOf(generation), CancellationToken.None);
                }
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The ledger is briefly unreachable: the lease ends and the download runs again.
            LogRecordFailed(logger, generation.Id, exception.GetType().Name);
            if (outcome.Stored is not null)
            {
                await storage.DeleteAsync(VideoDownloader.KeyOf(generation), CancellationToken.None);
            }
        }
    }

    [LoggerMessage(EventId = 8015, Level = LogLevel.Information,
        Message = "Removed {Count} temporary files of downloads that never finished")]
    private static partial void LogAbandonedRemoved(ILogger logger, int count);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Warning,
        Message = "Claiming due video downloads failed ({Error}); trying again shortly")]
    private static partial void LogClaimFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 8011, Level = LogLevel.Warning,
        Message = "Video of generation {GenerationId}: attempt {Attempt} failed, another follows: {Reason}")]
    private static partial void LogRetry(ILogger logger, string generationId, int attempt, string? reason);

    [LoggerMessage(EventId = 8012, Level = LogLevel.Warning,
        Message = "Video of generation {GenerationId} not kept after {Attempts} attempts: {Reason}; it is streamed from its source instead")]
    private static partial void LogGaveUp(ILogger logger, string generationId, int attempts, string? reason);

    [LoggerMessage(EventId = 8013, Level = LogLevel.Information,
        Message = "Video of generation {GenerationId}: the ledger changed during the download; its record stands")]
    private static partial void LogSuperseded(ILogger logger, string generationId);

    [LoggerMessage(EventId = 8014, Level = LogLevel.Warning,
        Message = "Video of generation {GenerationId} could not be recorded ({Error}); it is downloaded again")]
    private static partial void LogRecordFailed(ILogger logger, string generationId, string error);
}
