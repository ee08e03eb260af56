using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

/// <summary>
/// Removes kept videos once <c>Storage:Retention</c> has passed since their generation completed, and marks them expired
/// in the ledger (the content route then answers 410 and the resource says so). It runs at start and then every twenty-fourth of the retention, between once a second
/// and once every ten minutes; on several replicas each sweeps, and the ledger's version check lets one record each.
/// </summary>
public sealed partial class RetentionSweep(
    IGenerationStore store,
    GenerationRecorder generations,
    IVideoStorage storage,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<RetentionSweep> logger) : BackgroundService
{
    private const int Batch = 100;

    /// <summary>How often the sweep runs for a retention.</summary>
    public static TimeSpan PeriodFor(TimeSpan retention)
    {
        var period = retention / 24;
        return period < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1)
            : period > TimeSpan.FromMinutes(10) ? TimeSpan.FromMinutes(10)
            : period;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(PeriodFor(settings.Retention), time);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The ledger or the volume may be briefly unreachable; the next sweep does what this one could not.
                LogSweepFailed(logger, exception.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One sweep: every video past its retention.</summary>
    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        while (true)
        {
            var due = await store.FindRetentionDueAsync(now - settings.Retention, Batch, cancellationToken);
            var expired = 0;
            foreach (var generation in due)
            {
                if (generation.Kept is not { } kept)
                {
                    continue;
                }

                if (kept.Key is { } key)
                {
                    await storage.DeleteAsync(key, cancellationToken);
                }

                var change = new GenerationChange(GenerationChangeKind.VideoExpired, generation with
                {
                    Kept = kept with { State = KeptVideoState.Expired, Key = null, NextAttemptAt = null },
                    UpdatedAt = now,
                }, generation.Version);
                if (await generations.RecordAsync(change, cancellationToken) is not null)
                {
                    expired++;
                }
            }

            if (expired > 0)
            {
                LogExpired(logger, expired, settings.Retention);
            }

            // A short page is the last; a page of rows another replica recorded first would repeat, so stop there too.
            if (due.Count < Batch || expired == 0)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 8020, Level = LogLevel.Information,
        Message = "Removed {Count} videos past Storage:Retention ({Retention})")]
    private static partial void LogExpired(ILogger logger, int count, TimeSpan retention);

    [LoggerMessage(EventId = 8022, Level = LogLevel.Warning,
        Message = "The retention sweep failed ({Error}); the next one tries again")]
    private static partial void LogSweepFailed(ILogger logger, string error);
}
