using KlingGateway.Infrastructure;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KlingGateway.Generations;

public static class GenerationServiceCollectionExtensions
{
    /// <summary>The generation service, its options, and the ledger made ready before the server starts.</summary>
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
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddGatewayMetrics();
        services.AddSingleton<GenerationService>();
        services.AddHostedService<LedgerInitializer>();
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
