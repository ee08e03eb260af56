using KlingGateway.Generations;

namespace KlingGateway.Access;

/// <summary>
/// One structured event per completion, settlement and rate refusal (a create's own events, created, refused and
/// replayed, are <c>Creates/CreateAudit.cs</c>), under the category <c>KlingGateway.Audit</c>, so an operator
/// can answer "who generated what, and what did it cost": client, user, model, image hashes, outcome, video seconds
/// and price. Images are named by the SHA-256 of their decoded bytes, or of their URL text; never their data. Keys and
/// tokens are never logged.
/// </summary>
public static partial class AuditLog
{
    public const string Category = "KlingGateway.Audit";

    public static void Completed(ILogger logger, Generation generation) =>
        LogCompleted(logger, generation.OwnerClient, generation.OwnerUser, generation.Model, generation.Id,
            generation.Status.ToApiString(), generation.VideoSeconds, generation.CostUsd);

    /// <summary>What the upstream's usage log said about a create whose outcome the gateway never learned from its answer.</summary>
    public static void BillingSettled(ILogger logger, Generation generation, GenerationBilling billing, string? inferenceId) =>
        LogBillingSettled(logger, generation.OwnerClient, generation.OwnerUser, generation.Model, generation.Id,
            generation.Error?.Code, billing.ToApiString(), generation.VideoSeconds, generation.CostUsd,
            billing == GenerationBilling.NotBilled, inferenceId);

    /// <summary>The watchdog failed a generation that ran past its deadline; it is not refunded (it may have been billed).</summary>
    public static void DeadlineExceeded(ILogger logger, Generation generation) =>
        LogDeadlineExceeded(logger, generation.OwnerClient, generation.OwnerUser, generation.Model, generation.Id,
            generation.VideoSeconds, generation.CostUsd);

    /// <summary>A generation failed by the watchdog completed upstream after all; its video is kept.</summary>
    public static void LateSucceeded(ILogger logger, Generation generation) =>
        LogLateSucceeded(logger, generation.OwnerClient, generation.OwnerUser, generation.Model, generation.Id);

    /// <summary>A create or read refused by the per-client request rate (the body is not read, so no model).</summary>
    public static void RateLimited(HttpContext context, string client, int requestsPerMinute)
    {
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
        LogRateLimited(logger, client, context.Request.Method, context.Request.Path.Value, requestsPerMinute);
    }

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information,
        Message = "Audit: generation {GenerationId} of client {AuditClient} user {AuditUser} ({Model}) finished {Outcome}, {VideoSeconds} s, {CostUsd} USD")]
    private static partial void LogCompleted(ILogger logger, string auditClient, string? auditUser, string model, string generationId,
        string outcome, int videoSeconds, decimal costUsd);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Information,
        Message = "Audit: billing of generation {GenerationId} of client {AuditClient} user {AuditUser} ({Model}, {ErrorCode}) " +
                  "settled {Outcome} by the upstream's usage log, {VideoSeconds} s, {CostUsd} USD (refunded {Refunded}, upstream inference {InferenceId})")]
    private static partial void LogBillingSettled(ILogger logger, string auditClient, string? auditUser, string model, string generationId,
        string? errorCode, string outcome, int videoSeconds, decimal costUsd, bool refunded, string? inferenceId);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning,
        Message = "Audit: generation {GenerationId} of client {AuditClient} user {AuditUser} ({Model}) ran past its deadline: " +
                  "failed as deadline_exceeded, not refunded, {VideoSeconds} s, {CostUsd} USD")]
    private static partial void LogDeadlineExceeded(ILogger logger, string auditClient, string? auditUser, string model, string generationId,
        int videoSeconds, decimal costUsd);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Information,
        Message = "Audit: generation {GenerationId} of client {AuditClient} user {AuditUser} ({Model}) succeeded after its deadline; its video is kept")]
    private static partial void LogLateSucceeded(ILogger logger, string auditClient, string? auditUser, string model, string generationId);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Information,
        Message = "Audit: client {AuditClient} refused (rate_limited) on {RequestMethod} {RequestPath}: over {RequestsPerMinute} requests per minute")]
    private static partial void LogRateLimited(ILogger logger, string auditClient, string requestMethod, string? requestPath, int requestsPerMinute);
}
