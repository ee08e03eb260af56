using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Events;

/// <summary>
/// Removes events and finished webhook deliveries older than <c>Events:Retention</c>, at start and hourly, in bounded
/// batches. An event a kept delivery refers to stays until the delivery goes.
/// </summary>
public sealed partial class EventLogSweep(IEventLog log, IOptions<EventOptions> options, TimeProvider time, ILogger<EventLogSweep> logger)
    : PeriodicWorker(time, logger)
{
    private const int Batch = 1000;

    protected override string Name => "event log sweep";

    protected override TimeSpan Interval => TimeSpan.FromHours(1);

    protected override async Task RunPassAsync(CancellationToken stoppingToken)
    {
        var before = Time.GetUtcNow() - options.Value.Retention;
        var removed = 0;
        int batch;
        do
        {
            batch = await log.PruneAsync(before, Batch, stoppingToken);
            removed += batch;
        }
        while (batch >= Batch && !stoppingToken.IsCancellationRequested);

        if (removed > 0)
        {
            LogPruned(Logger, removed);
        }
    }

    [LoggerMessage(EventId = 9020, Level = LogLevel.Information,
        Message = "Removed {Count} events and finished webhook deliveries older than Events:Retention")]
    private static partial void LogPruned(ILogger logger, int count);
}
