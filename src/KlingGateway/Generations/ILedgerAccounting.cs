namespace KlingGateway.Generations;

/// <summary>
/// Per-client limits and idempotency keys, kept in the ledger's own database so that every gateway replica sharing
/// that database enforces them together.
/// </summary>
public interface ILedgerAccounting
{
    /// <summary>
    /// Inserts <paramref name="generation"/> if its owner's limits allow it, serialized against every other admission
    /// for the same client on any replica: the check and the insert are one transaction under a per-client lock, so
    /// two concurrent creates can never both take the last slot or the last seconds of a budget. The generation row
    /// is itself the reservation. When <paramref name="idempotencyKey"/> is given, the key's row (already claimed by
    /// the caller) is pointed at the generation in the same transaction.
    /// </summary>
    Task<Admission> AdmitAsync(Generation generation, AdmissionLimits limits, string? idempotencyKey, CancellationToken cancellationToken);

    /// <summary>What <paramref name="client"/> spent since <paramref name="from"/>, by UTC day and model, and how many of its generations are in flight.</summary>
    Task<UsageReport> UsageAsync(string client, DateTimeOffset from, DateTimeOffset inFlightSince, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts the key for its client under the table's unique constraint. Returns <see langword="null"/> when this
    /// caller now holds the key, or the record another request (on any replica) holds. An expired record is removed
    /// first, so an old key can be reused.
    /// </summary>
    Task<IdempotencyRecord?> ClaimIdempotencyKeyAsync(IdempotencyClaim claim, CancellationToken cancellationToken);

    /// <summary>The unexpired record of a key, or <see langword="null"/>.</summary>
    Task<IdempotencyRecord?> FindIdempotencyKeyAsync(string client, string key, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Records how the create under this key was answered, so later requests with the key answer the same: a success
    /// (<paramref name="problem"/> null; each route renders the generation in its own shape), or the problem of a create
    /// that may have started upstream (a timeout, an unreadable answer).
    /// </summary>
    Task CompleteIdempotencyKeyAsync(string client, string key, int statusCode, StoredProblem? problem, CancellationToken cancellationToken);

    /// <summary>
    /// Drops a key whose create started nothing (refused by a limit, or by the upstream), so a retry with it runs afresh.
    /// Only a key not yet completed: a completed key is the record of an answer and stays until it expires.
    /// </summary>
    Task ReleaseIdempotencyKeyAsync(string client, string key, CancellationToken cancellationToken);

    /// <summary>Deletes every key that expired at or before <paramref name="now"/>; returns how many.</summary>
    Task<int> DeleteExpiredIdempotencyKeysAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>A client's limits for one admission, with the windows they apply to.</summary>
/// <param name="MaxInFlight">Most generations queued or processing at once, or no limit.</param>
/// <param name="DailyVideoSeconds">Most video seconds per UTC day, or no limit.</param>
/// <param name="DailyBudgetUsd">Most money per UTC day, or no limit.</param>
/// <param name="DayStart">The start of the current UTC day.</param>
/// <param name="InFlightSince">
/// Unfinished generations created before this no longer count as in flight. The ledger learns a generation finished
/// only when someone reads it, so one nobody polls would otherwise hold its slot forever.
/// </param>
public sealed record AdmissionLimits(
    int? MaxInFlight, int? DailyVideoSeconds, decimal? DailyBudgetUsd, DateTimeOffset DayStart, DateTimeOffset InFlightSince);

/// <summary>Which limit refused an admission.</summary>
public enum AdmissionRefusal
{
    None,
    InFlight,
    VideoSeconds,
    Budget,
}

/// <summary>The outcome of an admission and the client's state it was decided on (before this generation).</summary>
public sealed record Admission(AdmissionRefusal Refusal, int InFlight, int SpentVideoSeconds, decimal SpentUsd)
{
    public bool Admitted => Refusal == AdmissionRefusal.None;
}

/// <summary>A client's usage.</summary>
/// <param name="Rows">Newest day first, then by model.</param>
/// <param name="InFlight">Generations queued or processing now (within the in-flight window).</param>
public sealed record UsageReport(IReadOnlyList<UsageRow> Rows, int InFlight);

/// <summary>One day and model of a client's usage; refunded creates are not counted.</summary>
/// <param name="Day">The UTC day, <c>yyyy-MM-dd</c>.</param>
/// <param name="Model">The model id.</param>
/// <param name="Generations">How many generations were created.</param>
/// <param name="VideoSeconds">Their video seconds.</param>
/// <param name="CostUsd">Their price from the price table.</param>
public sealed record UsageRow(string Day, string Model, int Generations, int VideoSeconds, decimal CostUsd);

/// <summary>An attempt to hold an idempotency key.</summary>
/// <param name="Client">The client the key is scoped to: clients never share keys.</param>
/// <param name="Key">The <c>Idempotency-Key</c> header's value.</param>
/// <param name="CreatedAt">Now.</param>
/// <param name="ExpiresAt">When the key may be used for another request.</param>
/// <param name="RequestHash">SHA-256 (hex) of the request summary: the same key with another body is refused.</param>
public sealed record IdempotencyClaim(string Client, string Key, string RequestHash, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

/// <summary>An idempotency key as stored.</summary>
/// <param name="Client">The client the key is scoped to.</param>
/// <param name="Key">The key.</param>
/// <param name="RequestHash">SHA-256 (hex) of the first request's summary.</param>
/// <param name="CreatedAt">When it was first used.</param>
/// <param name="ExpiresAt">When it expires.</param>
/// <param name="GenerationId">The generation created under the key, once admitted.</param>
/// <param name="StatusCode">The HTTP status the create answered, once it finished.</param>
/// <param name="ProblemCode">The problem's <c>code</c> when that answer was a problem.</param>
public sealed record IdempotencyRecord(
    string Client, string Key, string RequestHash, string? GenerationId, int? StatusCode, string? ProblemCode,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    public bool IsComplete => StatusCode is not null;

    /// <summary>
    /// The problem the create answered, as stored to be replayed; null for a success, and for keys completed before the
    /// ledger stored problems (only <see cref="ProblemCode"/> then).
    /// </summary>
    public StoredProblem? Problem { get; init; }
}

/// <summary>A problem answer as an idempotency key keeps it, to answer a retry exactly as the first request was answered.</summary>
/// <param name="Code">The catalog code; the title comes from the catalog.</param>
/// <param name="Status">The HTTP status.</param>
/// <param name="Detail">The first answer's <c>detail</c>.</param>
/// <param name="UpstreamStatus">The first answer's <c>upstream_status</c> member, when it had one.</param>
public sealed record StoredProblem(string Code, int Status, string Detail, int? UpstreamStatus);
