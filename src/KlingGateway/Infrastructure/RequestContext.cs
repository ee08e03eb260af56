using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KlingGateway.Infrastructure;

public static partial class RequestContextExtensions
{
    private const string ClientRequestIdHeader = "X-Client-Request-Id";

    /// <summary>
    /// The caller's <c>X-Client-Request-Id</c> when it has the upstream's form (1..128 of [A-Za-z0-9._:-],
    /// docs/upstream.md, "Routes"); otherwise the trace id. Echoed in the answer and kept with the generation for the
    /// caller's own correlation; it is not sent upstream, where each create carries an id of its own
    /// (<see cref="Generations.GenerationId.UpstreamRequestId"/>).
    /// </summary>
    public static string ClientRequestId(this HttpContext context)
    {
        var given = context.Request.Headers[ClientRequestIdHeader].ToString();
        var id = ValidClientRequestId().IsMatch(given)
            ? given
            : Activity.Current?.TraceId.ToHexString() ?? context.TraceIdentifier.Replace('|', '.');
        context.Response.Headers[ClientRequestIdHeader] = id;
        return id;
    }

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex ValidClientRequestId();
}
