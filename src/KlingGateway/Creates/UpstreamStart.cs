using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using Microsoft.Extensions.Options;

namespace KlingGateway.Creates;

/// <summary>
/// The create's own steps on the generation: the record it starts from (<see cref="NewGeneration"/>), and the one
/// forward to the upstream with what it answered recorded (<see cref="StartAsync"/>).
/// </summary>
/// <remarks>
/// A singleton, so it holds the typed client for the app's life; the client's handler lives as long
/// (AddUpstream) and relies on PooledConnectionLifetime for DNS changes.
/// </remarks>
public sealed partial class UpstreamStart(
    AimlApiClient upstream,
    GenerationRecorder recorder,
    IOptions<AimlApiOptions> upstreamOptions,
    IOptions<GenerationOptions> options,
    TimeProvider time,
    GatewayMetrics metrics,
    ILogger<UpstreamStart> logger)
{
    /// <summary>The record a create starts from: queued, owned by <paramref name="owner"/>, priced per video second.</summary>
    public Generation NewGeneration(GenerationRequest request, string clientRequestId, GenerationOwner owner, decimal pricePerSecond)
    {
        var model = request.Model ?? throw new InvalidOperationException("A validated request names a known model.");
        var now = time.GetUtcNow();
        // The model's default duration when the body leaves it out, as the upstream does.
        var seconds = request.Duration ?? model.DefaultDuration;
        var id = GenerationId.New();
        return new Generation
        {
            Id = id,
            Model = model.Id,
            RouteFamily = upstreamOptions.Value.RouteFamilyFor(model.Key),
            Status = GenerationStatus.Queued,
            Warnings = request.Warnings,
            ClientRequestId = clientRequestId,
            UpstreamRequestId = GenerationId.UpstreamRequestId(id),
            ExternalTaskId = request.ExternalTaskId,
            RequestSummary = request.Summary(),
            CreatedAt = now,
            UpdatedAt = now,
            OwnerClient = owner.Client,
            OwnerUser = owner.User,
            VideoSeconds = seconds,
            CostUsd = seconds * pricePerSecond,
        };
    }

    /// <summary>
    /// Forwards a generation already in the ledger (admitted against its owner's limits) once, and records what the
    /// upstream said. A create the upstream refused outright started nothing, so it is marked refunded and stops
    /// counting against the owner's budget; one that may have started (<see cref="UpstreamFault.MayHaveStarted"/>) keeps
    /// counting, with its billing unknown until <see cref="CreateSettlementWorker"/> reads the upstream's usage log.
    /// The create carries the generation's own <see cref="Generation.UpstreamRequestId"/>, never the caller's id, so
    /// that log can tell this create from every other.
    /// </summary>
    public async Task<GenerationOutcome> StartAsync(Generation generation, GenerationRequest request)
    {
        var family = generation.RouteFamily;
        var model = request.Model ?? throw new InvalidOperationException("A validated request names a known model.");
        var upstreamRequestId = generation.UpstreamRequestId ?? GenerationId.UpstreamRequestId(generation.Id);
        using var activity = GatewayMetrics.StartCreate(generation);

        // The record is in the ledger and the upstream may now start paid work. The caller going away must not cancel
        // the call or leave the record without its upstream id, so only the create timeout bounds it.
        var result = await upstream.CreateAsync(family, new ForwardedBody(request, family), upstreamRequestId, CancellationToken.None);
        var now = time.GetUtcNow();
        GenerationChangeKind kind;

        if (result.Generation is { } created)
        {
            var known = StatusMapper.IsKnown(created.Status);
            kind = GenerationChangeKind.Started;
            generation = generation with
            {
                UpstreamId = created.Id,
                // A create answer with a word the gateway does not know still started a generation: it stays queued
                // and the next status read settles it.
                UpstreamStatus = created.Status,
                Status = known ? StatusMapper.Map(created.Status) : GenerationStatus.Queued,
                RefreshedAt = now,
                UpdatedAt = now,
                // The create's answer is this interval's news: the worker (or a read) asks next one interval on.
                NextRefreshAt = now + options.Value.StatusRefreshInterval,
            };
            LogCreated(logger, generation.Id, model.Id, family, created.Id);
        }
        else
        {
            var fault = result.Fault!;
            kind = GenerationChangeKind.CreateFailed;
            generation = generation with
            {
                Status = GenerationStatus.Failed,
                Error = CreateError(fault),
                UpdatedAt = now,
                CompletedAt = now,
                Refunded = !fault.MayHaveStarted,
                Billing = fault.MayHaveStarted ? GenerationBilling.Unknown : null,
            };
            LogCreateFailed(logger, generation.Id, model.Id, fault.Kind, fault.StatusCode);
        }

        generation = await recorder.RecordAsync(new GenerationChange(kind, generation, ExpectedVersion: null), CancellationToken.None) ?? generation;
        metrics.Created(activity, generation, result.Fault);
        return new GenerationOutcome(generation, result.Fault);
    }

    private static GenerationError CreateError(UpstreamFault fault) => fault.Kind switch
    {
        UpstreamFaultKind.Timeout or UpstreamFaultKind.GatewayTimeout => new(GenerationErrorCodes.UpstreamTimeout,
            "The upstream did not answer the create in time; it may or may not have started the generation."),
        UpstreamFaultKind.BadResponse => new(GenerationErrorCodes.UpstreamBadResponse,
            "The upstream's answer to the create could not be read; it may have started the generation."),
        UpstreamFaultKind.ServerError when fault.MayHaveStarted => new(GenerationErrorCodes.UpstreamUnavailable,
            "The connection to the upstream broke after the create was sent; it may have started the generation."),
        UpstreamFaultKind.BadRequest or UpstreamFaultKind.KeyRejected or UpstreamFaultKind.OutOfCredits
            or UpstreamFaultKind.NotFound or UpstreamFaultKind.RateLimited => new(GenerationErrorCodes.UpstreamRejected,
            UpstreamFaultMapper.Describe(fault).Detail),
        _ => new(GenerationErrorCodes.UpstreamUnavailable, UpstreamFaultMapper.Describe(fault).Detail),
    };
    // Debug: the create's audit event (7001) carries the same ids at Information, so a create writes two lines, not three.
    [LoggerMessage(EventId = 4001, Level = LogLevel.Debug,
        Message = "Generation {GenerationId} created for {Model} on the {RouteFamily} route as upstream {UpstreamId}")]
    private static partial void LogCreated(ILogger logger, string generationId, string model, string routeFamily, string upstreamId);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "Generation {GenerationId} for {Model} was not started: upstream fault {Fault} (upstream status {UpstreamStatusCode})")]
    private static partial void LogCreateFailed(ILogger logger, string generationId, string model, UpstreamFaultKind fault, int? upstreamStatusCode);
}
