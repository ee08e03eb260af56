using System.Globalization;
using System.Text.Json.Nodes;

namespace KlingGateway.Simulator;

/// <summary>
/// The upstream's error answers: body <c>{message, path, requestId, statusCode, timestamp}</c> with the
/// documented messages (docs/upstream.md, "Errors"; the upstream's own pages are
/// https://github.com/aimlapi/api-docs/tree/main/docs/errors-and-messages).
/// </summary>
internal static class UpstreamErrors
{
    public const string ValidationPrefix = "Body validation error!";

    public const string InvalidKey =
        "This request requires a valid API key. You can create a new API key on the Billing page: https://aimlapi.com/app/keys";

    public const string OutOfCredits =
        "You've run out of credits. Please top up your balance or update your payment method to continue: https://aimlapi.com/app/billing/";

    public static string MessageFor(int status) => status switch
    {
        400 => ValidationPrefix,
        401 => InvalidKey,
        403 => OutOfCredits,
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal server error",
        502 => "Bad Gateway",
        503 => "Service unavailable",
        504 => "Generation timeout",
        _ => "Error",
    };

    /// <summary>An error answer; 429 and 503 carry <c>Retry-After</c> only when the scenario asks (the upstream documents none).</summary>
    public static IResult Answer(HttpContext http, int status, Scenario scenario, TimeProvider time, string? message = null)
    {
        if (scenario.RetryAfterSeconds is { } seconds && status is 429 or 503)
        {
            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        var body = new JsonObject
        {
            ["message"] = message ?? MessageFor(status),
            ["path"] = http.Request.Path.Value ?? "/",
            ["requestId"] = Guid.NewGuid().ToString("D"),
            // One upstream doc prints statusCode as a string ("429"); the scenario can ask for that shape.
            ["statusCode"] = scenario.StatusAsString
                ? JsonValue.Create(status.ToString(CultureInfo.InvariantCulture))
                : JsonValue.Create(status),
            ["timestamp"] = time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        };
        return Results.Json(body, statusCode: status);
    }

    /// <summary>A 200 whose JSON body stops half-way, as a connection cut mid-answer would leave it.</summary>
    public static IResult Truncated(JsonObject body)
    {
        var json = body.ToJsonString();
        return Results.Text(json[..(json.Length / 2)], "application/json", statusCode: StatusCodes.Status200OK);
    }
}
