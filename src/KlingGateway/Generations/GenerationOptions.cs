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
}
