using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KlingGateway.Infrastructure;

public static partial class RequestContextExtensions
{
    private const string ClientRequestIdHeader = "X-Client-Request-Id";

    /// <summary>
    /// The caller's <c>X-Client-Request-Id</c> when it is one the upstream accepts (1..128 of [A-Za-z0-9._:-],
    /// RESEARCH.md §6); otherwise the trace id, so every upstream call can be found again. Echoed in the answer.
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
