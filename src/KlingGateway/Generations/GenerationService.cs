using System.Collections.Concurrent;
using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Lifecycle;
using KlingGateway.Upstream;
using KlingGateway.Videos;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>A generation and, when the upstream call behind the answer failed, why.</summary>
public readonly record struct GenerationOutcome(Generation? Generation, UpstreamFault? Fault)
{
    public static readonly GenerationOutcome NotFound = new(null, null);
}

/// <summary>
/// Keeps each generation's status fresh: a status read, the background worker and the watchdog come here, and every
/// change they make is written by <see cref="GenerationRecorder"/> (a create's first steps are <c>Creates/</c>). A
/// generation is refreshed from the upstream at most once per <see cref="GenerationOptions.StatusRefreshInterval"/> in
/// total, whoever asks: a status read, the
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
    GenerationRecorder recorder,
    SettledGenerations settledGenerations,
    AimlApiClient upstream,
    IOptions<GenerationOptions> options,
    IOptions<StorageOptions> storageOptions,
    UpstreamPacer pacer,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    GatewayMetrics metrics,
    LifecycleMetrics lifecycleMetrics,
    ILogger<GenerationService> logger) : IDisposable
{
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

        var generation = await FindAsync(id, cancellationToken);
        if (generation is null || !caller.CanSee(generation))
        {
            return GenerationOutcome.NotFound;
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
    /// The watchdog: fails an unfinished generation past <see cref="GenerationOptions.Deadline"/> that no refresh has
    /// reached (for example while the upstream is down); true when it did.
    /// </summary>
    public async Task<bool> ExpireIfOverdueAsync(Generation generation, CancellationToken cancellationToken)
    {
        if (GenerationTransitions.Overdue(generation, time.GetUtcNow(), Policy) is not { } change)
        {
            return false;
        }

        return await recorder.RecordAsync(change, cancellationToken) is not null;
    }

    /// <summary>
    /// The generation as the ledger holds it, from memory when it is settled (<see cref="SettledGenerations"/>), with no
    /// refresh and no ownership check: for a route that decides itself who may see it (a video's content, read range by
    /// range by a player). Null for an unknown id.
    /// </summary>
    public async Task<Generation?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (settledGenerations.Find(id) is { } settled)
        {
            return settled;
        }

        var generation = await store.FindAsync(id, cancellationToken);
        if (generation is not null)
        {
            settledGenerations.KeepIfSettled(generation);
        }

        return generation;
    }

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

            var written = await recorder.RecordAsync(change, CancellationToken.None)
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

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning,
        Message = "Status refresh of generation {GenerationId} failed: upstream fault {Fault} (upstream status {UpstreamStatusCode})")]
    private static partial void LogRefreshFailed(ILogger logger, string generationId, UpstreamFaultKind fault, int? upstreamStatusCode);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning,
        Message = "Generation {GenerationId}: the upstream sent the unknown status {UpstreamStatus}; treated as failed")]
    private static partial void LogUnknownStatus(ILogger logger, string generationId, string upstreamStatus);

    public void Dispose() => _fetchSlots.Dispose();
}
