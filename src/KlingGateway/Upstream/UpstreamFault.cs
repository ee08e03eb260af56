using System.Net;

namespace KlingGateway.Upstream;

/// <summary>The ways an upstream call can fail. One enum, one mapping to answers (<see cref="UpstreamFaultMapper"/>).</summary>
public enum UpstreamFaultKind
{
    /// <summary>No connection could be made (DNS, refused, TLS).</summary>
    ConnectFailure,

    /// <summary>The gateway's own timeout expired.</summary>
    Timeout,

    /// <summary>Upstream 400/422: it refused the request body.</summary>
    BadRequest,

    /// <summary>Upstream 401: it rejected the gateway's key.</summary>
    KeyRejected,

    /// <summary>Upstream 403: the account is out of credits.</summary>
    OutOfCredits,

    /// <summary>Upstream 404: unknown route, model or generation.</summary>
    NotFound,

    /// <summary>Upstream 429: a rate or concurrency limit.</summary>
    RateLimited,

    /// <summary>Upstream 500/502 or another unexpected status.</summary>
    ServerError,

    /// <summary>Upstream 503.</summary>
    Unavailable,

    /// <summary>Upstream 504.</summary>
    GatewayTimeout,

    /// <summary>An answer the gateway could not read (malformed JSON, no id).</summary>
    BadResponse,
}

/// <summary>A failed upstream call: what kind, the upstream's status and message, and any Retry-After it gave.</summary>
public sealed record UpstreamFault(UpstreamFaultKind Kind, int? StatusCode, string? Message, TimeSpan? RetryAfter)
{
    public static UpstreamFault FromStatus(HttpStatusCode status, string? message, TimeSpan? retryAfter) => new(
        (int)status switch
        {
            400 or 422 => UpstreamFaultKind.BadRequest,
            401 => UpstreamFaultKind.KeyRejected,
            403 => UpstreamFaultKind.OutOfCredits,
            404 => UpstreamFaultKind.NotFound,
            429 => UpstreamFaultKind.RateLimited,
            503 => UpstreamFaultKind.Unavailable,
            504 => UpstreamFaultKind.GatewayTimeout,
            _ => UpstreamFaultKind.ServerError,
        },
        (int)status,
        message,
        retryAfter);

    /// <summary>
    /// Whether a create that ended with this fault may still have started (and been billed) upstream: it timed out,
    /// answered unreadably, or the connection broke after the request went out (no status). Every other fault is an
    /// answer from the upstream refusing the create, or a connection never made: nothing was started. This one
    /// predicate decides the refund, the <c>Idempotency-Key</c> and whether the usage log is asked (docs/upstream.md, "Errors").
    /// </summary>
    public bool MayHaveStarted => Kind is UpstreamFaultKind.Timeout or UpstreamFaultKind.GatewayTimeout or UpstreamFaultKind.BadResponse
        || (Kind is UpstreamFaultKind.ServerError && StatusCode is null);

    /// <summary>Transient faults a safe read may retry.</summary>
    public bool IsTransient => Kind is UpstreamFaultKind.ConnectFailure or UpstreamFaultKind.Timeout or UpstreamFaultKind.ServerError
        or UpstreamFaultKind.Unavailable or UpstreamFaultKind.GatewayTimeout;
}
