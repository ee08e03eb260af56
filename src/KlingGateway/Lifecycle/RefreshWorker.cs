using System.Collections.Concurrent;
using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Lifecycle;

/// <summary>
/// Brings every unfinished generation to its end whether anyone polls or not, from the ledger alone (so it picks up
/// after a restart where it stopped). Each pass claims the generations whose refresh is due (one conditional update of
/// their rows, which moves each one interval ahead: the lease that keeps other replicas and readers from fetching it
/// again in that interval), never holding a connection while the upstream answers, and hands each to
/// <see cref="GenerationService.RefreshClaimedAsync"/>, the path reads take too.
/// </summary>
/// <remarks>
/// The upstream is never stampeded: at most <c>Generations:MaxConcurrentRefreshes</c> fetches at once (reads included);
/// claims are paced at a little more than the in-flight count per interval, so a backlog (after a restart, or a burst of
/// creates) spreads over the interval instead of arriving at once, and the refreshes it leads to stay spread; a
/// <c>Retry-After</c> or faults in a row pause the whole worker (<see cref="UpstreamPacer"/>). The watchdog runs in the
/// same loop: an unfinished generation past its deadline is failed even while the upstream cannot be asked.
/// </remarks>
public sealed partial class RefreshWorker(
    IGenerationStore store,
    GenerationService generations,
    UpstreamPacer pacer,
    LifecycleMetrics metrics,
    IOptions<GenerationOptions> options,
    TimeProvider time,
    ILogger<RefreshWorker> logger) : BackgroundService
{
    // Claims per statement: one round trip claims this many rows.
    private const int MaxClaim = 200;

    // Claims run a little faster than the steady rate, so a backlog drains within the interval.
    private const double Headroom = 1.25;

    private static readonly TimeSpan StatsPeriod = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FaultPause = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var interval = settings.StatusRefreshInterval;
        // A fiftieth of the interval (20 to 250 ms): claims, and so the refreshes they lead to, spread in steps that small.
        var tick = Clamp(interval / 50, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(250));
        var nextStats = DateTimeOffset.MinValue;
        var nextWatchdog = DateTimeOffset.MinValue;
        long inFlight = 0;
        double allowance = 0;
        var running = new ConcurrentDictionary<Task, bool>();
        // The gauges and the pacing rate follow the ledger's in-flight count, read every interval (5 s at most).
        var statsPeriod = Clamp(interval, TimeSpan.FromMilliseconds(50), StatsPeriod);

        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            try
            {
                if (now >= nextStats)
                {
                    var stats = await store.StatsAsync(stoppingToken);
                    metrics.Observe(stats);
                    inFlight = stats.InFlight;
                    nextStats = now + statsPeriod;
                }

                if (now >= nextWatchdog)
                {
                    await WatchAsync(now, settings, stoppingToken);
                    nextWatchdog = now + WatchdogPeriod;
                }

                // Claims per tick at the steady rate (the in-flight count, and the late checks, per interval) with headroom.
                var rate = Math.Max(inFlight, 1) * Headroom * tick.TotalSeconds / interval.TotalSeconds;
                allowance = Math.Min(allowance + rate, Math.Max(rate, 1) * 2);
                var claimable = (int)Math.Min(Math.Floor(allowance), Math.Min(generations.FreeFetchSlots, MaxClaim));
                if (claimable > 0 && pacer.PausedUntil <= now)
                {
                    var claimed = await store.ClaimDueRefreshesAsync(now, now + interval, claimable, stoppingToken);
                    allowance -= claimed.Count;
                    foreach (var generation in claimed)
                    {
                        var refresh = generations.RefreshClaimedAsync(generation);
                        running[refresh] = true;
                        _ = refresh.ContinueWith(static (t, state) => ((ConcurrentDictionary<Task, bool>)state!).TryRemove(t, out _), running,
                            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    }
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The ledger may be briefly unreachable; the leases of whatever was claimed end with the interval.
                LogPassFailed(logger, exception.GetType().Name);
                await Delay(FaultPause, stoppingToken);
                continue;
            }

            await Delay(tick, stoppingToken);
        }

        // Fetches in flight finish (their outcome is recorded); nothing new starts. Their own stop is the host's.
        await Task.WhenAll(running.Keys).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>The watchdog: fails unfinished generations past the deadline that no refresh has reached.</summary>
    private async Task WatchAsync(DateTimeOffset now, GenerationOptions settings, CancellationToken cancellationToken)
    {
        while (true)
        {
            var overdue = await store.FindOverdueAsync(now - settings.Deadline, 100, cancellationToken);
            var expired = 0;
            foreach (var generation in overdue)
            {
                if (await generations.ExpireIfOverdueAsync(generation, cancellationToken))
                {
                    expired++;
                }
            }

            if (overdue.Count < 100 || expired == 0)
            {
                return;
            }
        }
    }

    private async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the loop ends.
        }
    }

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) => value < min ? min : value > max ? max : value;

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "A pass of the refresh worker failed ({Error}); it goes on")]
    private static partial void LogPassFailed(ILogger logger, string error);
}
