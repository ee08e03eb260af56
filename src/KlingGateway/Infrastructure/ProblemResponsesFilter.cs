using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Says, for every problem status a route can answer, what it means and which codes of <see cref="ProblemCatalog"/>
/// carry it, so the OpenAPI document and the catalog never disagree.
/// </summary>
internal sealed class ProblemResponsesFilter : IOperationFilter
{
    private static readonly Dictionary<string, string> Meanings = new()
    {
        ["400"] = "Invalid input: one application/problem+json; for a body, `errors` maps each JSON path to what is allowed.",
        ["401"] = "No valid client key or user token.",
        ["404"] = "No such resource (generation, webhook delivery) was issued by this gateway to this caller.",
        ["403"] = "The video link's token is not valid (malformed, expired, or for another generation).",
        ["408"] = "The body arrived too slowly and reading it was given up; send it again.",
        ["409"] = "A conflict: the first request with this Idempotency-Key has not finished, or was cut off by a gateway stop (use a new key); or a webhook delivery to redeliver is still pending.",
        ["410"] = "The video was removed after the retention period.",
        ["412"] = "An If-Match or If-Unmodified-Since header does not match.",
        ["416"] = "The Range asks for bytes past the end.",
        ["413"] = "The body is larger than Gateway:MaxRequestBodyBytes; send images as https URLs instead.",
        ["415"] = "The body is not JSON; send Content-Type: application/json.",
        ["422"] = "The Idempotency-Key was used for another request.",
        ["429"] = "A limit was reached (the client's requests, generations or event streams, or the upstream's); retry after the Retry-After header.",
        ["502"] = "The upstream (or a video's source) could not be reached, failed, answered unreadably, or rejected the gateway's own key.",
        ["503"] = "The upstream is unavailable or its account is out of credits, the gateway is busy receiving other bodies, or this replica can open no more event streams; see Retry-After.",
        ["504"] = "The upstream (or a video's source) did not answer in time. A create may or may not have started; the ledger keeps it as failed.",
    };

    private static readonly Dictionary<string, string> CodesByStatus = ProblemCatalog.All
        .GroupBy(p => p.Status.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .ToDictionary(g => g.Key, g => string.Join(", ", g.Select(p => p.Code)));

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (operation.Responses is null)
        {
            return;
        }

        foreach (var (status, response) in operation.Responses)
        {
            if (response is not OpenApiResponse concrete || !CodesByStatus.TryGetValue(status, out var codes))
            {
                continue;
            }

            var meaning = Meanings.GetValueOrDefault(status) ?? concrete.Description;
            concrete.Description = $"{meaning} Problem codes with this status (see the README's problem catalog): {codes}.";
        }
    }
}
