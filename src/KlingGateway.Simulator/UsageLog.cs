using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Primitives;

namespace KlingGateway.Simulator;

/// <summary>One request in the simulated usage log, as <c>GET /v2/logs</c> lists it.</summary>
/// <param name="Created">When the request arrived.</param>
/// <param name="Status"><c>succeeded</c> or <c>failed</c>.</param>
/// <param name="Model">The model the request named (<c>unknown</c> when it named none).</param>
/// <param name="CostUsd">What it was charged; 0 for every failed request and every fetch.</param>
/// <param name="RequestId">The id of the HTTP call.</param>
/// <param name="InferenceId">The generation id for a create that started one or a fetch; otherwise the call's own id.</param>
/// <param name="ClientRequestId">The valid <c>X-Client-Request-Id</c> the request carried, or null.</param>
public sealed record UsageLogEntry(
    DateTimeOffset Created, string Status, string Model, decimal CostUsd, string RequestId, string InferenceId, string? ClientRequestId)
{
    /// <summary>Credits per USD in the upstream's log (its example: 0.25 USD is 500,000 credits).</summary>
    public const long CreditsPerUsd = 2_000_000;

    public long CostCredits => (long)(CostUsd * CreditsPerUsd);
}

/// <summary>
/// The upstream's usage log, <c>GET /v2/logs</c>
/// (https://github.com/aimlapi/api-docs/blob/main/docs/api-references/service-endpoints/logs-v2.json):
/// one row per create and fetch made with the key, newest first, filtered by window, status and model, paged with
/// limit and offset, at most 200 requests per 60 s. How a create is logged can be steered per request: a refused or
/// abandoned create is a failed row that costs nothing, <c>[sim:log=omit]</c> keeps a create out of the log (as a
/// request that never arrived, or a pipeline that lags), and <see cref="SimulatorState.UsageLogFault"/> makes the log
/// itself answer an error.
/// </summary>
internal static partial class UsageLogApi
{
    public const string Path = "/v2/logs";

    /// <summary>The log's documented limit: requests per key per window.</summary>
    public const int RequestsPerWindow = 200;

    public static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    private const int MaxModels = 50;
    private static readonly TimeSpan MaxSpan = TimeSpan.FromDays(92);

    /// <summary>What a simulated video second costs, in USD, whatever the model.</summary>
    public const decimal UsdPerVideoSecond = 0.1m;

    public static IEndpointRouteBuilder MapUsageLog(this IEndpointRouteBuilder app)
    {
        app.MapGet(Path, Read)
            .AddEndpointFilter<RequestRecordingFilter>()
            .WithName("SimulatedUsageLog")
            .WithSummary("The simulated usage log: one row per create and fetch, newest first.");
        return app;
    }

    private static IResult Read(HttpContext http, SimulatorState state, UpstreamSettings settings, TimeProvider time)
    {
        if (!settings.IsAuthorized(http.Request))
        {
            return UpstreamErrors.Answer(http, StatusCodes.Status401Unauthorized, Scenario.None, time);
        }

        var now = time.GetUtcNow();
        if (!state.TryCountUsageLogRead(now, RequestsPerWindow, Window))
        {
            return UpstreamErrors.Answer(http, StatusCodes.Status429TooManyRequests, Scenario.None, time);
        }

        if (state.UsageLogFault is { } fault)
        {
            return UpstreamErrors.Answer(http, fault, Scenario.None, time);
        }

        var query = http.Request.Query;
        if (Problem(query, now) is { } problem)
        {
            return UpstreamErrors.Answer(http, StatusCodes.Status400BadRequest, Scenario.None, time, $"{UpstreamErrors.ValidationPrefix} {problem}");
        }

        var (from, to) = Span(query, now);
        var statuses = query["status"];
        var models = query["model"];
        var limit = query["limit"].Count > 0 ? int.Parse(query["limit"]!, CultureInfo.InvariantCulture) : 50;
        var offset = query["offset"].Count > 0 ? int.Parse(query["offset"]!, CultureInfo.InvariantCulture) : 0;

        var matching = state.UsageLog
            .Where(e => e.Created >= from && e.Created <= to)
            .Where(e => statuses.Count == 0 || statuses.Contains(e.Status))
            .Where(e => models.Count == 0 || models.Contains(e.Model))
            .OrderByDescending(e => e.Created)
            .ToList();
        var page = matching.Skip(offset).Take(limit).Select(ToJson).ToArray<JsonNode?>();
        return Results.Json(new JsonObject
        {
            ["data"] = new JsonArray(page),
            ["pagination"] = new JsonObject
            {
                ["limit"] = limit,
                ["offset"] = offset,
                ["total"] = matching.Count,
                ["has_more"] = offset + page.Length < matching.Count,
            },
        });
    }

