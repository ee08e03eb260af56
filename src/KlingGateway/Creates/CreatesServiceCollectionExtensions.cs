using KlingGateway.Generations;

namespace KlingGateway.Creates;

public static partial class CreatesServiceCollectionExtensions
{
    /// <summary>
    /// The create's steps (<see cref="CreateFlow"/> and what it calls), the validators its filter runs, and the upkeep of
    /// its idempotency keys.
    /// </summary>
    public static IServiceCollection AddCreates(this IServiceCollection services)
    {
        services.AddGenerationValidation();
        services.AddScoped<CreateFlow>();
        services.AddScoped<CreateAudit>();
        services.AddSingleton<IdempotencyKeys>();
        services.AddSingleton<CreateAdmission>();
        services.AddSingleton<UpstreamStart>();
        services.AddSingleton<RunningCreates>();
        services.AddHostedService<IdempotencyKeyCleanup>();
        return services;
    }

    /// <summary>Deletes expired idempotency keys at start and then hourly.</summary>
    private sealed partial class IdempotencyKeyCleanup(ILedgerAccounting accounting, TimeProvider time, ILogger<IdempotencyKeyCleanup> logger)
        : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
            do
            {
                try
                {
                    var deleted = await accounting.DeleteExpiredIdempotencyKeysAsync(time.GetUtcNow(), stoppingToken);
                    if (deleted > 0)
                    {
                        LogDeleted(logger, deleted);
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    // The ledger may be briefly unreachable; expired keys are ignored by lookups anyway.
                    LogFailed(logger, exception.GetType().Name);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }

        [LoggerMessage(EventId = 6030, Level = LogLevel.Information, Message = "Deleted {Count} expired idempotency keys")]
        private static partial void LogDeleted(ILogger logger, int count);

        [LoggerMessage(EventId = 6031, Level = LogLevel.Warning, Message = "Deleting expired idempotency keys failed: {Error}")]
        private static partial void LogFailed(ILogger logger, string error);
    }
}
