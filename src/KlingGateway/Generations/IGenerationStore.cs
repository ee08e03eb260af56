namespace KlingGateway.Generations;

/// <summary>
/// The ledger: the durable record of every generation the gateway started, and the only place the mapping from
/// the gateway's id to the upstream's id lives.
/// </summary>
public interface IGenerationStore
{
    /// <summary>Creates the schema or brings it up to date. Called once at start, before any other member; safe to repeat.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Adds a new generation. Fails if the id is already there.</summary>
    Task InsertAsync(Generation generation, CancellationToken cancellationToken);

    /// <summary>
    /// Records what changed since the create for the generation with the same <see cref="Generation.Id"/>: the upstream
    /// id and status, the status, video, error, usage, the updated, completed and refreshed times, and the refund. What
    /// the create fixed stays as inserted: model, route family, warnings, request ids and summary, owner, video seconds,
    /// cost and <see cref="Generation.CreatedAt"/> (the list order and cursor key never move).
    /// Throws <see cref="KeyNotFoundException"/> if there is none.
    /// </summary>
    Task UpdateAsync(Generation generation, CancellationToken cancellationToken);

    /// <summary>The generation with this gateway id, or <see langword="null"/>.</summary>
    Task<Generation?> FindAsync(string id, CancellationToken cancellationToken);

    /// <summary>One page of generations, newest first (creation time descending, then id descending).</summary>
    Task<GenerationPage> ListAsync(GenerationQuery query, CancellationToken cancellationToken);

    /// <summary>Whether the ledger can be opened and read now; for the readiness probe. Never throws for a store fault.</summary>
    Task<bool> IsReachableAsync(CancellationToken cancellationToken);
}

/// <summary>What to list.</summary>
/// <param name="Status">Only generations with this status, or all.</param>
/// <param name="Model">Only generations of this model id (exact), or all.</param>
/// <param name="Limit">Page size, 1 to <see cref="MaxLimit"/>.</param>
/// <param name="After">Start after this position (from the previous page's <see cref="GenerationPage.Next"/>), or at the newest.</param>
public sealed record GenerationQuery(GenerationStatus? Status, string? Model, int Limit, GenerationCursor? After)
{
    /// <summary>Only generations of this owner (client and user, exactly); <see langword="null"/> lists every owner's (admin).</summary>
    public GenerationOwner? Owner { get; init; }

    /// <summary>The largest page the store returns; a larger <see cref="Limit"/> is a programming error.</summary>
    public const int MaxLimit = 100;
}

/// <summary>One page of generations.</summary>
/// <param name="Items">Newest first.</param>
/// <param name="Next">Where the next page starts; <see langword="null"/> on the last page.</param>
public sealed record GenerationPage(IReadOnlyList<Generation> Items, GenerationCursor? Next);
