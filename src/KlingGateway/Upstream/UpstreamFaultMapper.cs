using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using KlingGateway.Infrastructure;
using Microsoft.Extensions.Options;

namespace KlingGateway.Upstream;

/// <summary>
/// The one place upstream faults become answers, one small enum of upstream failures and one function mapping it
/// (docs/upstream.md, "Errors"): could not connect 502, timeout 504, 429 with Retry-After, the upstream
/// refusing the gateway's own key or credits 502/503 for the operator, upstream 400 with its message.
/// </summary>
public sealed class UpstreamFaultMapper(IOptions<AimlApiOptions> options)
{
    /// <summary>The catalog's problem for a fault of a call of <paramref name="operation"/>, and this occurrence's detail.</summary>
    public static (ProblemType Problem, string Detail) Describe(UpstreamFault fault, UpstreamOperation operation = UpstreamOperation.Create) => fault.Kind switch
    {
        // A status read carries nothing of the caller's but the gateway's own id for the generation: when the upstream
        // refuses it, the fault is between the gateway and the upstream (docs/upstream.md, "Errors").
        UpstreamFaultKind.BadRequest when operation == UpstreamOperation.Fetch => (ProblemCatalog.UpstreamRefusedFetch,
            "The AI/ML API refused the gateway's status request for this generation" +
            (fault.Message is { Length: > 0 } refusal ? $" ({refusal})" : "") +
            ". Your request was fine; an operator should check the gateway's log. Retry later."),
        UpstreamFaultKind.ConnectFailure => (ProblemCatalog.UpstreamUnreachable,
            "The gateway could not connect to the AI/ML API. Try again shortly."),
        UpstreamFaultKind.Timeout => (ProblemCatalog.UpstreamTimeout, fault.Message ?? "The AI/ML API did not answer in time."),
        UpstreamFaultKind.BadRequest => (ProblemCatalog.UpstreamRejectedRequest, fault.Message ?? "The AI/ML API refused the request body."),
        UpstreamFaultKind.KeyRejected => (ProblemCatalog.UpstreamKeyRejected,
            "The AI/ML API rejected the gateway's own key; your credentials were fine. An operator must check AimlApi:ApiKey."),
        UpstreamFaultKind.OutOfCredits => (ProblemCatalog.UpstreamOutOfCredits,
            "The AI/ML API account behind this gateway has run out of credits; your request was fine. An operator must top up the account."),
        UpstreamFaultKind.NotFound => (ProblemCatalog.UpstreamNotFound,
            fault.Message is { Length: > 0 } m && m != "Not Found" ? m : "The AI/ML API answered 404 for a route or generation the gateway expected it to know."),
        UpstreamFaultKind.RateLimited => (ProblemCatalog.UpstreamRateLimited,
            "The AI/ML API's rate or concurrency limit was reached. Retry after the time in the Retry-After header."),
        UpstreamFaultKind.Unavailable => (ProblemCatalog.UpstreamUnavailable, fault.Message ?? "The AI/ML API is unavailable. Retry later."),
        UpstreamFaultKind.GatewayTimeout => (ProblemCatalog.UpstreamTimeout, fault.Message ?? "The AI/ML API timed out."),
        UpstreamFaultKind.BadResponse => (ProblemCatalog.UpstreamBadResponse, fault.Message ?? "The AI/ML API's answer could not be read."),
        _ => (ProblemCatalog.UpstreamError,
            fault.Message is { Length: > 0 } message ? $"The AI/ML API failed: {message}" : "The AI/ML API failed. Try again shortly."),
    };

    /// <summary>The problem answer for a fault; sets Retry-After on <paramref name="response"/> where one applies.</summary>
    public ProblemHttpResult ToProblem(
        HttpResponse response, UpstreamFault fault, string? generationId = null, UpstreamOperation operation = UpstreamOperation.Create)
    {
        var (problem, detail) = Describe(fault, operation);
        if (fault.Kind is UpstreamFaultKind.RateLimited or UpstreamFaultKind.Unavailable)
        {
            var seconds = fault.RetryAfter is { } wait ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : options.Value.DefaultRetryAfterSeconds;
            response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        var extensions = new Dictionary<string, object?>();
        if (fault.StatusCode is { } upstreamStatus)
        {
            extensions["upstream_status"] = upstreamStatus;
        }

        if (generationId is not null)
        {
            extensions["generation_id"] = generationId;
        }

        return problem.Result(detail, extensions);
    }
}

/// <summary>Which upstream call failed: the answer to a fault depends on it.</summary>
public enum UpstreamOperation
{
    /// <summary>A create, carrying the caller's body.</summary>
    Create,

    /// <summary>A status read of a generation the gateway created.</summary>
    Fetch,
}
