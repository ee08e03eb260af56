using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace KlingGateway.Access;

/// <summary>
/// <list type="table">
/// <item><term>GET /v1/usage</term><description>what the caller's client spent and has left, by day and model</description></item>
/// </list>
/// </summary>
public static class UsageApi
{
    private const int MaxDays = 90;

    private static readonly IntegerQuery Days = new("days", 1);

    public static RouteGroupBuilder MapUsage(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/usage").WithTags("Usage").RequireCaller();

        group.MapGet("/", Get)
            .WithName("GetUsage")
            .WithSummary("What this client spent and has left")
            .WithDescription("Today's spend against the client's daily limits (video seconds and, with a price table, USD), the " +
                             "generations in flight, and the spend of the last `days` UTC days (1..90, default 7) by day and model. " +
                             "Creates the upstream refused are not counted.")
            .WithMetadata(Days)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesValidationProblem();
        return group;
    }

    private static async Task<Results<Ok<ClientUsage>, ValidationProblem>> Get(
        HttpContext context, CurrentCaller current, ILedgerAccounting accounting, ClientDirectory clients, TimeProvider time, [FromQuery] string[]? days = null)
    {
        var errors = new Dictionary<string, string[]>();
        var dayCount = Days.Read(days, MaxDays, errors);
        if (errors.Count > 0)
        {
            return ProblemCatalog.InvalidQuery.ValidationResult(errors);
        }

        var caller = current.Caller;
        var now = time.GetUtcNow();
        var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        var report = await accounting.UsageAsync(
            caller.Client.Name, today.AddDays(1 - (dayCount ?? 7)), now - clients.Options.InFlightExpiry, context.RequestAborted);

        var todayKey = today.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var todayRows = report.Rows.Where(r => r.Day == todayKey).ToList();
        var seconds = todayRows.Sum(r => r.VideoSeconds);
        var usd = todayRows.Sum(r => r.CostUsd);
        var limits = caller.Client.Limits;

        return TypedResults.Ok(new ClientUsage(
            caller.Client.Name,
            caller.User,
            new UsageLimits(
                Positive(limits.RequestsPerMinute), Positive(limits.MaxInFlight), Positive(limits.DailyVideoSeconds),
                limits.DailyBudgetUsd > 0 ? limits.DailyBudgetUsd : null),
            new UsageToday(
                todayKey,
                todayRows.Sum(r => r.Generations),
                seconds,
                usd,
                limits.DailyVideoSeconds > 0 ? Math.Max(0, limits.DailyVideoSeconds - seconds) : null,
                limits.DailyBudgetUsd > 0 ? Math.Max(0, limits.DailyBudgetUsd - usd) : null,
                today.AddDays(1)),
            report.InFlight,
            [.. report.Rows.GroupBy(r => r.Day).Select(day => new UsageDay(
                day.Key,
                day.Sum(r => r.Generations),
                day.Sum(r => r.VideoSeconds),
                day.Sum(r => r.CostUsd),
                [.. day.Select(r => new UsageModel(r.Model, r.Generations, r.VideoSeconds, r.CostUsd))]))]));
    }

    private static int? Positive(int value) => value > 0 ? value : null;
}

/// <summary>A client's usage.</summary>
/// <param name="Client">The client the caller acts as.</param>
/// <param name="User">The user from the caller's token, if any (usage and limits are the client's).</param>
/// <param name="Limits">The client's limits; absent means no limit.</param>
/// <param name="Today">Today (UTC): spent and left.</param>
/// <param name="InFlight">Generations queued or processing now.</param>
/// <param name="Days">Newest first.</param>
public sealed record ClientUsage(string Client, string? User, UsageLimits Limits, UsageToday Today, int InFlight, IReadOnlyList<UsageDay> Days);

/// <summary>A client's limits; a missing value means no limit.</summary>
/// <param name="RequestsPerMinute">Per gateway replica.</param>
/// <param name="MaxInFlight">Generations queued or processing at once.</param>
/// <param name="DailyVideoSeconds">Video seconds per UTC day.</param>
/// <param name="DailyBudgetUsd">USD per UTC day.</param>
public sealed record UsageLimits(int? RequestsPerMinute, int? MaxInFlight, int? DailyVideoSeconds, decimal? DailyBudgetUsd);

/// <summary>Today's spend and what is left.</summary>
/// <param name="Day">The UTC day.</param>
/// <param name="Generations">Generations created.</param>
/// <param name="VideoSeconds">Video seconds spent.</param>
/// <param name="CostUsd">USD spent (0 without a price table).</param>
/// <param name="RemainingVideoSeconds">Left today; absent without a limit.</param>
/// <param name="RemainingUsd">Left today; absent without a limit.</param>
/// <param name="ResetsAt">When the daily limits start over.</param>
public sealed record UsageToday(
    string Day, int Generations, int VideoSeconds, decimal CostUsd, int? RemainingVideoSeconds, decimal? RemainingUsd, DateTimeOffset ResetsAt);

/// <summary>One day's spend.</summary>
/// <param name="Day">The UTC day.</param>
/// <param name="Generations">Generations created.</param>
/// <param name="VideoSeconds">Video seconds.</param>
/// <param name="CostUsd">USD.</param>
/// <param name="Models">By model.</param>
public sealed record UsageDay(string Day, int Generations, int VideoSeconds, decimal CostUsd, IReadOnlyList<UsageModel> Models);

/// <summary>One model's spend on a day.</summary>
/// <param name="Model">The model id.</param>
/// <param name="Generations">Generations created.</param>
/// <param name="VideoSeconds">Video seconds.</param>
/// <param name="CostUsd">USD.</param>
public sealed record UsageModel(string Model, int Generations, int VideoSeconds, decimal CostUsd);
