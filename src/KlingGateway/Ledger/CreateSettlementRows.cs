using KlingGateway.Generations;

namespace KlingGateway.Ledger;

/// <summary>
/// Settling creates the gateway never heard back about, and bills it never learnt of: each a conditional change over the
/// version read in the same transaction, so of two replicas, or of a sweep and the create's own late answer, one writes.
/// </summary>
internal sealed class CreateSettlementRows(LedgerDatabase database, GenerationChanges changes, EventRecorder events)
{
    public async Task<bool> SettleInterruptedAsync(string id, GenerationError error, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(error);

        var settled = await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            // Conditional: only from the state it was found in, and over the version read here. A second replica, or the
            // create's own late answer, finds the row changed and this writes nothing.
            if (await changes.FindForChangeAsync(connection, transaction, id, token) is not { Status: GenerationStatus.Queued, UpstreamId: null } found)
            {
                return false;
            }

            var change = new GenerationChange(GenerationChangeKind.Interrupted, found with
            {
                Status = GenerationStatus.Failed,
                Error = error,
                Billing = GenerationBilling.Unknown,
                UpdatedAt = now,
                CompletedAt = now,
            }, found.Version);
            return await changes.WriteChangeAsync(connection, transaction, change, token) is not null;
        }, cancellationToken);
        if (settled)
        {
            events.Committed();
        }

        return settled;
    }

    public async Task<bool> SettleBillingAsync(string id, GenerationBilling billing, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (billing == GenerationBilling.Unknown)
        {
            throw new ArgumentOutOfRangeException(nameof(billing), billing, "Settling a bill means knowing it.");
        }

        var settled = await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            // Conditional, as above: one replica refunds a row, once.
            if (await changes.FindForChangeAsync(connection, transaction, id, token) is not { Billing: GenerationBilling.Unknown } found)
            {
                return false;
            }

            var change = new GenerationChange(GenerationChangeKind.BillingSettled, found with
            {
                Billing = billing,
                Refunded = billing == GenerationBilling.NotBilled,
                UpdatedAt = now,
            }, found.Version);
            return await changes.WriteChangeAsync(connection, transaction, change, token) is not null;
        }, cancellationToken);
        if (settled)
        {
            events.Committed();
        }

        return settled;
    }
}
