using System.Collections.Concurrent;
using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Lifecycle;
using KlingGateway.Models;
using KlingGateway.Upstream;
using KlingGateway.Videos;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>A generation and, when the upstream call behind the answer failed, why.</summary>
public readonly record struct GenerationOutcome(Generation? Generation, UpstreamFault? Fault)
{
    public static readonly GenerationOutcome NotFound = new(null, null);
}

/// <summary>
/// Owns each generation: records it before anything is spent, forwards the create once, keeps its status fresh, and
/// records every later change in one place (<see cref="RecordAsync"/>). A generation is refreshed from the upstream at
/// most once per <see cref="GenerationOptions.StatusRefreshInterval"/> in total, whoever asks: a status read, the
/// background worker, or another replica. The claim is one conditional update of the ledger row (a lease that expires
/// with the interval); within a replica, every reader and the worker share one fetch, and its outcome (success or fault)
/// until the next refresh is due.
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
    IOptions<StorageOptions> storageOptions,
    UpstreamPacer pacer,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    GatewayMetrics metrics,
    LifecycleMetrics lifecycleMetrics,
    ILogger<GenerationService> logger,
    ILoggerFactory loggerFactory) : IDisposable
{
    private readonly ILogger auditLogger = loggerFactory.CreateLogger(AuditLog.Category);

    // Generations that will not change again for a while (finished, video settled, not watched late) are answered from
    // memory instead of the ledger. Ownership is still checked on every read. Bounded by count, and by an absolute
    // expiry, so a change another replica records (a late success, a video stored or expired) shows within a minute;
    // this replica's own changes drop the entry at once.
    private const int FinishedCacheEntries = 50_000;
    private static readonly MemoryCacheEntryOptions FinishedEntry = new() { Size = 1, AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1) };
    private readonly MemoryCache _finished = new(new MemoryCacheOptions { SizeLimit = FinishedCacheEntries });

    private const int PruneThreshold = 1024;
    private readonly ConcurrentDictionary<string, RefreshEntry> _refreshes = new(StringComparer.Ordinal);

    // The bound on fetches running at once, shared by reads and the worker.
    private readonly SemaphoreSlim _fetchSlots = new(options.Value.MaxConcurrentRefreshes, options.Value.MaxConcurrentRefreshes);

    /// <summary>The settings a generation's life follows now.</summary>
    public LifecyclePolicy Policy
    {
        get
        {
            var settings = options.Value;
            return new LifecyclePolicy(settings.StatusRefreshInterval, settings.Deadline, settings.LateCheckWindow,
                settings.LateCheckInterval, storageOptions.Value.Enabled);
        }
    }

    /// <summary>Fetch slots free now: how many refreshes the worker may start without waiting.</summary>
    public int FreeFetchSlots => _fetchSlots.CurrentCount;

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

        generation = await RecordAsync(new GenerationChange(kind, generation, ExpectedVersion: null), CancellationToken.None) ?? generation;
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

        var generation = _finished.TryGetValue(id, out Generation? settled) ? settled : await store.FindAsync(id, cancellationToken);
        if (generation is null || !caller.CanSee(generation))
        {
            return GenerationOutcome.NotFound;
        }

        if (settled is null && IsSettled(generation))
        {
            _finished.Set(id, generation, FinishedEntry);
        }

        // Terminal generations are answered from the ledger alone (the worker does their late checks); one without an
        // upstream id is still being created.
        if (generation.Status.IsTerminal() || generation.UpstreamId is null)
        {
            metrics.StatusRead(fromLedger: true);
            return new GenerationOutcome(generation, null);
        }

        var now = time.GetUtcNow();
        if (_refreshes.TryGetValue(id, out var current) && current.IsCurrent(now))
        {
            // A fetch of this generation is running here, or its outcome is this interval's news.
            metrics.StatusRead(fromLedger: false);
            return await current.Completion.Task.WaitAsync(cancellationToken);
        }

        if (generation.NextRefreshAt is not { } next || next > now)
        {
            metrics.StatusRead(fromLedger: true);
            return new GenerationOutcome(generation, null);
        }

        metrics.StatusRead(fromLedger: false);
        return await SharedRefresh(id, claimed: null, RefreshTrigger.Read).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Refreshes a generation the worker has claimed (its lease is already taken), joining a refresh of it running
    /// here; completes when the change is recorded. Never throws for an upstream fault.
    /// </summary>
    public Task<GenerationOutcome> RefreshClaimedAsync(Generation claimed)
    {
        ArgumentNullException.ThrowIfNull(claimed);
        return SharedRefresh(claimed.Id, claimed, RefreshTrigger.Worker);
    }

    /// <summary>
    /// Records one change of a generation: the ledger write (<see cref="IGenerationStore.RecordChangeAsync"/>, where a
    /// row reporting the change belongs in the same transaction), then what follows it in this process: the cache, the
    /// metrics, the log and the audit events. The generation as written, or <see langword="null"/> when someone else
    /// changed it first (its expected version no longer matched).
    /// </summary>
    public async Task<Generation?> RecordAsync(GenerationChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);

        var written = await store.RecordChangeAsync(change, cancellationToken);
        if (written is null)
        {
            return null;
        }

        _finished.Remove(written.Id);
        switch (change.Kind)
        {
            // A late failure of a generation the watchdog already failed was counted and audited then.
            case GenerationChangeKind.Succeeded or GenerationChangeKind.Failed when written.DeadlinePassedAt is null:
                metrics.Finished(written);
                LogFinished(logger, written.Id, written.Model, written.Status.ToApiString(), written.UpstreamStatus);
                AuditLog.Completed(auditLogger, written);
                break;
            case GenerationChangeKind.DeadlineExceeded:
                metrics.Finished(written);
                lifecycleMetrics.WatchdogExpired(written);
                LogDeadlineExceeded(logger, written.Id, written.Model, written.UpstreamStatus);
                AuditLog.DeadlineExceeded(auditLogger, written);
                break;
            case GenerationChangeKind.LateSucceeded:
                LogLateSucceeded(logger, written.Id, written.Model);
                AuditLog.LateSucceeded(auditLogger, written);
                break;
            case GenerationChangeKind.VideoStored:
                lifecycleMetrics.VideoStored();
                break;
            case GenerationChangeKind.VideoRetry or GenerationChangeKind.VideoFailed:
                lifecycleMetrics.DownloadFailed(final: change.Kind == GenerationChangeKind.VideoFailed);
                break;
        }

        return written;
    }

    /// <summary>
    /// The watchdog: fails an unfinished generation past <see cref="GenerationOptions.Deadline"/> that no refresh has
    /// reached (for example while the upstream is down); true when it did.
    /// </summary>
    public async Task<bool> ExpireIfOverdueAsync(Generation generation, CancellationToken cancellationToken)
    {
        if (GenerationTransitions.Overdue(generation, time.GetUtcNow(), Policy) is not { } change)
        {
            return false;
        }

        return await RecordAsync(change, cancellationToken) is not null;
    }

    /// <summary>
    /// Finished, with its video settled, no late checks left and its billing known (one still unknown changes once more,
    /// in <see cref="CreateSettlementWorker"/>): it will not change for a long while.
    /// </summary>
    /// <summary>
    /// The generation as the ledger holds it, from memory when it is settled (the cache above), with no refresh and no
    /// ownership check: for a route that decides itself who may see it (a video's content, read range by range by a
    /// player). Null for an unknown id.
    /// </summary>
    public async Task<Generation?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (_finished.TryGetValue(id, out Generation? settled))
        {
            return settled;
        }

        var generation = await store.FindAsync(id, cancellationToken);
        if (generation is not null && IsSettled(generation))
        {
            _finished.Set(id, generation, FinishedEntry);
        }

        return generation;
    }

    private static bool IsSettled(Generation generation) =>
        generation.Status.IsTerminal() && generation.NextRefreshAt is null && generation.Billing != GenerationBilling.Unknown
        && generation.Kept?.State is null or KeptVideoState.Stored or KeptVideoState.Failed or KeptVideoState.Expired;

    /// <summary>
    /// One refresh per generation at a time in this process, and its outcome (success or fault) reused until the next
    /// refresh is due, so neither many pollers nor a failing upstream multiply upstream fetches.
    /// </summary>
    private Task<GenerationOutcome> SharedRefresh(string id, Generation? claimed, RefreshTrigger trigger)
    {
        while (true)
        {
            if (_refreshes.TryGetValue(id, out var current) && current.IsCurrent(time.GetUtcNow()))
            {
                return current.Completion.Task;
            }

            var entry = new RefreshEntry();
            var won = current is null ? _refreshes.TryAdd(id, entry) : _refreshes.TryUpdate(id, entry, current);
            if (won)
            {
                PruneIfLarge();
                _ = RefreshAsync(id, claimed, trigger, entry);
                return entry.Completion.Task;
            }
        }
    }

    private async Task RefreshAsync(string id, Generation? claimed, RefreshTrigger trigger, RefreshEntry entry)
    {
        var completion = entry.Completion;
        try
        {
            var policy = Policy;
            var now = time.GetUtcNow();
            // One conditional update: of every reader, worker and replica asking in this interval, one fetches.
            var generation = claimed ?? await store.ClaimRefreshAsync(id, now, now + policy.RefreshInterval, CancellationToken.None);
            if (generation is null)
            {
                // Another replica has this interval's fetch, or the generation is no longer due: the ledger has the news.
                _refreshes.TryRemove(new KeyValuePair<string, RefreshEntry>(id, entry));
                completion.SetResult(new GenerationOutcome(await store.FindAsync(id, CancellationToken.None), null));
                return;
            }

            using var activity = GatewayMetrics.StartRefresh(generation);
            UpstreamResult result;
            // Shared by every waiting reader, so no single caller's cancellation may stop it; only the host's stop does.
            await _fetchSlots.WaitAsync(lifetime.ApplicationStopping);
            try
            {
                result = await upstream.FetchAsync(generation.RouteFamily, generation.UpstreamId!,
                    GenerationId.UpstreamFetchRequestId(generation.Id), lifetime.ApplicationStopping);
            }
            finally
            {
                _fetchSlots.Release();
            }

            pacer.Observe(result.Fault);
            now = time.GetUtcNow();
            GenerationChange change;
            if (result.Generation is { } fetched)
            {
                if (!StatusMapper.IsKnown(fetched.Status))
                {
                    LogUnknownStatus(logger, generation.Id, fetched.Status ?? "(none)");
                }

                change = GenerationTransitions.Fetched(generation, fetched, now, policy);
            }
            else
            {
                LogRefreshFailed(logger, generation.Id, result.Fault!.Kind, result.Fault.StatusCode);
                change = GenerationTransitions.FetchFailed(generation, result.Fault, now, policy);
            }

            var written = await RecordAsync(change, CancellationToken.None)
                // Changed meanwhile by someone else (the watchdog on another replica): the ledger's version stands.
                ?? await store.FindAsync(id, CancellationToken.None) ?? change.Generation;
            lifecycleMetrics.Refreshed(trigger == RefreshTrigger.Worker ? "worker" : "read", RefreshOutcome(change, result.Fault));

            if (written.Status.IsTerminal() && !GenerationTransitions.IsLateWatched(written))
            {
                // From now on the ledger answers alone.
                _refreshes.TryRemove(new KeyValuePair<string, RefreshEntry>(id, entry));
            }

            entry.ValidUntil = written.NextRefreshAt ?? now;
            completion.SetResult(new GenerationOutcome(written, result.Fault));
        }
        catch (Exception exception)
        {
            _refreshes.TryRemove(new KeyValuePair<string, RefreshEntry>(id, entry));
            completion.SetException(exception);
        }
    }

    private static string RefreshOutcome(GenerationChange change, UpstreamFault? fault) => change.Kind switch
    {
        GenerationChangeKind.DeadlineExceeded => "deadline_exceeded",
        GenerationChangeKind.LateSucceeded => "late_succeeded",
        _ when fault is not null => LifecycleMetrics.FaultName(fault.Kind),
        GenerationChangeKind.Succeeded or GenerationChangeKind.Failed => "finished",
        GenerationChangeKind.Progressed => "progressed",
        _ => "unchanged",
    };

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

        var now = time.GetUtcNow();
        foreach (var (id, entry) in _refreshes)
        {
            if (!entry.IsCurrent(now))
            {
                _refreshes.TryRemove(new KeyValuePair<string, RefreshEntry>(id, entry));
            }
        }
    }

    private enum RefreshTrigger
    {
        Read,
        Worker,
    }

    /// <summary>A refresh in flight, or finished and reusable until <see cref="ValidUntil"/> (the next refresh's time).</summary>
    private sealed class RefreshEntry
    {
        private long _validUntilTicks = long.MaxValue;

        public TaskCompletionSource<GenerationOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Unbounded while in flight: an in-flight refresh is always shared.</summary>
        public DateTimeOffset ValidUntil
        {
            set => Interlocked.Exchange(ref _validUntilTicks, value.UtcTicks);
        }

        public bool IsCurrent(DateTimeOffset now) => now.UtcTicks < Interlocked.Read(ref _validUntilTicks);
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

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning,
        Message = "Generation {GenerationId} for {Model} ran past Generations:Deadline (upstream {UpstreamStatus}): failed as deadline_exceeded, still checked for a late video")]
    private static partial void LogDeadlineExceeded(ILogger logger, string generationId, string model, string? upstreamStatus);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Information,
        Message = "Generation {GenerationId} for {Model} completed upstream after its deadline: now succeeded, its video is kept")]
    private static partial void LogLateSucceeded(ILogger logger, string generationId, string model);

    public void Dispose()
    {
        _finished.Dispose();
        _fetchSlots.Dispose();
    }
}
