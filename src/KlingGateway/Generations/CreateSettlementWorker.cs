using KlingGateway.Access;
using KlingGateway.Creates;
using KlingGateway.Infrastructure;
using KlingGateway.Upstream;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>
/// Settles the creates the gateway never heard back about, so that a crash neither strands rows nor locks quota:
/// <list type="number">
/// <item><b>Interrupted creates.</b> A row still queued without an upstream id after <see cref="GenerationOptions.InterruptedAfter"/>
/// belongs to a create no process is running any more (the gateway was killed between the admission and the upstream's
/// answer). It is marked failed with the error code <c>interrupted</c> and billing <c>unknown</c>, which takes it out of
/// its client's in-flight count at once. Idempotency keys left open by such creates are closed.</item>
/// <item><b>Billing.</b> For every create whose outcome upstream is unknown (interrupted, timed out, answered
/// unreadably), the upstream's usage log says whether it was billed: each create was sent with an
/// <c>X-Client-Request-Id</c> of its own (<see cref="GenerationId.UpstreamRequestId"/>), which the log's rows carry
/// (docs/upstream.md, "Usage log"). Billed: it stays charged. Failed (the upstream rolled its hold back): refunded. Not
/// in the log after <see cref="GenerationOptions.BillingGracePeriod"/>: refunded. The log unreachable: it stays
/// charged, billing <c>unknown</c>, and is asked again next pass for <see cref="GenerationOptions.BillingCheckFor"/>.</item>
/// </list>
/// </summary>
/// <remarks>
/// Safe with several replicas on one ledger: each row changes by a conditional update (<see cref="ILedgerSweeps"/>), so
/// the metrics and audit events of one settlement come from exactly one replica. The usage log is read politely: at
/// most <see cref="AimlApiOptions.UsageLogRequestsPerMinute"/> requests a minute, evenly spaced, a pass reading at most
/// a minute's worth, and a 429 pausing the reads for its Retry-After. Creates are looked up in windows of about ten
/// minutes of the log, read newest first, 100 rows a page, until every create of the window is found or the window ends.
/// </remarks>
public sealed partial class CreateSettlementWorker(
    ILedgerSweeps ledger,
    RunningCreates runningCreates,
    AimlApiClient upstream,
    IOptions<GenerationOptions> options,
    IOptions<AimlApiOptions> upstreamOptions,
    SettlementMetrics metrics,
    GatewayMetrics gatewayMetrics,
    TimeProvider time,
    ILoggerFactory loggerFactory)
    : PeriodicWorker(time, loggerFactory.CreateLogger<CreateSettlementWorker>())
{
    /// <summary>Rows settled per ledger query; a full batch is followed by another.</summary>
    private const int Batch = 100;

    /// <summary>Creates of unknown billing looked up per pass, oldest first.</summary>
    private const int BillingBatch = 500;

    /// <summary>Creates at most this far apart share one read of the log.</summary>
    private static readonly TimeSpan WindowSpan = TimeSpan.FromMinutes(10);

    /// <summary>Room for the upstream's clock and for the time between the admission and the request's arrival.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(2);

    private static readonly GenerationError InterruptedError = new(GenerationErrorCodes.Interrupted,
        "The gateway stopped before it recorded the upstream's answer to this create, so the upstream may have started it. " +
        "Whether the upstream billed it is in billing.");

    /// <summary>What a retry with the key of an interrupted create is answered.</summary>
    private static readonly StoredProblem InterruptedAnswer = new(ProblemCatalog.CreateInterrupted.Code, ProblemCatalog.CreateInterrupted.Status,
        "The gateway stopped while it forwarded the first request with this Idempotency-Key, which got no answer. Its generation " +
        "failed (interrupted); its billing says whether the upstream billed it. Use a new key to try again.", null);

    private readonly ILogger _audit = loggerFactory.CreateLogger(AuditLog.Category);

    // When the next usage-log request may go out: requests are spaced evenly, and a 429 pushes this back.
    private DateTimeOffset _nextLogRequest;

    protected override string Name => "create settlement";

    protected override TimeSpan Interval => options.Value.SettlementInterval;

    private TimeSpan InterruptedAfter => options.Value.InterruptedAfterFor(upstreamOptions.Value.CreateTimeout);

    protected override async Task RunPassAsync(CancellationToken stoppingToken)
    {
        var interrupted = await SettleInterruptedAsync(stoppingToken);
        var keys = await ledger.CloseInterruptedIdempotencyKeysAsync(InterruptedAnswer, Time.GetUtcNow() - InterruptedAfter, stoppingToken);
        var billing = await SettleBillingAsync(stoppingToken);
        if (interrupted > 0)
        {
            LogInterruptedSettled(Logger, interrupted, keys);
        }

        if (billing.Billed + billing.NotBilled > 0 || billing.Unreadable is not null)
        {
            LogBillingPass(Logger, billing.Billed, billing.NotBilled, billing.StillUnknown);
        }
    }

    /// <summary>Settles every create older than <see cref="InterruptedAfter"/> still without the upstream's answer; returns how many this replica settled.</summary>
    private async Task<int> SettleInterruptedAsync(CancellationToken stoppingToken)
    {
        var settled = 0;
        while (true)
        {
            var now = Time.GetUtcNow();
            var found = await ledger.FindUnansweredCreatesAsync(now - InterruptedAfter, Batch, stoppingToken);
            var skipped = 0;
            foreach (var generation in found)
            {
                stoppingToken.ThrowIfCancellationRequested();
                if (runningCreates.Contains(generation.Id))
                {
                    // Still running here (its admission waited long): not interrupted, whatever its age.
                    skipped++;
                    continue;
                }

                if (!await ledger.SettleInterruptedAsync(generation.Id, InterruptedError, now, stoppingToken))
                {
                    // Another replica settled it, or its answer arrived after all.
                    continue;
                }

                settled++;
                var failed = generation with
                {
                    Status = GenerationStatus.Failed,
                    Error = InterruptedError,
                    Billing = GenerationBilling.Unknown,
                    UpdatedAt = now,
                    CompletedAt = now,
                };
                metrics.Interrupted(failed);
                gatewayMetrics.Finished(failed);
                LogInterrupted(Logger, failed.Id, failed.Model, failed.OwnerClient, failed.CreatedAt);
                AuditLog.Completed(_audit, failed);
            }

            // A full batch of creates this process is still running would be found again: leave them for the next pass.
            if (found.Count < Batch || skipped == found.Count)
            {
                return settled;
            }
        }
    }

    private readonly record struct BillingPass(int Billed, int NotBilled, int StillUnknown, UpstreamFault? Unreadable);

    /// <summary>Asks the usage log about creates of unknown billing, window by window, oldest first, within this pass's budget.</summary>
    private async Task<BillingPass> SettleBillingAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var unknown = await ledger.FindUnknownBillingAsync(Time.GetUtcNow() - settings.BillingCheckFor, BillingBatch, stoppingToken);
        if (unknown.Count == 0)
        {
            return default;
        }

        var budget = new PageBudget(upstreamOptions.Value.UsageLogRequestsPerMinute);
        int billed = 0, notBilled = 0;
        foreach (var window in Windows(unknown))
        {
            var read = await ReadWindowAsync(window, budget, stoppingToken);
            if (read.Paused)
            {
                LogUsageLogPaused(Logger, _nextLogRequest, unknown.Count - billed - notBilled);
                break;
            }

            if (read.Fault is { } fault)
            {
                LogUsageLogUnreadable(Logger, fault.Kind, fault.StatusCode, unknown.Count - billed - notBilled);
                return new BillingPass(billed, notBilled, unknown.Count - billed - notBilled, fault);
            }

            var now = Time.GetUtcNow();
            foreach (var generation in window)
            {
                var rows = read.Rows.GetValueOrDefault(generation.UpstreamRequestId!);
                var decided = Decide(rows, read.Complete, generation.CreatedAt + settings.BillingGracePeriod <= now);
                if (decided is not { } billing
                    || !await ledger.SettleBillingAsync(generation.Id, billing, now, stoppingToken))
                {
                    continue;
                }

                var evidence = rows?.FirstOrDefault(r => r.Billed) ?? rows?.FirstOrDefault();
                metrics.BillingSettled(generation, billing);
                AuditLog.BillingSettled(_audit, generation, billing, evidence?.InferenceId);
                if (billing == GenerationBilling.Billed)
                {
                    billed++;
                }
                else
                {
                    notBilled++;
                }
            }

            if (budget.Spent)
            {
                break;
            }
        }

        return new BillingPass(billed, notBilled, unknown.Count - billed - notBilled, null);
    }

    /// <summary>
    /// What the log's rows for one create say: billed if any row was billed, not billed if a row failed (its hold was
    /// rolled back), not billed if the whole window was read, nothing matched, and the grace period is over; otherwise
    /// not yet known.
    /// </summary>
    internal static GenerationBilling? Decide(IReadOnlyList<UsageLogRow>? rows, bool windowComplete, bool graceOver)
    {
        if (rows is { Count: > 0 })
        {
            return rows.Any(r => r.Billed) ? GenerationBilling.Billed
                : rows.Any(r => r.Failed) ? GenerationBilling.NotBilled
                : null;
        }

        return windowComplete && graceOver ? GenerationBilling.NotBilled : null;
    }

    /// <summary>Creates sorted by time, cut into runs no longer than <see cref="WindowSpan"/>.</summary>
    private static IEnumerable<List<Generation>> Windows(IReadOnlyList<Generation> generations)
    {
        var window = new List<Generation>();
        foreach (var generation in generations.OrderBy(g => g.CreatedAt))
        {
            if (window.Count > 0 && generation.CreatedAt - window[0].CreatedAt > WindowSpan)
            {
                yield return window;
                window = [];
            }

            window.Add(generation);
        }

        if (window.Count > 0)
        {
            yield return window;
        }
    }

    /// <summary>One window's read: the rows matched so far, whether the window was read far enough to decide, why it stopped.</summary>
    private sealed record WindowRead(Dictionary<string, List<UsageLogRow>> Rows, bool Complete, UpstreamFault? Fault, bool Paused = false);

    /// <summary>
    /// Reads the log around one window's creates, newest first, until each create has a row that decides it or the
    /// window is read to its end (<see cref="WindowRead.Complete"/>); stops early when the budget is spent or the log fails.
    /// </summary>
    private async Task<WindowRead> ReadWindowAsync(List<Generation> window, PageBudget budget, CancellationToken stoppingToken)
    {
        var wanted = window.Select(g => g.UpstreamRequestId!).ToHashSet(StringComparer.Ordinal);
        var rows = new Dictionary<string, List<UsageLogRow>>(StringComparer.Ordinal);
        var start = window[0].CreatedAt - ClockSkew;
        var end = window[^1].CreatedAt + InterruptedAfter + ClockSkew;
        var offset = 0;
        while (true)
        {
            if (_nextLogRequest - Time.GetUtcNow() > RequestSpacing)
            {
                // Paused by a 429: this pass leaves the log alone rather than wait it out (settling goes on meanwhile).
                return new WindowRead(rows, false, null, Paused: true);
            }

            if (!budget.TryTake())
            {
                return new WindowRead(rows, false, null);
            }

            await PaceAsync(stoppingToken);
            var now = Time.GetUtcNow();
            var result = await upstream.ReadUsageLogAsync(start, end < now ? end : now, UsageLogPage.MaxLimit, offset, stoppingToken);
            if (result.Page is not { } page)
            {
                if (result.Fault!.Kind == UpstreamFaultKind.RateLimited)
                {
                    // Over the log's limit (other replicas, other users of the key): no request until its Retry-After.
                    _nextLogRequest = Time.GetUtcNow() + (result.Fault.RetryAfter ?? TimeSpan.FromMinutes(1));
                }

                return new WindowRead(rows, false, result.Fault);
            }

            foreach (var row in page.Rows)
            {
                if (row.ClientRequestId is { } id && wanted.Contains(id))
                {
                    if (!rows.TryGetValue(id, out var matched))
                    {
                        rows[id] = matched = [];
                    }

                    matched.Add(row);
                }
            }

            var allDecided = wanted.All(id => rows.TryGetValue(id, out var matched) && matched.Any(r => r.Billed || r.Failed));
            if (!page.HasMore || page.Rows.Count == 0 || allDecided)
            {
                return new WindowRead(rows, true, null);
            }

            // Newest first: rows logged meanwhile push older ones down, so a page may repeat rows but never skips one.
            offset += page.Rows.Count;
        }
    }

    /// <summary>Waits until the next usage-log request may go out, and books the slot after it.</summary>
    private async Task PaceAsync(CancellationToken stoppingToken)
    {
        var wait = _nextLogRequest - Time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, Time, stoppingToken);
        }

        _nextLogRequest = Time.GetUtcNow() + RequestSpacing;
    }

    /// <summary>The time between two usage-log requests.</summary>
    private TimeSpan RequestSpacing => TimeSpan.FromMinutes(1) / upstreamOptions.Value.UsageLogRequestsPerMinute;

    /// <summary>The usage-log requests one pass may still make: a minute's worth.</summary>
    private sealed class PageBudget(int pages)
    {
        private int _left = pages;

        public bool Spent => _left <= 0;

        public bool TryTake()
        {
            if (_left <= 0)
            {
                return false;
            }

            _left--;
            return true;
        }
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information,
        Message = "Generation {GenerationId} for {Model} of client {Client}, accepted at {CreatedAt:o}, never got the upstream's answer to its create " +
                  "(the gateway stopped); settled as failed (interrupted), billing unknown")]
    private static partial void LogInterrupted(ILogger logger, string generationId, string model, string client, DateTimeOffset createdAt);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning,
        Message = "Settled {Count} interrupted creates (the gateway stopped before their upstream answers arrived) and closed {Keys} idempotency keys they held")]
    private static partial void LogInterruptedSettled(ILogger logger, int count, int keys);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Information,
        Message = "Billing settled from the upstream's usage log: {Billed} billed (still charged), {NotBilled} not billed (refunded), {StillUnknown} still unknown")]
    private static partial void LogBillingPass(ILogger logger, int billed, int notBilled, int stillUnknown);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Warning,
        Message = "The upstream's usage log could not be read ({Fault}, upstream status {UpstreamStatusCode}): {Count} creates keep billing unknown, and charged, until a later pass reads it")]
    private static partial void LogUsageLogUnreadable(ILogger logger, UpstreamFaultKind fault, int? upstreamStatusCode, int count);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Debug,
        Message = "Usage-log reads are paused until {Until:o} (the log answered 429); {Count} creates keep billing unknown until then")]
    private static partial void LogUsageLogPaused(ILogger logger, DateTimeOffset until, int count);
}
