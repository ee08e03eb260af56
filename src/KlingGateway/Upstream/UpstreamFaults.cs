using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace KlingGateway.Upstream;

/// <summary>
/// The one place upstream faults become answers (CONTRACT.md, last rule; STYLE.md "one small enum of upstream
/// failures and one function mapping it"): could not connect 502, timeout 504, 429 with Retry-After, the upstream
/// refusing the gateway's own key or credits 502/503 for the operator, upstream 400 with its message.
/// </summary>
public sealed class UpstreamFaults(IOptions<AimlApiOptions> options)
{
    /// <summary>Problem <c>code</c> values, stable for frontends to switch on.</summary>
    public static class Codes
    {
        public const string Unreachable = "upstream_unreachable";
        public const string Timeout = "upstream_timeout";
        public const string RejectedRequest = "upstream_rejected_request";
        public const string KeyRejected = "upstream_key_rejected";
        public const string OutOfCredits = "upstream_out_of_credits";
        public const string NotFound = "upstream_not_found";
        public const string RateLimited = "upstream_rate_limited";
        public const string Error = "upstream_error";
        public const string Unavailable = "upstream_unavailable";
        public const string BadResponse = "upstream_bad_response";
    }

    /// <summary>Status, code, title and detail for a fault.</summary>
    public static (int Status, string Code, string Title, string Detail) Describe(UpstreamFault fault) => fault.Kind switch
    {
        UpstreamFaultKind.ConnectFailure => (502, Codes.Unreachable, "The upstream could not be reached",
            "The gateway could not connect to the AI/ML API. Try again shortly."),
        UpstreamFaultKind.Timeout => (504, Codes.Timeout, "The upstream did not answer in time",
            fault.Message ?? "The AI/ML API did not answer in time."),
        UpstreamFaultKind.BadRequest => (400, Codes.RejectedRequest, "The upstream refused the request",
            fault.Message ?? "The AI/ML API refused the request body."),
        UpstreamFaultKind.KeyRejected => (502, Codes.KeyRejected, "The gateway's upstream key was rejected",
            "The AI/ML API rejected the gateway's own key; your credentials were fine. An operator must check AimlApi:ApiKey."),
        UpstreamFaultKind.OutOfCredits => (503, Codes.OutOfCredits, "The gateway's upstream account is out of credits",
            "The AI/ML API account behind this gateway has run out of credits; your request was fine. An operator must top up the account."),
        UpstreamFaultKind.NotFound => (502, Codes.NotFound, "The upstream did not find what the gateway asked for",
            fault.Message is { Length: > 0 } m && m != "Not Found" ? m : "The AI/ML API answered 404 for a route or generation the gateway expected it to know."),
        UpstreamFaultKind.RateLimited => (429, Codes.RateLimited, "The upstream is rate limiting",
            "The AI/ML API's rate or concurrency limit was reached. Retry after the time in the Retry-After header."),
        UpstreamFaultKind.Unavailable => (503, Codes.Unavailable, "The upstream is unavailable",
            fault.Message ?? "The AI/ML API is unavailable. Retry later."),
        UpstreamFaultKind.GatewayTimeout => (504, Codes.Timeout, "The upstream timed out",
            fault.Message ?? "The AI/ML API timed out."),
        UpstreamFaultKind.BadResponse => (502, Codes.BadResponse, "The upstream answered with something unreadable",
            fault.Message ?? "The AI/ML API's answer could not be read."),
        _ => (502, Codes.Error, "The upstream failed",
            fault.Message is { Length: > 0 } message ? $"The AI/ML API failed: {message}" : "The AI/ML API failed. Try again shortly."),
    };

    /// <summary>The problem answer for a fault; sets Retry-After on <paramref name="response"/> where one applies.</summary>
    public ProblemHttpResult ToProblem(HttpResponse response, UpstreamFault fault, string? generationId = null)
    {
        var (status, code, title, detail) = Describe(fault);
        if (fault.Kind is UpstreamFaultKind.RateLimited or UpstreamFaultKind.Unavailable)
        {
            var seconds = fault.RetryAfter is { } wait ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : options.Value.DefaultRetryAfterSeconds;
            response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        var extensions = new Dictionary<string, object?> { ["code"] = code };
        if (fault.StatusCode is { } upstreamStatus)
        {
            extensions["upstream_status"] = upstreamStatus;
        }

        if (generationId is not null)
        {
            extensions["generation_id"] = generationId;
        }

        return TypedResults.Problem(detail, statusCode: status, title: title, extensions: extensions);
    }
}
