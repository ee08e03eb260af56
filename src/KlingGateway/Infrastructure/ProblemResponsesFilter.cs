using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace KlingGateway.Infrastructure;

/// <summary>Says, for every problem a route can answer, what it means and what the caller can do about it.</summary>
internal sealed class ProblemResponsesFilter : IOperationFilter
{
    private static readonly Dictionary<string, string> Meanings = new()
    {
        ["400"] = "Invalid input: one application/problem+json whose errors map each JSON path to what is allowed.",
        ["404"] = "No such resource was issued by this gateway (code generation_not_found or model_not_found).",
        ["413"] = "The body is larger than Gateway:MaxRequestBodyBytes; send images as https URLs instead.",
        ["415"] = "The body is not JSON; send Content-Type: application/json.",
        ["429"] = "The upstream's rate or concurrency limit (code upstream_rate_limited); retry after the Retry-After header.",
        ["502"] = "The upstream could not be reached, failed, answered unreadably, or rejected the gateway's own key " +
                  "(codes upstream_unreachable, upstream_error, upstream_bad_response, upstream_key_rejected, upstream_not_found).",
        ["503"] = "The upstream is unavailable or its account is out of credits (codes upstream_unavailable, upstream_out_of_credits); see Retry-After.",
        ["504"] = "The upstream did not answer in time (code upstream_timeout). A create may or may not have started; the ledger keeps it as failed.",
    };

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (operation.Responses is null)
        {
            return;
        }

        foreach (var (status, response) in operation.Responses)
        {
            if (Meanings.TryGetValue(status, out var meaning) && response is OpenApiResponse concrete)
            {
                concrete.Description = meaning;
            }
        }
    }
}
