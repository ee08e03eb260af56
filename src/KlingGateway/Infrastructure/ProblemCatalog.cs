using System.Collections.Frozen;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KlingGateway.Infrastructure;

/// <summary>One kind of problem the gateway answers: its stable <c>code</c>, HTTP status, title, and when it happens.</summary>
/// <param name="Code">The problem's <c>code</c> member: stable, for frontends to switch on.</param>
/// <param name="Status">The HTTP status it is answered with.</param>
/// <param name="Title">The problem's <c>title</c>: the same for every occurrence (RFC 9457, section 3.1.4).</param>
/// <param name="When">When it happens and what the caller can do, for the README and the OpenAPI document.</param>
public sealed record ProblemType(string Code, int Status, string Title, string When)
{
    /// <summary>The answer for this problem, with the occurrence's <paramref name="detail"/> and extension members.</summary>
    public ProblemHttpResult Result(string detail, IEnumerable<KeyValuePair<string, object?>>? extensions = null)
    {
        var members = new Dictionary<string, object?>(StringComparer.Ordinal) { ["code"] = Code };
        if (extensions is not null)
        {
            foreach (var (key, value) in extensions)
            {
                members[key] = value;
            }
        }

        return TypedResults.Problem(detail, statusCode: Status, title: Title, extensions: members);
    }

    /// <summary>
    /// A validation answer for this problem: <c>errors</c> maps each field (a JSON path or a query parameter) to what is
    /// wrong with it and what is allowed.
    /// </summary>
    public ValidationProblem ValidationResult(IDictionary<string, string[]> errors, string? detail = null) =>
        TypedResults.ValidationProblem(errors, detail, title: Title,
            extensions: new Dictionary<string, object?>(StringComparer.Ordinal) { ["code"] = Code });

    /// <summary>The same, as details for <see cref="IProblemDetailsService"/> (middleware that writes answers itself).</summary>
    public Microsoft.AspNetCore.Mvc.ProblemDetails Details(string detail)
    {
        var details = new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = Status, Title = Title, Detail = detail };
        details.Extensions["code"] = Code;
        return details;
    }
}

/// <summary>
/// Every problem the gateway answers, in one place (as YARP reports every forwarding failure through one
/// <c>ForwarderError</c>): no code is written anywhere else. The README's problem table and the OpenAPI document are
/// made from this list, and a test checks that every code the code can answer is listed here.
/// </summary>
public static class ProblemCatalog
{
    // Input.
    public static readonly ProblemType InvalidRequest = new("invalid_request", 400, "The request has invalid fields",
        "A create body broke its model's rules, holds a string that is not valid UTF-8 text, or holds far more values than any model takes: `errors` maps each JSON path, as sent, to what is wrong and what is allowed. Nothing was sent upstream.");

    public static readonly ProblemType MalformedJson = new("malformed_json", 400, "The request body is not valid JSON",
        "The body is empty, truncated, not UTF-8, or not JSON; `detail` gives the position.");

    public static readonly ProblemType NotAnObject = new("not_an_object", 400, "The request body must be a JSON object",
        "The body is valid JSON but not an object.");

    public static readonly ProblemType UnsupportedMediaType = new("unsupported_media_type", 415, "The request body must be JSON",
        "The body was not sent with Content-Type: application/json.");

    public static readonly ProblemType BodyTooLarge = new("body_too_large", 413, "The request body is too large",
        "The body is larger than Gateway:MaxRequestBodyBytes; send images as https URLs instead.");

    public static readonly ProblemType RequestTimeout = new("request_timeout", 408, "The request arrived too slowly",
        "The body arrived slower than the server's minimum rate (240 bytes/s after a 5 s grace) and reading it was given up; send it again.");

    public static readonly ProblemType InvalidQuery = new("invalid_query", 400, "The query is not valid",
        "A query parameter is out of range or unknown: `errors` names each one and what is allowed.");

    public static readonly ProblemType BadRequest = new("bad_request", 400, "Bad request",
        "The HTTP request itself could not be read (a malformed request line or header).");

    // Identity and limits.
    public static readonly ProblemType Unauthenticated = new("unauthenticated", 401, "Authentication required",
        "No client key was sent and anonymous callers are not allowed: send X-Api-Key or Authorization: Bearer.");

    public static readonly ProblemType InvalidCredentials = new("invalid_credentials", 401, "Authentication required",
        "The X-Api-Key matches no client, or the bearer token is not a valid token of the company's identity provider.");

    public static readonly ProblemType RateLimited = new("rate_limited", 429, "Too many requests",
        "The client is over its requests per minute; retry after Retry-After (RateLimit-* headers say what remains).");

    public static readonly ProblemType TooManyInFlight = new("too_many_in_flight", 429, "Too many generations in flight",
        "The client has Auth:...:MaxInFlight generations queued or processing; retry when one finishes.");

    public static readonly ProblemType DailyVideoSecondsExhausted = new("daily_video_seconds_exhausted", 429,
        "The daily video-second budget would be exceeded",
        "The generation needs more video seconds than the client has left today; `remaining_video_seconds` and `resets_at` say what is left and when it resets.");

