using System.Diagnostics.Metrics;
using KlingGateway.Infrastructure;

namespace KlingGateway.Generations;

/// <summary>
/// The instruments of <see cref="CreateSettlementWorker"/>, on the gateway's own meter (<see cref="GatewayMetrics.Name"/>;
/// the host's <see cref="IMeterFactory"/> hands every caller asking for that name the same meter, so these are exported
/// with the rest). Tag values are bounded: catalog model ids, error codes and billing states.
/// </summary>
public sealed class SettlementMetrics
{
    private readonly Counter<long> _interrupted;
    private readonly Counter<long> _billingSettled;

    public SettlementMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);

        var meter = meterFactory.Create(GatewayMetrics.Name);
        _interrupted = meter.CreateCounter<long>("kling_gateway.generation.interrupted", "{generation}",
            "Creates the gateway stopped before it recorded their upstream answer, settled as failed (interrupted), by model.");
        _billingSettled = meter.CreateCounter<long>("kling_gateway.generation.billing_settled", "{generation}",
            "Creates of unknown outcome whose billing the upstream's usage log settled, by error code and billing (billed: stays charged; not_billed: refunded).");
    }

    /// <summary>A create was settled as interrupted (by this replica).</summary>
    public void Interrupted(Generation generation) =>
        _interrupted.Add(1, new KeyValuePair<string, object?>("model", generation.Model));

    /// <summary>A create's billing was settled (by this replica).</summary>
    public void BillingSettled(Generation generation, GenerationBilling billing) =>
        _billingSettled.Add(1,
            new("error_code", generation.Error?.Code ?? "none"),
            new("billing", billing.ToApiString()));
}