    private static JsonObject ToJson(UsageLogEntry entry) => new()
    {
        ["created"] = entry.Created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        ["status"] = entry.Status,
        ["origin"] = "api",
        ["model"] = entry.Model,
        ["cost"] = new JsonObject { ["usd"] = entry.CostUsd, ["credits"] = entry.CostCredits },
        ["tokens"] = new JsonObject { ["input"] = 0, ["output"] = 0, ["total"] = 0 },
        ["request_id"] = entry.RequestId,
        ["inference_id"] = entry.InferenceId,
        ["client_request_id"] = entry.ClientRequestId,
    };

    /// <summary>
    /// What the upstream answers 400 for (https://github.com/aimlapi/api-docs/blob/main/docs/api-references/service-endpoints/usage-logs.md,
    /// "Errors"), or null.
    /// </summary>
    private static string? Problem(IQueryCollection query, DateTimeOffset now)
    {
        var hasPeriod = query["period"].Count > 0;
        var hasStart = query["start"].Count > 0;
        var hasEnd = query["end"].Count > 0;
        if (hasPeriod == (hasStart || hasEnd) || hasStart != hasEnd)
        {
            return "Provide either period or both start and end.";
        }

        if (hasPeriod && Period(query["period"]) is null)
        {
            return "period: a positive number followed by h or d, such as 24h or 7d.";
        }

        if (hasStart && (Time(query["start"]) is not { } start || Time(query["end"]) is not { } end))
        {
            return "start, end: ISO-8601 times.";
        }

        var (from, to) = Span(query, now);
        if (to < from)
        {
            return "end: must not be earlier than start.";
        }

        if (to - from > MaxSpan)
        {
            return "The window must not exceed 92 days.";
        }

        if (query["status"].Any(s => s is not ("succeeded" or "failed")))
        {
            return "status: Expected 'succeeded' | 'failed'.";
        }

        if (query["model"].Count > MaxModels)
        {
            return "model: at most 50 values.";
        }

        if (query["limit"].Count > 0 && !(int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= 100))
        {
            return "limit: an integer from 1 to 100.";
        }

        if (query["offset"].Count > 0 && !int.TryParse(query["offset"], NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return "offset: a non-negative integer.";
        }

        return null;
    }

    private static (DateTimeOffset From, DateTimeOffset To) Span(IQueryCollection query, DateTimeOffset now) =>
        query["period"].Count > 0 && Period(query["period"]) is { } period
            ? (now - period, now)
            : (Time(query["start"]) ?? now, Time(query["end"]) ?? now);

    private static TimeSpan? Period(StringValues value)
    {
        var match = PeriodPattern().Match(value.ToString());
        if (!match.Success || !int.TryParse(match.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
        {
            return null;
        }

        return match.Groups["unit"].Value == "h" ? TimeSpan.FromHours(n) : TimeSpan.FromDays(n);
    }

    // A value without an offset is read as UTC, as the upstream documents.
    private static DateTimeOffset? Time(StringValues value) =>
        value.Count == 1 && DateTimeOffset.TryParse(value[0], CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;

    [GeneratedRegex("^(?<n>[0-9]{1,5})(?<unit>[hd])$", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodPattern();
}