    public static readonly ProblemType DailyBudgetExhausted = new("daily_budget_exhausted", 429, "The daily budget would be exceeded",
        "The generation costs more than the client has left today; `remaining_usd` and `resets_at` say what is left and when it resets.");

    // Idempotency.
    public static readonly ProblemType InvalidIdempotencyKey = new("invalid_idempotency_key", 400, "The Idempotency-Key is not valid",
        "The Idempotency-Key header is not 1 to 255 visible ASCII characters, holds a comma, or was sent more than once; nothing was created.");

    public static readonly ProblemType IdempotencyKeyReused = new("idempotency_key_reused", 422, "The Idempotency-Key was used for another request",
        "The key was used in the last 24 hours with a different body, or by another user of the same client; use a new key.");

    public static readonly ProblemType IdempotencyKeyInProgress = new("idempotency_key_in_progress", 409,
        "A request with this Idempotency-Key is still in progress",
        "The first request with this key has not finished; retry with the same key shortly.");

    public static readonly ProblemType CreateInterrupted = new("create_interrupted", 409,
        "The create under this Idempotency-Key was interrupted",
        "The gateway stopped while it forwarded the first request with this key, which got no answer. Its generation (`generation_id`) failed with error code `interrupted`, and its `billing` says whether the upstream billed it. Use a new key to try again.");

    // Event streams and webhooks.
    public static readonly ProblemType TooManyEventStreams = new("too_many_event_streams", 429, "Too many event streams",
        "The client holds Events:MaxSubscribersPerClient event streams open on this replica; close one, or retry after Retry-After.");

    public static readonly ProblemType EventStreamsUnavailable = new("event_streams_unavailable", 503, "No event stream can be opened now",
        "The replica holds Events:MaxSubscribers event streams, or is stopping; retry after Retry-After (another replica may take it), or poll the generation.");

    public static readonly ProblemType InvalidWebhookUrl = new("invalid_webhook_url", 400, "The Webhook-Url is not allowed",
        "The create's Webhook-Url header is not an absolute http(s) URL under one of the client's Webhooks:Callbacks:AllowedUrls (or was sent more than once); nothing was created.");

    public static readonly ProblemType WebhookDeliveryNotFound = new("webhook_delivery_not_found", 404, "Webhook delivery not found",
        "No webhook delivery with this id is this caller's to see (someone else's answers the same).");

    public static readonly ProblemType WebhookDeliveryPending = new("webhook_delivery_pending", 409, "The webhook delivery is still pending",
        "The delivery is waiting for its next attempt (`next_attempt_at`) or being attempted; only a delivered or failed one is redelivered.");

    // Resources.
    public static readonly ProblemType GenerationNotFound = new("generation_not_found", 404, "Generation not found",
        "No generation with this id was issued by this gateway to this caller (someone else's generation answers the same).");

    public static readonly ProblemType ModelNotFound = new("model_not_found", 404, "Model not found",
        "No model of the catalog has this id; `detail` lists the models.");

    public static readonly ProblemType RouteNotFound = new("route_not_found", 404, "Not found",
        "No route of the gateway has this path.");

    public static readonly ProblemType MethodNotAllowed = new("method_not_allowed", 405, "Method not allowed",
        "The route exists but does not take this HTTP method.");

    // Videos (the content route).
    public static readonly ProblemType InvalidVideoLink = new("invalid_video_link", 403, "The video link is not valid",
        "The link's token is malformed, has expired, or was made for another generation: read the generation again for a fresh `video.url`, or send your credentials.");

    public static readonly ProblemType VideoNotAvailable = new("video_not_available", 404, "The generation has no video",
        "The generation is queued, processing or failed, so there is no video to serve; `status` says which.");

    public static readonly ProblemType VideoExpired = new("video_expired", 410, "The video has expired",
        "The gateway kept the video for Storage:Retention after the generation completed and has removed it.");

    public static readonly ProblemType PreconditionFailed = new("precondition_failed", 412, "A precondition failed",
        "An If-Match or If-Unmodified-Since header of the request does not match the video.");

    public static readonly ProblemType RangeNotSatisfiable = new("range_not_satisfiable", 416, "The range cannot be served",
        "The Range header asks for bytes past the end of the video.");

    public static readonly ProblemType VideoSourceFailed = new("video_source_failed", 502, "The video's source failed",
        "The video is not stored yet and its source (the upstream's file host) answered with an error or could not be reached; `source_status` says what it answered.");

    public static readonly ProblemType VideoSourceTimeout = new("video_source_timeout", 504, "The video's source did not answer in time",
        "The video is not stored yet and its source (the upstream's file host) did not answer in time. Try again shortly.");

    // The upstream (UpstreamFaultMapper maps each upstream fault to one of these).
    public static readonly ProblemType UpstreamUnreachable = new("upstream_unreachable", 502, "The upstream could not be reached",
        "The gateway could not connect to the AI/ML API. Try again shortly.");

    public static readonly ProblemType UpstreamTimeout = new("upstream_timeout", 504, "The upstream did not answer in time",
        "The AI/ML API did not answer in time, or answered 504. A create may or may not have started; the ledger keeps it as failed.");

