using System.Security.Cryptography;
using System.Text;
using KlingGateway.Generations;
using KlingGateway.Models;

namespace KlingGateway.Access;

/// <summary>
/// One structured event per create, refusal and completion, under the category <c>KlingGateway.Audit</c>, so an operator
/// can answer "who generated what, and what did it cost": client, user, model, image hashes, outcome, video seconds
/// and price. Images are named by the SHA-256 of their decoded bytes, or of their URL text; never their data. Keys and
/// tokens are never logged.
/// </summary>
public static partial class AuditLog
{
    public const string Category = "KlingGateway.Audit";

    /// <summary>
    /// Image fields as <c>path=sha256:hex</c> (inline data) or <c>path=url-sha256:hex</c> (a URL). A body holds at most
    /// as many as the catalog has image places (a mask list is read only up to the most masks a model takes), so the
    /// event's size is bounded whatever was sent.
    /// </summary>
    public static string ImageHashes(GenerationRequest request) => string.Join(",", request.Images.Select(image =>
        image.Data is { } data ? $"{image.Path}=sha256:{data.Sha256Hex}"
        : image.Url is { } url ? $"{image.Path}=url-sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url)))}"
        : $"{image.Path}=unreadable"));

    public static void Created(ILogger logger, Caller caller, Generation generation, string imageHashes) =>
        LogCreated(logger, caller.Client.Name, caller.User, generation.Model, imageHashes, generation.Id, generation.UpstreamId,
            generation.VideoSeconds, generation.CostUsd, generation.Status == GenerationStatus.Failed ? "create_failed" : "accepted",
            generation.Refunded);

    public static void Refused(ILogger logger, Caller caller, string? model, string imageHashes, string reason, string detail) =>
        LogRefused(logger, caller.Client.Name, caller.User, Bounded(model), imageHashes, reason, detail);

    /// <summary>
    /// A caller's text as an event carries it: a refused body's <c>model</c> can be any string of megabytes, and events
    /// have a bounded size, so past <see cref="MaxCallerText"/> characters it is cut and ends in "…".
    /// </summary>
    internal static string? Bounded(string? text) =>
        text is { Length: > MaxCallerText } ? string.Concat(text.AsSpan(0, MaxCallerText), "…") : text;

    private const int MaxCallerText = 128;

    public static void Replayed(ILogger logger, Caller caller, Generation generation, string imageHashes) =>
        LogReplayed(logger, caller.Client.Name, caller.User, generation.Model, imageHashes, generation.Id);

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

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information,
        Message = "Audit: create by client {AuditClient} user {AuditUser}: {Model} images [{ImageHashes}] -> {GenerationId} " +
                  "(upstream {UpstreamId}), {VideoSeconds} s, {CostUsd} USD, outcome {Outcome} (refunded {Refunded})")]
    private static partial void LogCreated(ILogger logger, string auditClient, string? auditUser, string model, string imageHashes,
        string generationId, string? upstreamId, int videoSeconds, decimal costUsd, string outcome, bool refunded);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information,
        Message = "Audit: create by client {AuditClient} user {AuditUser} refused ({Outcome}): {Model} images [{ImageHashes}]: {Detail}")]
    private static partial void LogRefused(ILogger logger, string auditClient, string? auditUser, string? model, string imageHashes,
        string outcome, string detail);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information,
        Message = "Audit: create by client {AuditClient} user {AuditUser} replayed from its Idempotency-Key: {Model} images [{ImageHashes}] -> {GenerationId}")]
    private static partial void LogReplayed(ILogger logger, string auditClient, string? auditUser, string model, string imageHashes, string generationId);

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
