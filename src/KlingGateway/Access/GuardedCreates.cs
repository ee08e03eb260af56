using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using KlingGateway.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using IDiagnosticContext = Serilog.IDiagnosticContext;

namespace KlingGateway.Access;

/// <summary>What a create route answers: the generation, or a problem (refusal, upstream fault, or their replay).</summary>
public readonly record struct CreateAnswer(Generation? Generation, ProblemHttpResult? Problem);

/// <summary>
/// Every create route goes through here: the <c>Idempotency-Key</c>, the caller's in-flight and daily limits
/// (checked and reserved in the ledger before the upstream is called), the one forward, and the audit events.
/// </summary>
public sealed partial class GuardedCreates(
    GenerationService generations,
    IGenerationStore store,
    ILedgerAccounting accounting,
    ClientDirectory clients,
    UpstreamFaults faults,
    IOptions<AimlApiOptions> upstreamOptions,
    WebhookDirectory webhooks,
    TimeProvider time,
    IDiagnosticContext requestLog,
    ILoggerFactory loggerFactory)
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>
    /// The callback URL a create may name: every event of the generation is also sent there as a signed webhook. A header,
    /// not a body field: the body is the upstream's body for the model, checked against the model catalog (which refuses
    /// unknown fields by name) and forwarded; a header is the gateway's own, never forwarded, and works on the compatible
    /// routes too, where the body must stay the upstream's.
    /// </summary>
    public const string WebhookUrlHeader = "Webhook-Url";

    /// <summary>Set to <c>true</c> on an answer replayed from an <c>Idempotency-Key</c> (as Stripe names it).</summary>
    public const string IdempotentReplayedHeader = "Idempotent-Replayed";

    /// <summary>How long a key is kept: a retry with it within this time returns the first answer.</summary>
    public static readonly TimeSpan IdempotencyKeyLifetime = TimeSpan.FromHours(24);

    private static readonly TimeSpan WaitStep = TimeSpan.FromMilliseconds(100);
    private const string ReachedItem = "KlingGateway.CreateReached";

    private readonly ILogger _audit = loggerFactory.CreateLogger(AuditLog.Category);

    /// <summary>Whether the request got past validation to <see cref="CreateAsync"/> (for the validation-refusal audit).</summary>
    public static bool Reached(HttpContext context) => context.Items.ContainsKey(ReachedItem);

    public async Task<CreateAnswer> CreateAsync(GenerationRequest request, HttpContext context, int successStatus)
    {
        context.Items[ReachedItem] = true;
        var caller = context.Caller();
        var images = AuditLog.ImageHashes(request);
        var cancellationToken = context.RequestAborted;

        var (idempotencyKey, keyFault) = ReadIdempotencyKey(context.Request.Headers[IdempotencyKeyHeader]);
        if (keyFault is not null)
        {
            return Refuse(caller, request, images, ProblemCatalog.InvalidIdempotencyKey, keyFault);
        }

        var callbacks = context.Request.Headers[WebhookUrlHeader];
        string? webhookUrl = null;
        if (callbacks.Count > 1)
        {
            return Refuse(caller, request, images, ProblemCatalog.InvalidWebhookUrl, "The request carries more than one Webhook-Url header; send at most one.");
        }

        if (callbacks.Count == 1)
        {
            webhookUrl = callbacks[0] ?? "";
            if (!webhooks.IsAllowedCallback(caller.Client.Name, webhookUrl, out var reason))
            {
                return Refuse(caller, request, images, ProblemCatalog.InvalidWebhookUrl, reason);
            }
        }

        // The callback is part of what the key stands for: the same key with another callback is another request.
        var requestHash = RequestHash(request, webhookUrl);
        if (idempotencyKey is not null)
        {
            var held = await HoldKeyAsync(caller, idempotencyKey, requestHash, cancellationToken);
            if (held is not null)
            {
                return await AnswerHeldKeyAsync(held, requestHash, context, caller, request, images, cancellationToken);
            }
        }

        var model = request.Model ?? throw new InvalidOperationException("A validated request names a known model.");
        var generation = generations.NewGeneration(request, context.ClientRequestId(), caller.Owner, clients.PricePerSecond(model))
            with { WebhookUrl = webhookUrl };
        using var running = generations.TrackCreate(generation.Id);
        var now = time.GetUtcNow();
        var dayStart = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        var limits = caller.Client.Limits;
        Admission admission;
        try
        {
            admission = await accounting.AdmitAsync(generation, new AdmissionLimits(
                NullIfZero(limits.MaxInFlight),
                NullIfZero(limits.DailyVideoSeconds),
                limits.DailyBudgetUsd > 0 ? limits.DailyBudgetUsd : null,
                dayStart,
                now - clients.Options.InFlightExpiry), idempotencyKey, cancellationToken);
        }
        catch when (idempotencyKey is not null)
        {
            // Nothing was created: free the key so a retry can run.
            await accounting.ReleaseIdempotencyKeyAsync(caller.Client.Name, idempotencyKey, CancellationToken.None);
            throw;
        }

        if (!admission.Admitted)
        {
            if (idempotencyKey is not null)
            {
                await accounting.ReleaseIdempotencyKeyAsync(caller.Client.Name, idempotencyKey, CancellationToken.None);
            }

            return LimitRefusal(context, caller, request, images, generation, admission, dayStart);
        }

        var outcome = await generations.StartAsync(generation, request);
        generation = outcome.Generation!;
        requestLog.SetGeneration(generation);
        AuditLog.Created(_audit, caller, generation, images);

        if (outcome.Fault is not { } fault)
        {
            if (idempotencyKey is not null)
            {
                await accounting.CompleteIdempotencyKeyAsync(caller.Client.Name, idempotencyKey, successStatus, null, CancellationToken.None);
            }

            return new CreateAnswer(generation, null);
        }

        var problem = faults.ToProblem(context.Response, fault, generation.Id);
        if (idempotencyKey is not null)
        {
            if (fault.MayHaveStarted)
            {
                // The upstream may have started it: the key is kept, and a retry gets this very answer, not a second create.
                var (type, detail) = UpstreamFaults.Describe(fault);
                await accounting.CompleteIdempotencyKeyAsync(caller.Client.Name, idempotencyKey, type.Status,
                    new StoredProblem(type.Code, type.Status, detail, fault.StatusCode), CancellationToken.None);
            }
            else
            {
                // A refusal started nothing: the key is released, so the retry its Retry-After invites runs afresh
                // (https://docs.stripe.com/api/idempotent_requests; draft-ietf-httpapi-idempotency-key-header, section 2.6).
                await accounting.ReleaseIdempotencyKeyAsync(caller.Client.Name, idempotencyKey, CancellationToken.None);
            }
        }

        return new CreateAnswer(generation, problem);
    }

    /// <summary>
    /// The one key a request carries, or why it is refused. Two header lines are refused, and so is a comma in one:
    /// an intermediary may join repeated header lines into one with commas (RFC 9110, section 5.3), so <c>a,b</c>
    /// cannot be told from two keys, and taking either would make a retry through another path a different request.
    /// </summary>
    private static (string? Key, string? Fault) ReadIdempotencyKey(StringValues values)
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

    /// <summary>Null when this request now holds the key; otherwise the record of the request that does.</summary>
    private async Task<IdempotencyRecord?> HoldKeyAsync(Caller caller, string key, string hash, CancellationToken cancellationToken)
    {
        // The first request may still be waiting for the upstream's create answer: wait for it, a little longer than
        // the create timeout allows it.
        var deadline = time.GetUtcNow() + upstreamOptions.Value.CreateTimeout + TimeSpan.FromSeconds(5);
        while (true)
        {
            var now = time.GetUtcNow();
            var held = await accounting.ClaimIdempotencyKeyAsync(
                new IdempotencyClaim(caller.Client.Name, key, hash, now, now + IdempotencyKeyLifetime), cancellationToken);
            if (held is null || held.RequestHash != hash || held.IsComplete || now >= deadline)
            {
                return held;
            }

            await Task.Delay(WaitStep, time, cancellationToken);
        }
    }

    private async Task<CreateAnswer> AnswerHeldKeyAsync(
        IdempotencyRecord held, string requestHash, HttpContext context, Caller caller, GenerationRequest request, string images,
        CancellationToken cancellationToken)
    {
        if (held.RequestHash != requestHash)
        {
            return Refuse(caller, request, images, ProblemCatalog.IdempotencyKeyReused,
                "This Idempotency-Key was already used in the last 24 hours with a different request body. Use a new key for a new request.");
        }

        if (!held.IsComplete || held.GenerationId is null)
        {
            return Refuse(caller, request, images, ProblemCatalog.IdempotencyKeyInProgress,
                "The first request with this Idempotency-Key has not finished yet. Retry with the same key shortly.");
        }

        var generation = await store.FindAsync(held.GenerationId, cancellationToken);
        if (generation is null || !caller.CanSee(generation))
        {
            // Another user of the same client: their generation is not this caller's to see.
            return Refuse(caller, request, images, ProblemCatalog.IdempotencyKeyReused,
                "This Idempotency-Key was already used in the last 24 hours by another user of this client. Use a new key.");
        }

        AuditLog.Replayed(_audit, caller, generation, images);
        context.Response.Headers[IdempotentReplayedHeader] = "true";
        if (held.ProblemCode is null)
        {
            // A success: the route answers the generation in its own shape, as it is now, with its success status
            // (202 and Location on /v1, 200 on the compatible routes).
            return new CreateAnswer(generation, null);
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
        return new CreateAnswer(generation, type.Result(stored.Detail, extensions));
    }

    private CreateAnswer LimitRefusal(
        HttpContext context, Caller caller, GenerationRequest request, string images, Generation generation, Admission admission, DateTimeOffset dayStart)
    {
        var limits = caller.Client.Limits;
        var resetsAt = dayStart.AddDays(1);
        var untilReset = Math.Max(1, (int)Math.Ceiling((resetsAt - time.GetUtcNow()).TotalSeconds));
        var extensions = new Dictionary<string, object?>
        {
            ["in_flight"] = admission.InFlight,
            ["requested_video_seconds"] = generation.VideoSeconds,
        };
        if (limits.MaxInFlight > 0)
        {
            extensions["max_in_flight"] = limits.MaxInFlight;
        }

        if (limits.DailyVideoSeconds > 0)
        {
            extensions["daily_video_seconds"] = limits.DailyVideoSeconds;
            extensions["remaining_video_seconds"] = Math.Max(0, limits.DailyVideoSeconds - admission.SpentVideoSeconds);
        }

        if (limits.DailyBudgetUsd > 0)
        {
            extensions["requested_usd"] = generation.CostUsd;
            extensions["daily_budget_usd"] = limits.DailyBudgetUsd;
            extensions["remaining_usd"] = Math.Max(0, limits.DailyBudgetUsd - admission.SpentUsd);
        }

        ProblemType problem;
        string detail;
        int retryAfter;
        switch (admission.Refusal)
        {
            case AdmissionRefusal.InFlight:
                problem = ProblemCatalog.TooManyInFlight;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"This client has {admission.InFlight} generations queued or processing and may have at most {limits.MaxInFlight} at once. Retry when one finishes.");
                retryAfter = upstreamOptions.Value.DefaultRetryAfterSeconds;
                break;
            case AdmissionRefusal.VideoSeconds:
                problem = ProblemCatalog.DailyVideoSecondsExhausted;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"This generation needs {generation.VideoSeconds} video seconds; this client has {extensions["remaining_video_seconds"]} of its {limits.DailyVideoSeconds} left today. The budget resets at {resetsAt:yyyy-MM-dd'T'HH:mm:ss'Z'}.");
                retryAfter = untilReset;
                extensions["resets_at"] = resetsAt;
                break;
            default:
                problem = ProblemCatalog.DailyBudgetExhausted;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"This generation costs {generation.CostUsd} USD; this client has {extensions["remaining_usd"]} USD of its {limits.DailyBudgetUsd} USD left today. The budget resets at {resetsAt:yyyy-MM-dd'T'HH:mm:ss'Z'}.");
                retryAfter = untilReset;
                extensions["resets_at"] = resetsAt;
                break;
        }

        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        AuditLog.Refused(_audit, caller, request.ModelId, images, problem.Code, detail);
        // 429: the caller is over a quota that frees up with time (a generation finishing, the next UTC day).
        return new CreateAnswer(null, problem.Result(detail, extensions));
    }

    private CreateAnswer Refuse(Caller caller, GenerationRequest request, string images, ProblemType problem, string detail)
    {
        AuditLog.Refused(_audit, caller, request.ModelId, images, problem.Code, detail);
        return new CreateAnswer(null, problem.Result(detail));
    }

    /// <summary>
    /// SHA-256 of the request summary (image data already reduced to hashes), so equal bodies compare equal, and of the
    /// callback URL when there is one (a request without one hashes as it always has, so keys held across an upgrade match).
    /// </summary>
    private static string RequestHash(GenerationRequest request, string? webhookUrl) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            webhookUrl is null ? request.Summary() : $"{request.Summary()}\n{WebhookUrlHeader}: {webhookUrl}")));

    private static int? NullIfZero(int value) => value > 0 ? value : null;

    [GeneratedRegex("^[\\x21-\\x7E]{1,255}$")]
    private static partial Regex ValidKey();
}

/// <summary>Logs a create refused by validation (400, 413, 415) as an audit event; runs outside <see cref="ValidationFilter"/>.</summary>
public sealed class CreateAuditFilter(ILoggerFactory loggerFactory) : IEndpointFilter
{
    private readonly ILogger _audit = loggerFactory.CreateLogger(AuditLog.Category);

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var result = await next(context);
        if (!GuardedCreates.Reached(context.HttpContext)
            && result is IStatusCodeHttpResult { StatusCode: >= 400 } refused
            && context.Arguments.OfType<GenerationRequest>().FirstOrDefault() is { } request)
        {
            var images = request.Rejection == RequestRejection.None ? AuditLog.ImageHashes(request) : "";
            AuditLog.Refused(_audit, context.HttpContext.Caller(), request.ModelId, images, "validation",
                string.Create(CultureInfo.InvariantCulture, $"{refused.StatusCode} {request.Rejection}"));
        }

        return result;
    }
}
