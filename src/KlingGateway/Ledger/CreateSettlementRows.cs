using KlingGateway.Generations;

namespace KlingGateway.Ledger;

/// <summary>
/// Settling creates the gateway never heard back about, and bills it never learnt of: each a conditional change over the
/// version read in the same transaction, so of two replicas, or of a sweep and the create's own late answer, one writes.
/// </summary>
internal sealed class CreateSettlementRows(LedgerDatabase database, GenerationChanges changes, EventRecorder events)
{
    public Task<bool> SettleInterruptedAsync(string id, GenerationError error, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(error);

        // Only from the state it was found in: a second replica, or the create's own late answer, finds the row changed
        // and this writes nothing.
        return SettleAsync(id, found => found is { Status: GenerationStatus.Queued, UpstreamId: null }
            ? new GenerationChange(GenerationChangeKind.Interrupted, found with
            {
                Status = GenerationStatus.Failed,
                Error = error,
                Billing = GenerationBilling.Unknown,
                UpdatedAt = now,
                CompletedAt = now,
            }, found.Version)
            : null, cancellationToken);
    }

    public Task<bool> SettleBillingAsync(string id, GenerationBilling billing, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (billing == GenerationBilling.Unknown)
        {
            throw new ArgumentOutOfRangeException(nameof(billing), billing, "Settling a bill means knowing it.");
        }

        // One replica refunds a row, once.
        return SettleAsync(id, found => found is { Billing: GenerationBilling.Unknown }
            ? new GenerationChange(GenerationChangeKind.BillingSettled, found with
            {
                Billing = billing,
                Refunded = billing == GenerationBilling.NotBilled,
                UpdatedAt = now,
            }, found.Version)
            : null, cancellationToken);
    }

    /// <summary>
    /// In one write: the generation as it is now, the change <paramref name="settle"/> makes of it (none: it is not in the
    /// state to settle), written over the version read here. True when a change was written.
    /// </summary>
    private async Task<bool> SettleAsync(string id, Func<Generation, GenerationChange?> settle, CancellationToken cancellationToken)
    {
        var settled = await database.WriteTransactionAsync(async (connection, transaction, token) =>
            await changes.FindForChangeAsync(connection, transaction, id, token) is { } found && settle(found) is { } change
            && await changes.WriteChangeAsync(connection, transaction, change, token) is not null, cancellationToken);
        if (settled)
        {
            events.Committed();
        }

        return settled;
    }
}
