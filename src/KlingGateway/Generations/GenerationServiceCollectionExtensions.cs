using KlingGateway.Upstream;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

public static class GenerationServiceCollectionExtensions
{
    /// <summary>
    /// The generation service, its options, the ledger made ready before the server starts, and the worker that settles
    /// creates the gateway never heard back about (<see cref="CreateSettlementWorker"/>).
    /// </summary>
    public static IServiceCollection AddGenerations(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddLedger(configuration);
        services.AddOptions<GenerationOptions>().BindConfiguration(GenerationOptions.Section)
            .Validate(o => o.StatusRefreshInterval > TimeSpan.Zero, "Generations:StatusRefreshInterval must be positive (e.g. 00:00:05).")
            .Validate(o => o.MaxPageSize is >= 1 and <= 1000 && o.DefaultPageSize >= 1 && o.DefaultPageSize <= o.MaxPageSize,
                "Generations:DefaultPageSize must be between 1 and Generations:MaxPageSize (at most 1000).")
            .Validate(o => o.MaxConcurrentRefreshes is >= 1 and <= 1024,
                "Generations:MaxConcurrentRefreshes (Generations__MaxConcurrentRefreshes) must be between 1 and 1024.")
            .Validate(o => o.Deadline > o.StatusRefreshInterval,
                "Generations:Deadline (Generations__Deadline) must be longer than Generations:StatusRefreshInterval (e.g. 00:30:00).")
            .Validate(o => o.LateCheckWindow >= TimeSpan.Zero && o.LateCheckInterval > TimeSpan.Zero,
                "Generations:LateCheckWindow must not be negative and Generations:LateCheckInterval must be positive (e.g. 1.00:00:00 and 00:05:00).")
            .Validate(o => o.SettlementInterval >= TimeSpan.FromSeconds(1) && o.SettlementInterval <= TimeSpan.FromHours(1),
                "Generations:SettlementInterval must be between 00:00:01 and 01:00:00.")
            .Validate<IOptions<AimlApiOptions>>((o, upstream) => o.InterruptedAfterFor(upstream.Value.CreateTimeout) > upstream.Value.CreateTimeout
                    && o.InterruptedAfterFor(upstream.Value.CreateTimeout) <= TimeSpan.FromDays(1),
                "Generations:InterruptedAfter must be longer than AimlApi:CreateTimeout (a create still running must never be settled) and at most 1.00:00:00.")
            .Validate(o => o.BillingGracePeriod >= TimeSpan.Zero && o.BillingGracePeriod <= TimeSpan.FromDays(1),
                "Generations:BillingGracePeriod must be between 00:00:00 and 1.00:00:00.")
            .Validate<IOptions<AimlApiOptions>>((o, upstream) => o.BillingCheckFor <= TimeSpan.FromDays(90)
                    && o.BillingCheckFor > o.InterruptedAfterFor(upstream.Value.CreateTimeout) + o.BillingGracePeriod,
                "Generations:BillingCheckFor must be at most 90.00:00:00 (the usage log keeps 92 days) and longer than " +
                "Generations:InterruptedAfter plus Generations:BillingGracePeriod.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<SettlementMetrics>();
        services.AddSingleton<SettledGenerations>();
        services.AddSingleton<GenerationRecorder>();
        services.AddSingleton<GenerationService>();
        services.AddHostedService<LedgerInitializer>();
        services.AddHostedService<CreateSettlementWorker>();
        return services;
    }

    /// <summary>Creates or migrates the ledger's schema before any request is served.</summary>
    private sealed class LedgerInitializer(IGenerationStore store) : IHostedLifecycleService
    {
        public Task StartingAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
