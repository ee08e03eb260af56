namespace KlingGateway.Lifecycle;

public static class LifecycleServiceCollectionExtensions
{
    /// <summary>The background refresh worker with its watchdog, the upstream pacer, and the lifecycle's instruments.</summary>
    public static IServiceCollection AddGenerationLifecycle(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton<UpstreamPacer>();
        services.AddSingleton<LifecycleMetrics>();
        services.AddHostedService<RefreshWorker>();
        return services;
    }
}
