using System.Text.Json.Serialization;

namespace KlingGateway.Generations;

/// <summary>
/// One generation as the ledger keeps it: the gateway's handle, the upstream id it maps to, the normalized and raw
/// status, the outcome, and what was asked for. This is the stored shape, not a wire contract.
/// </summary>
public sealed record Generation
{
    /// <summary>The gateway's own opaque id (<see cref="GenerationId"/>); the only handle callers ever see.</summary>
    public required string Id { get; init; }

    /// <summary>The upstream's id; <see langword="null"/> until the upstream has answered the create.</summary>
    public string? UpstreamId { get; init; }

    /// <summary>The model id, as in the catalog.</summary>
    public required string Model { get; init; }

    /// <summary>The upstream route family the generation was created on (<c>universal</c> or <c>legacy</c>); status is fetched on the same family.</summary>
    public required string RouteFamily { get; init; }

    public GenerationStatus Status { get; init; }

    /// <summary>The upstream's status word as last received, unmapped.</summary>
    public string? UpstreamStatus { get; init; }

    /// <summary>The result, once succeeded.</summary>
    public GenerationVideo? Video { get; init; }

    /// <summary>Why it failed, once failed.</summary>
    public GenerationError? Error { get; init; }

    /// <summary>What the upstream billed, when it said. A usage with neither number is stored as none.</summary>
    public GenerationUsage? Usage { get; init; }

    /// <summary>Fields the gateway accepted but the model ignores, as returned by the create.</summary>
    public IReadOnlyList<GenerationWarning> Warnings { get; init; } = [];

    /// <summary>The caller's <c>X-Client-Request-Id</c> (or the request's trace id), echoed to the caller; never sent upstream.</summary>
    public string? ClientRequestId { get; init; }

    /// <summary>
    /// The <c>X-Client-Request-Id</c> the create was sent upstream with (<see cref="GenerationId.UpstreamRequestId"/>):
    /// one per generation, so the upstream's usage log tells whether this create was billed. Null on generations
    /// created before the gateway sent one of its own.
    /// </summary>
    public string? UpstreamRequestId { get; init; }

    /// <summary>The caller's <c>external_task_id</c> (legacy route), if sent.</summary>
    public string? ExternalTaskId { get; init; }

    /// <summary>The request as JSON text, with image data already replaced by hashes.</summary>
    public required string RequestSummary { get; init; }

    /// <summary>When the gateway accepted the create. Fixed at insert: it is the list order and the cursor key.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>When the generation reached a terminal status.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The last time the status was fetched from the upstream.</summary>
    public DateTimeOffset? RefreshedAt { get; init; }

    /// <summary>
    /// The client (frontend) that created it; only this client, with the same <see cref="OwnerUser"/>, or an admin may
    /// see it. Generations from before identities existed belong to the anonymous client.
    /// </summary>
    public string OwnerClient { get; init; } = GenerationOwner.AnonymousClient;

    /// <summary>The company user (JWT claim) the client created it for, if any.</summary>
    public string? OwnerUser { get; init; }

    /// <summary>The video length asked for, in seconds: what the daily video-second budget counts.</summary>
    public int VideoSeconds { get; init; }

    /// <summary>The price at create time (video seconds × the model's price per second); 0 without a price table.</summary>
    public decimal CostUsd { get; init; }

    /// <summary>
    /// True when the upstream refused the create, so nothing was started or billed: the generation no longer counts
    /// against its client's budget.
    /// </summary>
    public bool Refunded { get; init; }

    /// <summary>
    /// The resource's version: 0 at insert, one more for every change a caller can see (status, video, error). A change
    /// is written only over the version it was computed from, so two writers never undo each other.
    /// </summary>
    public long Version { get; init; }

    /// <summary>
    /// When the upstream should next be asked about this generation; <see langword="null"/> once nobody needs to ask
    /// again. Claiming a refresh moves it one interval ahead in one conditional update, which is the lease that keeps
    /// replicas from fetching the same generation twice in an interval.
    /// </summary>
    public DateTimeOffset? NextRefreshAt { get; init; }

