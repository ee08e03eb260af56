using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Models;

namespace KlingGateway.Creates;

/// <summary>
/// A create's one audit event, under the category <see cref="AuditLog.Category"/>: created (or failed upstream), refused
/// (by a limit, a key, a callback or validation) or replayed from its <c>Idempotency-Key</c>. Scoped: it remembers that
/// this request's event was written (<see cref="Written"/>), so <see cref="CreateAuditFilter"/> writes the refusal of a
/// body that never reached <see cref="CreateFlow"/>, and no create is audited twice. Client, user, model and image hashes,
/// never image data, keys or tokens.
/// </summary>
public sealed partial class CreateAudit(ILoggerFactory loggerFactory)
{
    private const int MaxCallerText = 128;

    private readonly ILogger _audit = loggerFactory.CreateLogger(AuditLog.Category);

    /// <summary>Whether this request's create event has been written.</summary>
    public bool Written { get; private set; }

    /// <summary>
    /// Image fields as <c>path=sha256:hex</c> (inline data) or <c>path=url-sha256:hex</c> (a URL). A body holds at most
    /// as many as the catalog has image places (a mask list is read only up to the most masks a model takes), so the
    /// event's size is bounded whatever was sent.
    /// </summary>
    public static string ImageHashes(GenerationRequest request) => string.Join(",", request.Images.Select(image =>
        image.Data is { } data ? $"{image.Path}=sha256:{data.Sha256Hex}"
        : image.Url is { } url ? $"{image.Path}=url-sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url)))}"
        : $"{image.Path}=unreadable"));

    public void Created(Caller caller, Generation generation, string imageHashes)
    {
        Written = true;
        LogCreated(_audit, caller.Client.Name, caller.User, generation.Model, imageHashes, generation.Id, generation.UpstreamId,
            generation.VideoSeconds, generation.CostUsd, generation.Status == GenerationStatus.Failed ? "create_failed" : "accepted",
            generation.Refunded);
    }

    public void Refused(Caller caller, string? model, string imageHashes, string reason, string detail)
    {
        Written = true;
        LogRefused(_audit, caller.Client.Name, caller.User, Bounded(model), imageHashes, reason, detail);
    }

    /// <summary>A body refused before the create ran (400, 408, 413, 415, 503 busy): its status and the rejection's kind.</summary>
    public void RefusedByValidation(Caller caller, GenerationRequest request, int status) =>
        Refused(caller, request.ModelId, request.Rejection == RequestRejection.None ? ImageHashes(request) : "", "validation",
            string.Create(CultureInfo.InvariantCulture, $"{status} {request.Rejection}"));

    public void Replayed(Caller caller, Generation generation, string imageHashes)
    {
        Written = true;
        LogReplayed(_audit, caller.Client.Name, caller.User, generation.Model, imageHashes, generation.Id);
    }

    /// <summary>
    /// A caller's text as an event carries it: a refused body's <c>model</c> can be any string of megabytes, and events
    /// have a bounded size, so past <see cref="MaxCallerText"/> characters it is cut and ends in "…".
    /// </summary>
    internal static string? Bounded(string? text) =>
        text is { Length: > MaxCallerText } ? string.Concat(text.AsSpan(0, MaxCallerText), "…") : text;

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
}

/// <summary>
/// Writes the audit event of a create refused before <see cref="CreateFlow"/> ran (by <see cref="ValidationFilter"/>,
/// which it wraps): it sees the refusal's status and learns from <see cref="CreateAudit.Written"/> whether the create's
/// own event was written already.
/// </summary>
public sealed class CreateAuditFilter(CreateAudit audit, CurrentCaller caller) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var result = await next(context);
        if (!audit.Written
            && result is IStatusCodeHttpResult { StatusCode: >= 400 and int status }
            && context.Arguments.OfType<GenerationRequest>().FirstOrDefault() is { } request)
        {
            audit.RefusedByValidation(caller.Caller, request, status);
        }

        return result;
    }
}
