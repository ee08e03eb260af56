namespace KlingGateway.Generations;

/// <summary>
/// The ledger: the durable record of every generation the gateway started, and the only place the mapping from
/// the gateway's id to the upstream's id lives.
/// </summary>
public interface IGenerationStore
{
    /// <summary>Creates the schema or brings it up to date. Called once at start, before any other member; safe to repeat.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Adds a new generation. Fails if the id is already there. Records no event: a create's admission
    /// (<see cref="ILedgerAccounting.AdmitAsync"/>) inserts with its first event, <c>generation.queued</c>.
    /// </summary>
    Task InsertAsync(Generation generation, CancellationToken cancellationToken);

    /// <summary>
    /// Records what changed since the create for the generation with the same <see cref="Generation.Id"/>: the upstream
    /// id and status, the status, video, error, usage, the updated, completed and refreshed times, and the refund. What
    /// the create fixed stays as inserted: model, route family, warnings, request ids and summary, owner, video seconds,
    /// cost and <see cref="Generation.CreatedAt"/> (the list order and cursor key never move).
    /// Throws <see cref="KeyNotFoundException"/> if there is none.
    /// </summary>
    Task UpdateAsync(Generation generation, CancellationToken cancellationToken);

    /// <summary>
    /// Writes one change of a generation (everything an update writes, and the version, refresh schedule, watchdog and
    /// kept-video fields) in one transaction: the one place a generation's change after its create is recorded. Returns
    /// the generation as written, with its new <see cref="Generation.Version"/>; <see langword="null"/> when
    /// <see cref="GenerationChange.ExpectedVersion"/> no longer matches (someone else changed it first).
    /// Throws <see cref="KeyNotFoundException"/> when there is no such generation.
    /// </summary>
    Task<Generation?> RecordChangeAsync(GenerationChange change, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the refresh of one generation when it is due (<see cref="Generation.NextRefreshAt"/> at or before
    /// <paramref name="now"/>), moving it to <paramref name="leaseUntil"/> in one conditional update: the claimed row, or
    /// <see langword="null"/> when it is not due or another reader, worker or replica claimed it first.
    /// </summary>
    Task<Generation?> ClaimRefreshAsync(string id, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken);

    /// <summary>Claims up to <paramref name="limit"/> due refreshes, the longest due first, as <see cref="ClaimRefreshAsync"/> does one.</summary>
    Task<IReadOnlyList<Generation>> ClaimDueRefreshesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Unfinished generations with an upstream id created at or before <paramref name="createdBefore"/> (the watchdog's), oldest first.</summary>
    Task<IReadOnlyList<Generation>> FindOverdueAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="limit"/> pending video downloads whose next attempt is due, counting the attempt and
    /// leasing it until <paramref name="leaseUntil"/>.
    /// </summary>
    Task<IReadOnlyList<Generation>> ClaimDueDownloadsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Generations with a kept video (pending, stored or failed) that completed at or before <paramref name="completedBefore"/>.</summary>
    Task<IReadOnlyList<Generation>> FindRetentionDueAsync(DateTimeOffset completedBefore, int limit, CancellationToken cancellationToken);

    /// <summary>Counts for the gauges: generations in flight, videos stored and their bytes.</summary>
    Task<LedgerStats> StatsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The secret stored under <paramref name="name"/>; when there is none yet, <paramref name="candidate"/> is stored and
    /// returned. Every replica of a shared ledger gets the same value.
    /// </summary>
    Task<string> GetOrAddSecretAsync(string name, string candidate, CancellationToken cancellationToken);

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

/// <summary>The ledger's counts for the gauges.</summary>
/// <param name="InFlight">Generations queued or processing.</param>
/// <param name="VideosStored">Videos in the gateway's storage.</param>
/// <param name="BytesStored">Their bytes.</param>
public sealed record LedgerStats(long InFlight, long VideosStored, long BytesStored);
