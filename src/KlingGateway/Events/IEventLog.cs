using KlingGateway.Generations;

namespace KlingGateway.Events;

/// <summary>
/// The ledger's event log: every change of a generation a caller can see, written in the same transaction as the change
/// itself, so the log holds an event exactly when the ledger holds the change (the events table of the ledger,
/// <see cref="Ledger.SqlLedgerStore"/>). Read by the event streams and the webhook outbox; pruned after <c>Events:Retention</c>.
/// </summary>
public interface IEventLog
{
    /// <summary>The newest event's sequence, or 0 when the log is empty.</summary>
    Task<long> LatestSequenceAsync(CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> events after <paramref name="afterSequence"/>, in sequence order.</summary>
    Task<IReadOnlyList<GenerationEvent>> ReadAfterAsync(long afterSequence, int limit, CancellationToken cancellationToken);

    /// <summary>The events with these sequences that exist now (a late commit the reader skipped, found again).</summary>
    Task<IReadOnlyList<GenerationEvent>> ReadSequencesAsync(IReadOnlyCollection<long> sequences, CancellationToken cancellationToken);

    /// <summary>
    /// Up to <paramref name="limit"/> events of <paramref name="owner"/>'s generations (every owner's for <see langword="null"/>)
    /// with a sequence after <paramref name="afterSequence"/> and at most <paramref name="upToSequence"/>, in sequence order.
    /// </summary>
    Task<IReadOnlyList<GenerationEvent>> ReadOwnedAsync(
        GenerationOwner? owner, long afterSequence, long upToSequence, int limit, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> events of one generation with a version after <paramref name="afterVersion"/>, in version order.</summary>
    Task<IReadOnlyList<GenerationEvent>> ReadGenerationAsync(string generationId, long afterVersion, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes up to <paramref name="limit"/> events recorded before <paramref name="before"/> that no pending webhook
    /// delivery still needs, and as many finished deliveries last changed before it; returns how many rows went.
    /// </summary>
    Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken);
}
