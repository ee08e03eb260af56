using System.Diagnostics.Metrics;
using KlingGateway.Infrastructure;

namespace KlingGateway.Webhooks;

/// <summary>The webhooks' instruments, on the gateway's own meter (<see cref="GatewayMetrics.Name"/>).</summary>
public sealed class WebhookMetrics
{
    private readonly Counter<long> _attempts;
    private readonly Histogram<double> _attemptDuration;
    private readonly Histogram<double> _deliveryLatency;
    private readonly Counter<long> _disabled;
    private long _depth;

    public WebhookMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(GatewayMetrics.Name);
        _attempts = meter.CreateCounter<long>("kling_gateway.webhook.deliveries", "{attempt}",
            "Webhook attempts by outcome: delivered (2xx), retry (another attempt follows), failed (given up after Webhooks:RetryFor), " +
            "disabled (410 Gone: the endpoint is disabled), refused (the address, the allow-list, or a removed endpoint).");
        _attemptDuration = meter.CreateHistogram<double>("kling_gateway.webhook.attempt_duration", "s",
            "One attempt, from sending to the receiver's answer (or the timeout), by outcome.");
        _deliveryLatency = meter.CreateHistogram<double>("kling_gateway.webhook.delivery_latency", "s",
            "From the change a webhook reports to its receiver's 2xx, retries included.");
        _disabled = meter.CreateCounter<long>("kling_gateway.webhook.endpoints_disabled", "{endpoint}",
            "Webhook endpoints disabled because they answered 410 Gone.");
        meter.CreateObservableGauge("kling_gateway.webhook.outbox_depth", () => Volatile.Read(ref _depth), "{delivery}",
            "Webhook deliveries pending in the ledger (every replica of a shared ledger reports the same total).");
    }

    public void Attempted(string outcome, TimeSpan duration)
    {
        _attempts.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        _attemptDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void Refused() => _attempts.Add(1, new KeyValuePair<string, object?>("outcome", "refused"));

    public void Delivered(TimeSpan sinceChange) => _deliveryLatency.Record(Math.Max(0, sinceChange.TotalSeconds));

    public void EndpointDisabled() => _disabled.Add(1);

    public void OutboxDepth(long pending) => Volatile.Write(ref _depth, pending);
}