    /// <summary>Refreshes in a row that ended in an upstream fault; the next one waits longer (backoff).</summary>
    public int RefreshFailures { get; init; }

    /// <summary>When the watchdog declared it failed for running past the deadline (kept after a late success).</summary>
    public DateTimeOffset? DeadlinePassedAt { get; init; }

    /// <summary>The gateway's own copy of the video, once the generation succeeded with one; null when none is kept.</summary>
    public KeptVideo? Kept { get; init; }

    /// <summary>
    /// The callback URL the create named (<c>Webhook-Url</c>, checked against its client's allow-list), or null: every
    /// event of the generation is also sent there as a signed webhook (<c>Webhooks/</c>). Fixed at insert.
    /// </summary>
    public string? WebhookUrl { get; init; }

    /// <summary>
    /// Whether the upstream billed a create whose outcome the gateway never learned from its answer (it timed out, the
    /// answer was unreadable, or the gateway stopped before it arrived): <see cref="GenerationBilling.Unknown"/> until
    /// the upstream's usage log says. Null for every other generation: the create's answer said what happened.
    /// </summary>
    public GenerationBilling? Billing { get; init; }
}

/// <summary>
/// What the upstream's usage log says about a create the gateway never heard back about (docs/upstream.md, "Usage log").
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<GenerationBilling>))]
public enum GenerationBilling
{
    /// <summary>Not known yet, or not knowable (the usage log could not be read): the generation stays charged.</summary>
    [JsonStringEnumMemberName("unknown")]
    Unknown,

    /// <summary>The usage log shows the create billed: it stays charged.</summary>
    [JsonStringEnumMemberName("billed")]
    Billed,

    /// <summary>The usage log shows the create failed, or still lacks it after the grace period: it is refunded.</summary>
    [JsonStringEnumMemberName("not_billed")]
    NotBilled,
}

/// <summary>The ledger's words for <see cref="GenerationBilling"/>, the same as the API's.</summary>
public static class GenerationBillingText
{
    public static string ToApiString(this GenerationBilling billing) => billing switch
    {
        GenerationBilling.Unknown => "unknown",
        GenerationBilling.Billed => "billed",
        GenerationBilling.NotBilled => "not_billed",
        _ => throw new ArgumentOutOfRangeException(nameof(billing), billing, "Not a billing state."),
    };

    public static GenerationBilling? Parse(string? text) => text switch
    {
        null => null,
        "unknown" => GenerationBilling.Unknown,
        "billed" => GenerationBilling.Billed,
        "not_billed" => GenerationBilling.NotBilled,
        _ => throw new InvalidDataException($"The ledger holds an unknown billing state '{text}'."),
    };
}

/// <summary>Where the gateway's own copy of a generation's video stands.</summary>
public enum KeptVideoState
{
    /// <summary>To be downloaded from the upstream's URL (or being downloaded).</summary>
    Pending,

    /// <summary>In the gateway's storage, served by the content route.</summary>
    Stored,

    /// <summary>The download gave up; the content route streams from the upstream's URL instead.</summary>
    Failed,

    /// <summary>Removed by the retention sweep; the content route answers 410.</summary>
    Expired,
}

/// <summary>The gateway's own copy of a video and how getting it went.</summary>
/// <param name="State">Pending, stored, failed or expired.</param>
/// <param name="Attempts">Download attempts started so far.</param>
/// <param name="NextAttemptAt">While pending: when the next attempt may start (also the lease of a running one).</param>
/// <param name="Key">The storage key, once stored.</param>
/// <param name="Size">Bytes, once stored.</param>
/// <param name="ContentType">The media type checked at download, once stored.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the stored bytes.</param>
/// <param name="StoredAt">When it was stored.</param>
/// <param name="Error">Why the last attempt failed, when it did.</param>
public sealed record KeptVideo(
    KeptVideoState State,
    int Attempts = 0,
    DateTimeOffset? NextAttemptAt = null,
    string? Key = null,
    long? Size = null,
    string? ContentType = null,
    string? Sha256 = null,
    DateTimeOffset? StoredAt = null,
    string? Error = null);

