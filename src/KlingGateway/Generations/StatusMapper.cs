namespace KlingGateway.Generations;

/// <summary>
/// Maps the upstream's status words to <see cref="GenerationStatus"/> and back. Pure functions, no state.
/// </summary>
/// <remarks>
/// Every aimlapi spec lists <c>queued</c>, <c>generating</c>, <c>completed</c>, <c>error</c>; older client code polls
/// for <c>waiting</c> and <c>active</c>; <c>complete</c> and <c>failed</c> appear only elsewhere (docs/upstream.md, "Statuses").
/// Anything else must not crash the gateway: it is a failure, and <see cref="IsKnown"/> lets the caller log it
/// (docs/upstream.md, "Statuses").
/// </remarks>
public static class StatusMapper
{
    /// <summary>
    /// The normalized status for an upstream word (trimmed, case-insensitive). <see langword="null"/>, empty and
    /// unknown words map to <see cref="GenerationStatus.Failed"/>; check <see cref="IsKnown"/> to tell them apart.
    /// </summary>
    public static GenerationStatus Map(string? upstreamStatus) =>
        TryMap(upstreamStatus, out var status) ? status : GenerationStatus.Failed;

    /// <summary>Whether the upstream word is one the gateway recognizes (trimmed, case-insensitive).</summary>
    public static bool IsKnown(string? upstreamStatus) => TryMap(upstreamStatus, out _);

    /// <summary>Whether the status is final: the upstream will not change it again.</summary>
    public static bool IsTerminal(this GenerationStatus status) => status switch
    {
        GenerationStatus.Queued or GenerationStatus.Processing => false,
        GenerationStatus.Succeeded or GenerationStatus.Failed => true,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Not a generation status."),
    };

    /// <summary>
    /// The upstream's canonical word for the status, as every aimlapi spec enumerates it
    /// (<c>queued</c>, <c>generating</c>, <c>completed</c>, <c>error</c>); used by the upstream-compatible routes.
    /// </summary>
    public static string ToUpstreamWord(this GenerationStatus status) => status switch
    {
        GenerationStatus.Queued => "queued",
        GenerationStatus.Processing => "generating",
        GenerationStatus.Succeeded => "completed",
        GenerationStatus.Failed => "error",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Not a generation status."),
    };

    /// <summary>The gateway API's word for the status: <c>queued</c>, <c>processing</c>, <c>succeeded</c> or <c>failed</c>.</summary>
    public static string ToApiString(this GenerationStatus status) => status switch
    {
        GenerationStatus.Queued => "queued",
        GenerationStatus.Processing => "processing",
        GenerationStatus.Succeeded => "succeeded",
        GenerationStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Not a generation status."),
    };

    /// <summary>
    /// Parses the gateway API's word for a status (case-insensitive, as a query-string filter may be typed).
    /// Numbers and the upstream's words are not accepted.
    /// </summary>
    public static bool TryParseApiString(string? value, out GenerationStatus status)
    {
        GenerationStatus? parsed = value?.ToLowerInvariant() switch
        {
            "queued" => GenerationStatus.Queued,
            "processing" => GenerationStatus.Processing,
            "succeeded" => GenerationStatus.Succeeded,
            "failed" => GenerationStatus.Failed,
            _ => null,
        };
        status = parsed.GetValueOrDefault();
        return parsed.HasValue;
    }

    private static bool TryMap(string? upstreamStatus, out GenerationStatus status)
    {
        GenerationStatus? mapped = upstreamStatus?.Trim().ToLowerInvariant() switch
        {
            "queued" or "waiting" => GenerationStatus.Queued,
            "generating" or "active" => GenerationStatus.Processing,
            "completed" or "complete" => GenerationStatus.Succeeded,
            "error" or "failed" => GenerationStatus.Failed,
            // The explicit unknown case: null, empty and any other word.
            _ => null,
        };
        status = mapped ?? GenerationStatus.Failed;
        return mapped.HasValue;
    }
}
