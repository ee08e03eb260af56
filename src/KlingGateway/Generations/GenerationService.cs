using System.Collections.Concurrent;
using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>A generation and, when the upstream call behind the answer failed, why.</summary>
public readonly record struct GenerationOutcome(Generation? Generation, UpstreamFault? Fault)
{
    public static readonly GenerationOutcome NotFound = new(null, null);
}

/// <summary>
/// Owns each generation: records it before anything is spent, forwards the create once, and keeps its status
/// fresh. Status reads refresh from the upstream only while the generation is not terminal and the last refresh
/// is older than <see cref="GenerationOptions.StatusRefreshInterval"/>; concurrent reads share one fetch.
/// </summary>
/// <remarks>
/// A singleton, so it holds the typed client for the app's life; the client's handler lives as long
/// (AddUpstream) and relies on PooledConnectionLifetime for DNS changes.
/// </remarks>
public sealed partial class GenerationService(
    IGenerationStore store,
    AimlApiClient upstream,
    IOptions<AimlApiOptions> upstreamOptions,
    IOptions<GenerationOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    GatewayMetrics metrics,
    ILogger<GenerationService> logger,
    ILoggerFactory loggerFactory) : IDisposable
{
    private readonly ILogger auditLogger = loggerFactory.CreateLogger(AuditLog.Category);

    // Finished generations never change again, so recent ones are answered from memory instead of the ledger (safe on
    // every replica of a shared ledger). Ownership is still checked on every read. Bounded by count, with a sliding expiry.
    private const int FinishedCacheEntries = 50_000;
    private static readonly MemoryCacheEntryOptions FinishedEntry = new() { Size = 1, SlidingExpiration = TimeSpan.FromMinutes(10) };
    private readonly MemoryCache _finished = new(new MemoryCacheOptions { SizeLimit = FinishedCacheEntries });

    private const int PruneThreshold = 1024;
    private readonly ConcurrentDictionary<string, RefreshEntry> _refreshes = new(StringComparer.Ordinal);

    // The creates this process is running, from before their admission until the upstream's answer is recorded.
    private readonly ConcurrentDictionary<string, byte> _creating = new(StringComparer.Ordinal);

    /// <summary>
    /// Marks a create as running in this process until the returned scope is disposed: from before its admission (which
    /// may wait for a lock) until its upstream answer is recorded. <see cref="CreateSettlementWorker"/> never settles such
    /// a create as interrupted, however long it takes; another replica's creates are protected by
    /// <see cref="GenerationOptions.InterruptedAfter"/> alone.
    /// </summary>
    public IDisposable TrackCreate(string id)
    {
        _creating[id] = 0;
        return new CreateScope(_creating, id);
    }

    /// <summary>Whether this process is running the create of <paramref name="id"/> (<see cref="TrackCreate"/>).</summary>
    public bool IsCreating(string id) => _creating.ContainsKey(id);

    private sealed class CreateScope(ConcurrentDictionary<string, byte> creating, string id) : IDisposable
    {
        public void Dispose() => creating.TryRemove(id, out _);
    }

    /// <summary>The record a create starts from: queued, owned by <paramref name="owner"/>, priced per video second.</summary>
    public Generation NewGeneration(GenerationRequest request, string clientRequestId, GenerationOwner owner, decimal pricePerSecond)
    {
        var model = request.Model ?? throw new InvalidOperationException("A validated request names a known model.");
        var now = time.GetUtcNow();
        // The catalog's default duration (5) when the body leaves it out, as the upstream does.
        var seconds = request.Duration ?? 5;
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

        if (result.Generation is { } created)
        {
            var known = StatusMapper.IsKnown(created.Status);
            generation = generation with
            {
                UpstreamId = created.Id,
                // A create answer with a word the gateway does not know still started a generation: it stays queued
                // and the next status read settles it.
                UpstreamStatus = created.Status,
                Status = known ? StatusMapper.Map(created.Status) : GenerationStatus.Queued,
                RefreshedAt = now,
                UpdatedAt = now,
            };
            LogCreated(logger, generation.Id, model.Id, family, created.Id);
        }
        else
        {
            var fault = result.Fault!;
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

        await store.UpdateAsync(generation, CancellationToken.None);
        metrics.Created(activity, generation, result.Fault);
        return new GenerationOutcome(generation, result.Fault);
    }

    /// <summary>
    /// The generation, refreshed from the upstream when it is due; <see cref="GenerationOutcome.NotFound"/> when
    /// <paramref name="caller"/> may not see it, exactly as for an unknown id, and before any upstream call.
    /// </summary>
    public async Task<GenerationOutcome> GetAsync(string id, Caller caller, CancellationToken cancellationToken)
    {
        if (!GenerationId.IsWellFormed(id))
        {
            return GenerationOutcome.NotFound;
        }

        var generation = _finished.TryGetValue(id, out Generation? finished) ? finished : await store.FindAsync(id, cancellationToken);
        if (generation is null || !caller.CanSee(generation))
        {
            return GenerationOutcome.NotFound;
        }

        // A generation whose billing is still unknown changes once more (CreateSettlementWorker), so it is not kept.
        if (finished is null && generation.Status.IsTerminal() && generation.Billing != GenerationBilling.Unknown)
        {
            _finished.Set(id, generation, FinishedEntry);
        }

        // Terminal generations are answered from the ledger alone; one without an upstream id is still being created.
        if (generation.Status.IsTerminal() || generation.UpstreamId is null || !IsDue(generation.RefreshedAt))
        {
            metrics.StatusRead(fromLedger: true);
            return new GenerationOutcome(generation, null);
        }

        metrics.StatusRead(fromLedger: false);
        return await SharedRefresh(generation).WaitAsync(cancellationToken);
    }

    private bool IsDue(DateTimeOffset? lastRefresh) =>
        lastRefresh is not { } at || time.GetUtcNow() - at >= options.Value.StatusRefreshInterval;

    /// <summary>An entry is reusable while in flight or freshly finished.</summary>
    private bool IsDue(RefreshEntry entry) => entry.CompletedAt is { } at && IsDue(at);

    /// <summary>
    /// One refresh per generation at a time, and its outcome (success or fault) reused until the interval has
    /// passed, so neither many pollers nor a failing upstream multiply upstream fetches.
    /// </summary>
    private Task<GenerationOutcome> SharedRefresh(Generation generation)
    {
        while (true)
        {
            if (_refreshes.TryGetValue(generation.Id, out var current) && !IsDue(current))
            {
                return current.Completion.Task;
            }

            var entry = new RefreshEntry();
            var won = current is null ? _refreshes.TryAdd(generation.Id, entry) : _refreshes.TryUpdate(generation.Id, entry, current);
            if (won)
            {
                PruneIfLarge();
                _ = RefreshAsync(generation, entry);
                return entry.Completion.Task;
            }
        }
    }

    private async Task RefreshAsync(Generation generation, RefreshEntry entry)
    {
        var completion = entry.Completion;
        using var activity = GatewayMetrics.StartRefresh(generation);
        try
        {
            // Shared by every waiting reader, so no single caller's cancellation may stop it.
            var result = await upstream.FetchAsync(generation.RouteFamily, generation.UpstreamId!, GenerationId.UpstreamFetchRequestId(generation.Id), lifetime.ApplicationStopping);
            if (result.Generation is not { } fetched)
            {
                LogRefreshFailed(logger, generation.Id, result.Fault!.Kind, result.Fault.StatusCode);
                entry.CompletedAt = time.GetUtcNow();
                completion.SetResult(new GenerationOutcome(generation, result.Fault));
                return;
            }

            var updated = Apply(generation, fetched, time.GetUtcNow());
            await store.UpdateAsync(updated, CancellationToken.None);
            if (updated.Status.IsTerminal())
            {
                // From now on the ledger answers alone.
                _refreshes.TryRemove(generation.Id, out _);
                _finished.Set(updated.Id, updated, FinishedEntry);
                metrics.Finished(updated);
                LogFinished(logger, updated.Id, updated.Model, updated.Status.ToApiString(), updated.UpstreamStatus);
                AuditLog.Completed(auditLogger, updated);
            }

            entry.CompletedAt = updated.RefreshedAt;
            completion.SetResult(new GenerationOutcome(updated, null));
        }
        catch (Exception exception)
        {
            _refreshes.TryRemove(generation.Id, out _);
            completion.SetException(exception);
        }
    }

    private Generation Apply(Generation generation, UpstreamGeneration fetched, DateTimeOffset now)
    {
        var known = StatusMapper.IsKnown(fetched.Status);
        var status = StatusMapper.Map(fetched.Status);
        if (!known)
        {
            LogUnknownStatus(logger, generation.Id, fetched.Status ?? "(none)");
        }

        GenerationError? error = status != GenerationStatus.Failed ? null : known
            ? new GenerationError(GenerationErrorCodes.GenerationFailed,
                fetched.ErrorMessage ?? fetched.ErrorName ?? "The upstream reported that the generation failed.")
            : new GenerationError(GenerationErrorCodes.UnknownStatus,
                $"The upstream reported the status '{fetched.Status}', which the gateway does not know; it is treated as a failure." +
                (fetched.ErrorMessage is { } detail ? $" Upstream message: {detail}" : ""));

        var changed = status != generation.Status || fetched.Status != generation.UpstreamStatus;
        return generation with
        {
            Status = status,
            UpstreamStatus = fetched.Status,
            Video = fetched.Video is { } v ? new GenerationVideo(v.Url, v.ContentType, v.FileName, v.FileSize) : generation.Video,
            Error = error,
            Usage = fetched.CreditsUsed is not null || fetched.TokensUsed is not null
                ? new GenerationUsage(fetched.CreditsUsed, fetched.TokensUsed)
                : generation.Usage,
            RefreshedAt = now,
            UpdatedAt = changed ? now : generation.UpdatedAt,
            CompletedAt = status.IsTerminal() ? generation.CompletedAt ?? now : null,
        };
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
            UpstreamFaults.Describe(fault).Detail),
        _ => new(GenerationErrorCodes.UpstreamUnavailable, UpstreamFaults.Describe(fault).Detail),
    };

    private void PruneIfLarge()
    {
        if (_refreshes.Count < PruneThreshold)
        {
            return;
        }

        foreach (var (id, entry) in _refreshes)
        {
            if (IsDue(entry))
            {
                _refreshes.TryRemove(new KeyValuePair<string, RefreshEntry>(id, entry));
            }
        }
    }

    /// <summary>A refresh in flight, or finished at <see cref="CompletedAt"/> and reusable until the interval has passed.</summary>
    private sealed class RefreshEntry
    {
        public TaskCompletionSource<GenerationOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Null while in flight; an in-flight refresh is always shared.</summary>
        public DateTimeOffset? CompletedAt { get; set; }
    }

    // Debug: the create's audit event (7001) carries the same ids at Information, so a create writes two lines, not three.
    [LoggerMessage(EventId = 4001, Level = LogLevel.Debug,
        Message = "Generation {GenerationId} created for {Model} on the {RouteFamily} route as upstream {UpstreamId}")]
    private static partial void LogCreated(ILogger logger, string generationId, string model, string routeFamily, string upstreamId);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "Generation {GenerationId} for {Model} was not started: upstream fault {Fault} (upstream status {UpstreamStatusCode})")]
    private static partial void LogCreateFailed(ILogger logger, string generationId, string model, UpstreamFaultKind fault, int? upstreamStatusCode);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning,
        Message = "Status refresh of generation {GenerationId} failed: upstream fault {Fault} (upstream status {UpstreamStatusCode})")]
    private static partial void LogRefreshFailed(ILogger logger, string generationId, UpstreamFaultKind fault, int? upstreamStatusCode);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning,
        Message = "Generation {GenerationId}: the upstream sent the unknown status {UpstreamStatus}; treated as failed")]
    private static partial void LogUnknownStatus(ILogger logger, string generationId, string upstreamStatus);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information,
        Message = "Generation {GenerationId} for {Model} finished {Status} (upstream {UpstreamStatus})")]
    private static partial void LogFinished(ILogger logger, string generationId, string model, string status, string? upstreamStatus);

    public void Dispose() => _finished.Dispose();
}
