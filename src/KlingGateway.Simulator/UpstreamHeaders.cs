using System.Text.RegularExpressions;

namespace KlingGateway.Simulator;

/// <summary>
/// The tracing headers of docs/capabilities/request-tracing-and-cost.md: every answer carries
/// <c>x-inference-id</c>, and a valid <c>X-Client-Request-Id</c> (1..128 of <c>[A-Za-z0-9._:-]</c>) is echoed;
/// an invalid one is silently dropped.
/// </summary>
internal static partial class UpstreamHeaders
{
    public const string ClientRequestId = "X-Client-Request-Id";
    public const string EchoedClientRequestId = "x-client-request-id";
    public const string InferenceId = "x-inference-id";

    public static IApplicationBuilder UseUpstreamHeaders(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        var clientRequestId = http.Request.Headers[ClientRequestId].ToString();
        if (ValidClientRequestId().IsMatch(clientRequestId))
        {
            http.Response.Headers[EchoedClientRequestId] = clientRequestId;
        }

        // A default the fetch handler replaces with the generation id.
        http.Response.Headers[InferenceId] = Guid.NewGuid().ToString("D");
        return next(http);
    });

    /// <summary>The request's <c>X-Client-Request-Id</c> when it is valid (one that would be echoed), or null.</summary>
    public static string? ClientRequestIdOf(HttpRequest request)
    {
        var value = request.Headers[ClientRequestId].ToString();
        return ValidClientRequestId().IsMatch(value) ? value : null;
    }

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex ValidClientRequestId();
}