    public static readonly ProblemType UpstreamRejectedRequest = new("upstream_rejected_request", 400, "The upstream refused the request",
        "The AI/ML API refused a create body with 400 or 422; `detail` carries its message.");

    public static readonly ProblemType UpstreamRefusedFetch = new("upstream_refused_fetch", 502, "The upstream refused the gateway's status request",
        "The AI/ML API answered 400 or 422 to a status read the gateway made for its own generation: a fault between the gateway and the upstream, not in the caller's request. An operator should check the gateway's log.");

    public static readonly ProblemType UpstreamKeyRejected = new("upstream_key_rejected", 502, "The gateway's upstream key was rejected",
        "The AI/ML API rejected the gateway's own key; the caller's credentials were fine. An operator must check AimlApi:ApiKey.");

    public static readonly ProblemType UpstreamOutOfCredits = new("upstream_out_of_credits", 503, "The gateway's upstream account is out of credits",
        "The AI/ML API account behind the gateway is out of credits; an operator must top it up.");

    public static readonly ProblemType UpstreamNotFound = new("upstream_not_found", 502, "The upstream did not find what the gateway asked for",
        "The AI/ML API answered 404 for a route or generation the gateway expected it to know.");

    public static readonly ProblemType UpstreamRateLimited = new("upstream_rate_limited", 429, "The upstream is rate limiting",
        "The AI/ML API's rate or concurrency limit was reached; retry after Retry-After.");

    public static readonly ProblemType UpstreamError = new("upstream_error", 502, "The upstream failed",
        "The AI/ML API answered 500 or 502, or the connection broke before it answered.");

    public static readonly ProblemType UpstreamUnavailable = new("upstream_unavailable", 503, "The upstream is unavailable",
        "The AI/ML API answered 503; retry after Retry-After.");

    public static readonly ProblemType UpstreamBadResponse = new("upstream_bad_response", 502, "The upstream answered with something unreadable",
        "The AI/ML API's answer could not be read.");

    // The gateway itself.
    public static readonly ProblemType GatewayBusy = new("gateway_busy", 503, "The gateway is busy receiving other requests",
        "The request bodies being received across all callers hold Gateway:MaxBufferedBodyBytes; retry after Retry-After.");

    public static readonly ProblemType LedgerUnavailable = new("ledger_unavailable", 503, "The gateway's ledger is unavailable",
        "The ledger (SQLite file or PostgreSQL) cannot serve right now: unreachable, out of connections, or locked. Retry after Retry-After; a create retried with the same Idempotency-Key never starts a second generation.");

    public static readonly ProblemType InternalError = new("internal_error", 500, "An unexpected error occurred",
        "A fault in the gateway; it is logged with the trace id this answer carries. Nothing the caller sent was lost.");

    /// <summary>Every problem, in the order above.</summary>
    public static IReadOnlyList<ProblemType> All { get; } =
    [
        InvalidRequest, MalformedJson, NotAnObject, UnsupportedMediaType, BodyTooLarge, RequestTimeout, InvalidQuery, BadRequest,
        Unauthenticated, InvalidCredentials, RateLimited, TooManyInFlight, DailyVideoSecondsExhausted, DailyBudgetExhausted,
        InvalidIdempotencyKey, IdempotencyKeyReused, IdempotencyKeyInProgress, CreateInterrupted,
        TooManyEventStreams, EventStreamsUnavailable, InvalidWebhookUrl, WebhookDeliveryNotFound, WebhookDeliveryPending,
        GenerationNotFound, ModelNotFound, RouteNotFound, MethodNotAllowed,
        InvalidVideoLink, VideoNotAvailable, VideoExpired, PreconditionFailed, RangeNotSatisfiable, VideoSourceFailed, VideoSourceTimeout,
        UpstreamUnreachable, UpstreamTimeout, UpstreamRejectedRequest, UpstreamRefusedFetch, UpstreamKeyRejected, UpstreamOutOfCredits, UpstreamNotFound,
        UpstreamRateLimited, UpstreamError, UpstreamUnavailable, UpstreamBadResponse,
        GatewayBusy, LedgerUnavailable, InternalError,
    ];

    private static readonly FrozenDictionary<string, ProblemType> ByCode = All.ToFrozenDictionary(p => p.Code, StringComparer.Ordinal);

    /// <summary>The problem with this code, or <see langword="null"/>.</summary>
    public static ProblemType? Find(string? code) => code is not null && ByCode.TryGetValue(code, out var type) ? type : null;

    /// <summary>
    /// The problem for an answer the framework writes without a code (a status code page, an unhandled exception), by
    /// its status; <see langword="null"/> when no single problem fits.
    /// </summary>
    public static ProblemType? ForStatus(int status) => status switch
    {
        400 => BadRequest,
        401 => Unauthenticated,
        404 => RouteNotFound,
        405 => MethodNotAllowed,
        408 => RequestTimeout,
        413 => BodyTooLarge,
        412 => PreconditionFailed,
        415 => UnsupportedMediaType,
        416 => RangeNotSatisfiable,
        429 => RateLimited,
        500 => InternalError,
        _ => null,
    };
}
