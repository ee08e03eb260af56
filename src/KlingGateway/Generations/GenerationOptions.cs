namespace KlingGateway.Generations;

/// <summary>How the gateway keeps its generations fresh. Section <c>Generations</c>.</summary>
public sealed class GenerationOptions
{
    public const string Section = "Generations";

    /// <summary>
    /// A status read refreshes from the upstream only when the last refresh is older than this; concurrent reads of
    /// one generation share one upstream fetch. A hundred pollers cost the upstream at most one fetch per interval.
    /// </summary>
    public TimeSpan StatusRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most upstream status fetches this replica runs at once, background and read-triggered together. The
    /// background worker starts no more than this, and spreads its fetches over the interval.
    /// </summary>
    public int MaxConcurrentRefreshes { get; set; } = 32;

    /// <summary>
    /// A generation not finished this long after its create is failed by the watchdog (<c>deadline_exceeded</c>), leaves
    /// the in-flight count and is not refunded. The upstream's own worst case is about 14 minutes (docs/upstream.md,
    /// "Statuses").
    /// </summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// After the deadline, the upstream is still asked about the generation for this long, at
    /// <see cref="LateCheckInterval"/>: a late success is recorded and its video kept. Zero stops at the deadline.
    /// </summary>
    public TimeSpan LateCheckWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often a generation past its deadline is checked during <see cref="LateCheckWindow"/>.</summary>
    public TimeSpan LateCheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest wait between two refreshes of a generation whose fetches keep failing (the backoff's cap).</summary>
    public static readonly TimeSpan MaxRefreshBackoff = TimeSpan.FromMinutes(5);

    /// <summary>Default page size of <c>GET /v1/generations</c>.</summary>
    public int DefaultPageSize { get; set; } = 20;

    /// <summary>Largest page size a caller may ask for.</summary>
    public int MaxPageSize { get; set; } = 100;

    /// <summary>How often <see cref="CreateSettlementWorker"/> runs a pass (also once at start).</summary>
    public TimeSpan SettlementInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A create still without the upstream's answer this long after the gateway accepted it is settled as interrupted,
    /// unless this very process is still running it. A create another replica runs is protected by this time alone, so
    /// it must exceed the longest a create can take there: the wait for its admission (the client's ledger lock, a free
    /// connection) plus <c>AimlApi:CreateTimeout</c> plus the write of its answer. Unset: <c>AimlApi:CreateTimeout</c>
    /// plus one minute.
    /// </summary>
    public TimeSpan? InterruptedAfter { get; set; }

    /// <summary>
    /// How long after a create the upstream's usage log may still lack it (the log is filled by an analytics pipeline,
    /// docs/upstream.md, "Usage log"). A create of unknown outcome still missing from the log after this counts as not
    /// billed and is refunded; one the log shows failed is refunded at once.
    /// </summary>
    public TimeSpan BillingGracePeriod { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How long the gateway keeps asking the usage log about a create whose billing is unknown (the log is unreachable,
    /// or answers with something unreadable). After that it stays unknown, and charged. At most 90 days: the log keeps 92.
    /// </summary>
    public TimeSpan BillingCheckFor { get; set; } = TimeSpan.FromDays(7);

    /// <summary><see cref="InterruptedAfter"/>, or its default for this create timeout.</summary>
    public TimeSpan InterruptedAfterFor(TimeSpan createTimeout) => InterruptedAfter ?? createTimeout + TimeSpan.FromMinutes(1);
}
