using KlingGateway.Ledger;
using KlingGateway.Webhooks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace KlingGateway.Events;

public static class EventServiceCollectionExtensions
{
    /// <summary>
    /// The event log's readers: the hub that hands events to this replica's streams, the PostgreSQL listener that hears
    /// the other replicas, the sweep that prunes the log, and what the ledger reports a change through (<see cref="ChangeFeed"/>,
    /// with the webhook routes of <see cref="AddWebhooks"/>).
    /// </summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.AddOptions<EventOptions>().BindConfiguration(EventOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventOptions>, EventOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<EventMetrics>();
        services.AddSingleton<ChangeFeed>(provider => new ChangeFeed(provider.GetRequiredService<WebhookDirectory>()));
        services.AddSingleton<IEventLog>(provider => provider.GetRequiredService<SqlLedgerStore>());
        services.AddSingleton<EventRenderer>();
        services.AddSingleton<EventHub>();
        services.AddHostedService(provider => provider.GetRequiredService<EventHub>());
        services.AddHostedService<PostgresChangeListener>();
        services.AddHostedService<EventLogSweep>();
        return services;
    }

    /// <summary>
    /// Signed webhooks: the settings (global, and per client under <c>Auth:Clients:{name}:Webhooks</c>), the directory
    /// that routes events and resolves destinations, the address policy and HTTP client, and the delivery worker.
    /// </summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services)
    {
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.AddSingleton<WebhookDirectory>();
        services.AddSingleton<IWebhookOutbox>(provider => provider.GetRequiredService<SqlLedgerStore>());
        services.AddSingleton<WebhookAddressPolicy>();
        services.AddSingleton<WebhookHttp>();
        services.AddSingleton<WebhookMetrics>();
        services.AddHostedService<WebhookStartup>();
        services.AddHostedService<WebhookDeliveryWorker>();
        return services;
    }
}