/// <summary>Who a generation belongs to: a client and, optionally, one of the company's users.</summary>
/// <param name="Client">The client name from configuration (<c>Auth:Clients:{name}</c>), or <see cref="AnonymousClient"/>.</param>
/// <param name="User">The user claim from a company JWT, or <see langword="null"/>.</param>
public sealed record GenerationOwner(string Client, string? User)
{
    /// <summary>The client name of callers without credentials, when <c>Auth:AllowAnonymous</c> lets them in.</summary>
    public const string AnonymousClient = "anonymous";

    public bool Owns(Generation generation) => Owns(generation.OwnerClient, generation.OwnerUser);

    /// <summary>Whether this is the owner <paramref name="client"/> and <paramref name="user"/> name (a webhook delivery's, say).</summary>
    public bool Owns(string client, string? user) =>
        string.Equals(client, Client, StringComparison.Ordinal) && string.Equals(user, User, StringComparison.Ordinal);
}

/// <summary>The finished video as the upstream described it.</summary>
/// <param name="Url">Where the upstream serves the file.</param>
/// <param name="ContentType">For example <c>video/mp4</c>, when the upstream said.</param>
/// <param name="FileName">For example <c>output.mp4</c>, when the upstream said.</param>
/// <param name="FileSize">In bytes, when the upstream said.</param>
public sealed record GenerationVideo(string Url, string? ContentType, string? FileName, long? FileSize);

/// <summary>Why a generation failed.</summary>
/// <param name="Code">One of <see cref="GenerationErrorCodes"/>.</param>
/// <param name="Message">The upstream's message, or the gateway's when the upstream gave none.</param>
public sealed record GenerationError(string Code, string Message);

/// <summary>
/// What the upstream reports as used: <c>credits_used</c> in current specs, <c>tokens_used</c> in older ones
/// (docs/upstream.md, "Statuses").
/// </summary>
public sealed record GenerationUsage(double? CreditsUsed, double? TokensUsed);

/// <summary>The small fixed set of failure codes a failed generation carries (docs/upstream.md, "Statuses").</summary>
public static class GenerationErrorCodes
{
    /// <summary>The upstream reported the generation as failed (<c>error</c> or <c>failed</c>).</summary>
    public const string GenerationFailed = "generation_failed";

    /// <summary>The upstream sent a status word the gateway does not know; it is treated as a failure and logged.</summary>
    public const string UnknownStatus = "unknown_status";

    /// <summary>The upstream refused the create with a 4xx answer.</summary>
    public const string UpstreamRejected = "upstream_rejected";

    /// <summary>The create could not reach the upstream or the upstream could not complete it (5xx, connect failure).</summary>
    public const string UpstreamUnavailable = "upstream_unavailable";

    /// <summary>The create timed out: the upstream may or may not have started (and billed) the generation.</summary>
    public const string UpstreamTimeout = "upstream_timeout";

    /// <summary>The upstream answered with something the gateway could not read.</summary>
    public const string UpstreamBadResponse = "upstream_bad_response";

    /// <summary>
    /// The generation had not finished when <c>Generations:Deadline</c> ran out (the watchdog). It may have been billed,
    /// so it is not refunded; the gateway keeps asking the upstream for a while, and a late video is still kept.
    /// </summary>
    public const string DeadlineExceeded = "deadline_exceeded";
    /// <summary>
    /// The gateway stopped (a crash, a kill) before it recorded the upstream's answer to the create; the row was settled
    /// by <see cref="CreateSettlementWorker"/> once it was older than any create can take. Its billing says whether the
    /// upstream started (and billed) it.
    /// </summary>
    public const string Interrupted = "interrupted";

    /// <summary>Every code, in the order above.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        GenerationFailed,
        UnknownStatus,
        UpstreamRejected,
        UpstreamUnavailable,
        UpstreamTimeout,
        UpstreamBadResponse,
        Interrupted,
        DeadlineExceeded,
    ];
}
