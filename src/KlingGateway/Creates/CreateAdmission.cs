using System.Globalization;
using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Upstream;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace KlingGateway.Creates;

/// <summary>A create admitted, or the limit that refused it, and the UTC day the daily limits were counted in.</summary>
public readonly record struct AdmissionOutcome(Admission Admission, DateTimeOffset DayStart);

/// <summary>What a refused create answers: its code and detail (for the audit event) and the 429 problem.</summary>
public readonly record struct LimitRefusal(string Code, string Detail, ProblemHttpResult Problem);

/// <summary>
/// The caller's client limits on a create: in flight, daily video seconds and daily budget, checked and the generation
/// inserted in one ledger transaction under the client's lock (<see cref="ILedgerAccounting.AdmitAsync"/>), before the
/// upstream is called; and the 429 problem a refusal answers, saying what remains and when it resets.
/// </summary>
public sealed class CreateAdmission(ILedgerAccounting accounting, ClientDirectory clients, IOptions<AimlApiOptions> upstreamOptions, TimeProvider time)
{
    /// <summary>Inserts <paramref name="generation"/> (queued) when the caller's limits allow it.</summary>
    public async Task<AdmissionOutcome> AdmitAsync(
        Generation generation, Caller caller, string? idempotencyKey, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var dayStart = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        var limits = caller.Client.Limits;
        var admission = await accounting.AdmitAsync(generation, new AdmissionLimits(
            NullIfZero(limits.MaxInFlight),
            NullIfZero(limits.DailyVideoSeconds),
            limits.DailyBudgetUsd > 0 ? limits.DailyBudgetUsd : null,
            dayStart,
            now - clients.Options.InFlightExpiry), idempotencyKey, cancellationToken);
        return new AdmissionOutcome(admission, dayStart);
    }

    /// <summary>The problem for a refused admission; sets Retry-After on <paramref name="response"/>.</summary>
    public LimitRefusal Refusal(HttpResponse response, Caller caller, Generation generation, AdmissionOutcome outcome)
    {
        var (admission, dayStart) = outcome;
        var limits = caller.Client.Limits;
        var resetsAt = dayStart.AddDays(1);
        var untilReset = Math.Max(1, (int)Math.Ceiling((resetsAt - time.GetUtcNow()).TotalSeconds));
        var extensions = new Dictionary<string, object?>
        {
            ["in_flight"] = admission.InFlight,
            ["requested_video_seconds"] = generation.VideoSeconds,
        };
        if (limits.MaxInFlight > 0)
        {
            extensions["max_in_flight"] = limits.MaxInFlight;
        }

        if (limits.DailyVideoSeconds > 0)
        {
            extensions["daily_video_seconds"] = limits.DailyVideoSeconds;
            extensions["remaining_video_seconds"] = Math.Max(0, limits.DailyVideoSeconds - admission.SpentVideoSeconds);
        }

        if (limits.DailyBudgetUsd > 0)
        {
            extensions["requested_usd"] = generation.CostUsd;
            extensions["daily_budget_usd"] = limits.DailyBudgetUsd;
            extensions["remaining_usd"] = Math.Max(0, limits.DailyBudgetUsd - admission.SpentUsd);
        }

        ProblemType problem;
        string detail;
        int retryAfter;
        switch (admission.Refusal)
        {
            case AdmissionRefusal.InFlight:
                problem = ProblemCatalog.TooManyInFlight;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"This client has {admission.InFlight} generations queued or processing and may have at most {limits.MaxInFlight} at once. Retry when one finishes.");
                retryAfter = upstreamOptions.Value.DefaultRetryAfterSeconds;
                break;
            case AdmissionRefusal.VideoSeconds:
                problem = ProblemCatalog.DailyVideoSecondsExhausted;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"This generation needs {generation.VideoSeconds} video seconds; this client has {extensions["remaining_video_seconds"]} of its {limits.DailyVideoSeconds} left today. The budget resets at {resetsAt:yyyy-MM-dd'T'HH:mm:ss'Z'}.");
                retryAfter = untilReset;
                extensions["resets_at"] = resetsAt;
                break;
            default:
                problem = ProblemCatalog.DailyBudgetExhausted;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"This generation costs {generation.CostUsd} USD; this client has {extensions["remaining_usd"]} USD of its {limits.DailyBudgetUsd} USD left today. The budget resets at {resetsAt:yyyy-MM-dd'T'HH:mm:ss'Z'}.");
                retryAfter = untilReset;
                extensions["resets_at"] = resetsAt;
                break;
        }

        response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        // 429: the caller is over a quota that frees up with time (a generation finishing, the next UTC day).
        return new LimitRefusal(problem.Code, detail, problem.Result(detail, extensions));
    }

    private static int? NullIfZero(int value) => value > 0 ? value : null;
}
