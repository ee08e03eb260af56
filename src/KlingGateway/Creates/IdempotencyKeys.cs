using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace KlingGateway.Creates;

/// <summary>
/// What a request finds when another request holds its <c>Idempotency-Key</c>: a refusal (<see cref="Refusal"/>, with
/// its detail), or the first answer replayed: the generation as it is now, and the first answer's problem if it had one.
/// </summary>
public sealed record HeldKey(ProblemType? Refusal, string? RefusalDetail, Generation? Generation, ProblemHttpResult? ReplayedProblem)
{
    public static HeldKey Refused(ProblemType problem, string detail) => new(problem, detail, null, null);
}

/// <summary>
/// The <c>Idempotency-Key</c> of a create: read from its header, held in the ledger for the length of the create, then
/// completed with the answer (a retry gets that very answer) or released (a retry runs afresh). Keys are per client and
/// kept for <see cref="Lifetime"/> (https://docs.stripe.com/api/idempotent_requests; draft-ietf-httpapi-idempotency-key-header).
/// </summary>
public sealed partial class IdempotencyKeys(
    ILedgerAccounting accounting, IGenerationStore store, IOptions<AimlApiOptions> upstreamOptions, TimeProvider time)
{
    public const string Header = "Idempotency-Key";

    /// <summary>Set to <c>true</c> on an answer replayed from an <c>Idempotency-Key</c> (as Stripe names it).</summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    /// <summary>How long a key is kept: a retry with it within this time returns the first answer.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    private static readonly TimeSpan WaitStep = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The one key a request carries, or why it is refused. Two header lines are refused, and so is a comma in one:
    /// an intermediary may join repeated header lines into one with commas (RFC 9110, section 5.3), so <c>a,b</c>
    /// cannot be told from two keys, and taking either would make a retry through another path a different request.
    /// </summary>
    public static (string? Key, string? Fault) Read(StringValues values)
    {
        if (values.Count == 0)
        {
            return (null, null);
        }

        if (values.Count > 1)
        {
            return (null, string.Create(CultureInfo.InvariantCulture,
                $"The request carries {values.Count} Idempotency-Key headers; send exactly one."));
        }

        var key = values[0] ?? "";
        if (key.Contains(',', StringComparison.Ordinal))
        {
            return (null, "An Idempotency-Key may not hold a comma: two keys joined by a proxy read the same. Use 1 to 255 visible ASCII characters other than a comma, for example a UUID.");
        }

        return ValidKey().IsMatch(key)
            ? (key, null)
            : (null, "An Idempotency-Key is 1 to 255 visible ASCII characters, for example a UUID.");
    }

    /// <summary>
    /// SHA-256 of the request summary (image data already reduced to hashes), so equal bodies compare equal, and of the
    /// callback URL when there is one (a request without one hashes as it always has, so keys held across an upgrade match).
    /// </summary>
    public static string RequestHash(GenerationRequest request, string? webhookUrl) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            webhookUrl is null ? request.Summary() : $"{request.Summary()}\n{CreateFlow.WebhookUrlHeader}: {webhookUrl}")));

    /// <summary>Null when this request now holds the key; otherwise the record of the request that does.</summary>
    public async Task<IdempotencyRecord?> HoldAsync(Caller caller, string key, string hash, CancellationToken cancellationToken)
    {
        // The first request may still be waiting for the upstream's create answer: wait for it, a little longer than
        // the create timeout allows it.
        var deadline = time.GetUtcNow() + upstreamOptions.Value.CreateTimeout + TimeSpan.FromSeconds(5);
        while (true)
        {
            var now = time.GetUtcNow();
            var held = await accounting.ClaimIdempotencyKeyAsync(
                new IdempotencyClaim(caller.Client.Name, key, hash, now, now + Lifetime), cancellationToken);
            if (held is null || held.RequestHash != hash || held.IsComplete || now >= deadline)
            {
                return held;
            }

            await Task.Delay(WaitStep, time, cancellationToken);
        }
    }

    /// <summary>What a request gets for a key another request holds (<see cref="HoldAsync"/> did not return null).</summary>
    public async Task<HeldKey> AnswerHeldAsync(IdempotencyRecord held, string requestHash, Caller caller, CancellationToken cancellationToken)
    {
        if (held.RequestHash != requestHash)
        {
            return HeldKey.Refused(ProblemCatalog.IdempotencyKeyReused,
                "This Idempotency-Key was already used in the last 24 hours with a different request body. Use a new key for a new request.");
        }

        if (!held.IsComplete || held.GenerationId is null)
        {
            return HeldKey.Refused(ProblemCatalog.IdempotencyKeyInProgress,
                "The first request with this Idempotency-Key has not finished yet. Retry with the same key shortly.");
        }

        var generation = await store.FindAsync(held.GenerationId, cancellationToken);
        if (generation is null || !caller.CanSee(generation))
        {
            // Another user of the same client: their generation is not this caller's to see.
            return HeldKey.Refused(ProblemCatalog.IdempotencyKeyReused,
                "This Idempotency-Key was already used in the last 24 hours by another user of this client. Use a new key.");
        }

        if (held.ProblemCode is null)
        {
            // A success: the route answers the generation in its own shape, as it is now, with its success status
            // (202 and Location on /v1, 200 on the compatible routes).
            return new HeldKey(null, null, generation, null);
        }

        // The first answer's problem as it was given: the same status, code, detail and upstream status. A key completed
        // before problems were stored has only its code; the generation's error message stands in for the detail. Only
        // outcomes that may have started something are stored, and none of them carries Retry-After.
        var stored = held.Problem ?? new StoredProblem(held.ProblemCode, held.StatusCode ?? StatusCodes.Status502BadGateway,
            generation.Error?.Message ?? "The create under this Idempotency-Key failed.", null);
        var type = ProblemCatalog.Find(stored.Code) ?? ProblemCatalog.UpstreamError;
        var extensions = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (stored.UpstreamStatus is { } upstreamStatus)
        {
            extensions["upstream_status"] = upstreamStatus;
        }

        extensions["generation_id"] = generation.Id;
        extensions["idempotent_replay"] = true;
        return new HeldKey(null, null, generation, type.Result(stored.Detail, extensions));
    }

    /// <summary>The create under the key answered: a retry within <see cref="Lifetime"/> gets this answer.</summary>
    public Task CompleteAsync(Caller caller, string key, int status, StoredProblem? problem) =>
        // Not the caller's token: the answer is recorded even when the caller has gone.
        accounting.CompleteIdempotencyKeyAsync(caller.Client.Name, key, status, problem, CancellationToken.None);

    /// <summary>Nothing was started under the key: it is freed, so a retry runs afresh.</summary>
    public Task ReleaseAsync(Caller caller, string key) =>
        accounting.ReleaseIdempotencyKeyAsync(caller.Client.Name, key, CancellationToken.None);

    [GeneratedRegex("^[\\x21-\\x7E]{1,255}$")]
    private static partial Regex ValidKey();
}
