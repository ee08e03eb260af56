namespace KlingGateway.Generations;

/// <summary>
/// The ledger queries of the background workers (<see cref="PeriodicWorker"/>): find what needs settling, then settle
/// it with a conditional update. Every write here changes a row only from the state it was found in, so several
/// replicas sweeping one PostgreSQL ledger (or two processes on one SQLite file) never settle or refund a row twice:
/// the one whose update changed the row reports true, every other one false.
/// </summary>
/// <remarks>
/// Finds are bounded (<c>limit</c>, oldest first) and use partial indexes, so a sweep costs what there is to settle,
/// not the size of the ledger. A worker that finds a full batch settles it and looks again.
/// </remarks>
public interface ILedgerSweeps
{
    /// <summary>Creates still queued without an upstream id that were created before <paramref name="createdBefore"/>, oldest first.</summary>
    Task<IReadOnlyList<Generation>> FindUnansweredCreatesAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the create failed with <paramref name="error"/> and its billing unknown, if it is still queued without an
    /// upstream id; false when it no longer is (settled by another replica, or its answer arrived after all).
    /// </summary>
    Task<bool> SettleInterruptedAsync(string id, GenerationError error, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Closes idempotency keys left open by an interrupted create: a key whose generation was settled as interrupted is
    /// completed with <paramref name="answer"/>, so a retry with it is answered at once; a key claimed before
    /// <paramref name="claimedBefore"/> that never got a generation (the gateway stopped before the admission) is
    /// dropped, so a retry runs afresh. Returns how many keys were closed.
    /// </summary>
    Task<int> CloseInterruptedIdempotencyKeysAsync(StoredProblem answer, DateTimeOffset claimedBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Generations whose billing is unknown and can be looked up (sent with their own upstream request id), created at
    /// or after <paramref name="createdSince"/>, oldest first.
    /// </summary>
    Task<IReadOnlyList<Generation>> FindUnknownBillingAsync(DateTimeOffset createdSince, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Records what the usage log said, if the billing is still unknown: <see cref="GenerationBilling.NotBilled"/>
    /// refunds the generation (it stops counting against its client's budget). False when another replica settled it first.
    /// </summary>
    Task<bool> SettleBillingAsync(string id, GenerationBilling billing, DateTimeOffset now, CancellationToken cancellationToken);
}
