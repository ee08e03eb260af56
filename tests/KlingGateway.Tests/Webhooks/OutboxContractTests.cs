using KlingGateway.Events;
using KlingGateway.Generations;
using KlingGateway.Ledger;
using KlingGateway.Tests.Generations;
using KlingGateway.Webhooks;
using static KlingGateway.Tests.Generations.SampleGenerations;

namespace KlingGateway.Tests.Webhooks;

/// <summary>
/// The event log and the webhook outbox in the ledger, against a real SQLite file and a real PostgreSQL server: what a
/// change writes in its transaction, and how deliveries are claimed, ordered, settled, disabled and pruned.
/// </summary>
public static class OutboxContract
{
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>Client alpha's endpoint "main" takes every event; a generation's callback URL every event too.</summary>
    public sealed class Routing : IWebhookRouting
    {
        public TimeSpan RetryFor => TimeSpan.FromHours(1);

        public IReadOnlyList<WebhookRoute> RoutesFor(string client, string eventType, string? callbackUrl) => client != "alpha"
            ? []
            : callbackUrl is null
                ? [WebhookRoute.ForEndpoint("main", "https://hooks.example.com/main")]
                : [WebhookRoute.ForEndpoint("main", "https://hooks.example.com/main"), WebhookRoute.ForCallback(callbackUrl)];
    }

    private const string Main = WebhookRoute.EndpointPrefix + "main";

    private static readonly Dictionary<string, Func<Func<Task<SqlLedgerStore>>, Task>> Cases = new()
    {
        ["Admission_RecordsGenerationQueuedAtVersionZero_WithItsDeliveries"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { OwnerClient = "alpha", WebhookUrl = "https://hooks.example.com/cb/1" };
            await AdmitAsync(store, generation);

            var events = await store.ReadGenerationAsync(generation.Id, -1, 10, None);
            var queued = Assert.Single(events);
            Assert.Equal((0L, GenerationEventTypes.Queued, "alpha"), (queued.Version, queued.Type, queued.OwnerClient));
            Assert.False(queued.IsFinal);
            var deliveries = (await store.ListDeliveriesAsync(new WebhookDeliveryQuery(null, generation.Id, null, 10, null), None)).Items;
            Assert.Equal(["callback:https://hooks.example.com/cb/1", Main], deliveries.Select(d => d.Target).Order(StringComparer.Ordinal));
            Assert.All(deliveries, d => Assert.Equal(queued.Sequence, d.EventSequence));
            // What the log keeps is what the resource is made of, not the upstream's URL or the request.
            Assert.Null(queued.Snapshot.UpstreamId);
            Assert.Equal("", queued.Snapshot.RequestSummary);
        },
        ["AVisibleChange_RecordsOneEventAtItsNewVersion_ACheckNone_AndALostRaceNothing"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { OwnerClient = "alpha" };
            await AdmitAsync(store, generation);
            var processing = await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Progressed,
                generation with { Status = GenerationStatus.Processing, UpstreamStatus = "generating" }, 0), None);
            await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Checked, processing!, processing!.Version), None);
            Assert.Null(await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Failed,
                generation with { Status = GenerationStatus.Failed }, ExpectedVersion: 0), None));
            var succeeded = await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Succeeded,
                processing with { Status = GenerationStatus.Succeeded, CompletedAt = T0 }, processing.Version), None);

            var events = await store.ReadGenerationAsync(generation.Id, -1, 10, None);
            Assert.Equal([GenerationEventTypes.Queued, GenerationEventTypes.Processing, GenerationEventTypes.Succeeded], events.Select(e => e.Type));
            Assert.Equal([0L, 1L, 2L], events.Select(e => e.Version));
            Assert.Equal(succeeded!.Version, events[^1].Version);
            Assert.True(events[^1].IsFinal);
            Assert.Equal(GenerationStatus.Succeeded, events[^1].Snapshot.Status);
            Assert.Equal(events.Select(e => e.Sequence).Order(), events.Select(e => e.Sequence));
            Assert.Equal(events[^1].Sequence, await store.LatestSequenceAsync(None));
            Assert.Equal(events.Skip(1).Select(e => e.Sequence), (await store.ReadAfterAsync(events[0].Sequence, 10, None)).Select(e => e.Sequence));
        },
        ["OwnedEvents_AreTheOwnersOnly_AndEveryonesForNoOwner"] = async open =>
        {
            var store = await open();
            var mine = Minimal(T0) with { OwnerClient = "alpha", OwnerUser = "ana" };
            var theirs = Minimal(T0) with { OwnerClient = "alpha" };
            await AdmitAsync(store, mine);
            await AdmitAsync(store, theirs);
            var high = await store.LatestSequenceAsync(None);

            Assert.Equal([mine.Id], (await store.ReadOwnedAsync(new GenerationOwner("alpha", "ana"), 0, high, 10, None)).Select(e => e.GenerationId));
            Assert.Equal([theirs.Id], (await store.ReadOwnedAsync(new GenerationOwner("alpha", null), 0, high, 10, None)).Select(e => e.GenerationId));
            Assert.Equal(2, (await store.ReadOwnedAsync(null, 0, high, 10, None)).Count);
            Assert.Empty(await store.ReadOwnedAsync(null, 0, high - 2, 10, None));
        },
        ["AClaim_TakesOnlyEachGenerationsEarliestPending_AndNoneTwiceWithinItsLease"] = async open =>
        {
            var store = await open();
            var first = Minimal(T0) with { OwnerClient = "alpha" };
            var second = Minimal(T0) with { OwnerClient = "alpha" };
            await AdmitAsync(store, first);
            await AdmitAsync(store, second);
            await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Started, first with { UpstreamStatus = "queued" }, 0), None);
            var now = DateTimeOffset.UtcNow;

            var claimed = await store.ClaimAsync("alpha", Main, now, now.AddMinutes(1), 10, None);
            Assert.Equal(new[] { first.Id, second.Id }.Order(StringComparer.Ordinal), claimed.Select(d => d.GenerationId).Order(StringComparer.Ordinal));
            Assert.All(claimed, d => Assert.Equal(GenerationEventTypes.Queued, d.EventType));
            Assert.All(claimed, d => Assert.NotNull(d.Event));
            Assert.All(claimed, d => Assert.Equal(1, d.Attempts));
            // Leased: nothing more now; first's second event waits behind its first, which is pending.
            Assert.Empty(await store.ClaimAsync("alpha", Main, now, now.AddMinutes(1), 10, None));
            Assert.Empty(await store.FindDueTargetsAsync(now, 10, None));
            // Once the lease ran out, the same first events, with their attempts counted; the second event still waits.
            var again = await store.ClaimAsync("alpha", Main, now.AddMinutes(2), now.AddMinutes(3), 10, None);
            Assert.Equal(claimed.Select(d => d.Id).Order(StringComparer.Ordinal), again.Select(d => d.Id).Order(StringComparer.Ordinal));
            Assert.All(again, d => Assert.Equal(2, d.Attempts));

            // The first's first event delivered: its second becomes claimable, and a stale claim's record does not hold.
            var firstEvent = again.Single(d => d.GenerationId == first.Id);
            Assert.False(await store.RecordAttemptAsync(new WebhookAttempt(firstEvent.Id, 1, WebhookDeliveryState.Delivered, now, null, 200, null), None));
            Assert.True(await store.RecordAttemptAsync(new WebhookAttempt(firstEvent.Id, 2, WebhookDeliveryState.Delivered, now, null, 200, null), None));
            var next = Assert.Single(await store.ClaimAsync("alpha", Main, now.AddMinutes(2), now.AddMinutes(3), 10, None));
            Assert.Equal((first.Id, 1L), (next.GenerationId, next.Event!.Version));
        },
        ["DueTargets_CountOnlyWhatCouldBeClaimed"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { OwnerClient = "alpha" };
            await AdmitAsync(store, generation);
            await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Started, generation with { UpstreamStatus = "queued" }, 0), None);
            var now = DateTimeOffset.UtcNow;
            var claimed = Assert.Single(await store.ClaimAsync("alpha", Main, now, now.AddSeconds(1), 10, None));
            // The first event retried in an hour: the second is due by its own time, but waits behind the first.
            await store.RecordAttemptAsync(new WebhookAttempt(claimed.Id, 1, WebhookDeliveryState.Pending, now, now.AddHours(1), 500, "HTTP 500"), None);

            Assert.Empty(await store.FindDueTargetsAsync(now.AddMinutes(1), 10, None));
            Assert.Equal(2, await store.PendingDeliveriesAsync(None));
            Assert.Equal(Main, Assert.Single(await store.FindDueTargetsAsync(now.AddHours(2), 10, None)).Target);
        },
        ["ADisabledTarget_GivesUpItsPending_AndARedeliveryEnablesIt"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { OwnerClient = "alpha" };
            await AdmitAsync(store, generation);
            await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Started, generation with { UpstreamStatus = "queued" }, 0), None);
            var now = DateTimeOffset.UtcNow;

            Assert.Equal(2, await store.DisableTargetAsync("alpha", Main, "https://hooks.example.com/main", now, None));
            Assert.Empty(await store.FindDueTargetsAsync(now, 10, None));
            var failed = (await store.ListDeliveriesAsync(new WebhookDeliveryQuery(null, null, WebhookDeliveryState.Failed, 10, null), None)).Items;
            Assert.Equal(2, failed.Count);
            Assert.All(failed, d => Assert.Equal(SqlLedgerStore.DisabledError, d.LastError));

            // A new event finds the target disabled (the worker gives it up); a redelivery enables it again.
            await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Progressed, generation with { Status = GenerationStatus.Processing }, 1), None);
            Assert.Equal("https://hooks.example.com/main", Assert.Single(await store.FindDueTargetsAsync(now.AddSeconds(1), 10, None)).DisabledUrl);
            var redelivered = await store.RedeliverAsync(failed[^1].Id, now, now.AddHours(1), None);
            Assert.Equal(WebhookDeliveryState.Pending, redelivered!.State);
            Assert.Null(Assert.Single(await store.FindDueTargetsAsync(now.AddSeconds(1), 10, None)).DisabledUrl);
        },
        ["Pruning_RemovesOldEventsAndFinishedDeliveries_ButKeepsWhatAPendingDeliveryNeeds"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { OwnerClient = "alpha" };
            var unrouted = Minimal(T0) with { OwnerClient = "beta" };
            await AdmitAsync(store, generation);
            await AdmitAsync(store, unrouted);
            var now = DateTimeOffset.UtcNow;

            Assert.Equal(1, await store.PruneAsync(now.AddMinutes(1), 100, None));
            Assert.Single(await store.ReadGenerationAsync(generation.Id, -1, 10, None));
            Assert.Empty(await store.ReadGenerationAsync(unrouted.Id, -1, 10, None));

            var claimed = Assert.Single(await store.ClaimAsync("alpha", Main, now, now.AddSeconds(1), 10, None));
            await store.RecordAttemptAsync(new WebhookAttempt(claimed.Id, 1, WebhookDeliveryState.Delivered, now, null, 200, null), None);
            Assert.Equal(2, await store.PruneAsync(now.AddMinutes(1), 100, None));
            Assert.Empty(await store.ReadGenerationAsync(generation.Id, -1, 10, None));
            Assert.Null(await store.FindDeliveryAsync(claimed.Id, None));
        },
    };

    private static Task AdmitAsync(SqlLedgerStore store, Generation generation) =>
        store.AdmitAsync(generation, new AdmissionLimits(null, null, null, T0.Date, T0.AddHours(-1)), null, None);

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var name in Cases.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    public static Task RunAsync(string name, Func<Task<SqlLedgerStore>> open) => Cases[name](open);
}

public sealed class SqliteOutboxContractTests : IDisposable
{
    private readonly LedgerFixture _ledger = new();

    public void Dispose() => _ledger.Dispose();

    [Theory]
    [MemberData(nameof(OutboxContract.Names), MemberType = typeof(OutboxContract))]
    public Task Sqlite(string contractCase) => OutboxContract.RunAsync(contractCase, async () =>
        await _ledger.OpenInitializedAsync(feed: new ChangeFeed(new OutboxContract.Routing())));
}

public sealed class PostgresOutboxContractTests : IAsyncLifetime
{
    private readonly PostgresLedgerFixture _ledger = new();

    public Task InitializeAsync() => _ledger.InitializeAsync();

    public Task DisposeAsync() => _ledger.DisposeAsync();

    [PostgresTheory]
    [MemberData(nameof(OutboxContract.Names), MemberType = typeof(OutboxContract))]
    public Task Postgres(string contractCase) => OutboxContract.RunAsync(contractCase, async () =>
        await _ledger.OpenInitializedAsync(new ChangeFeed(new OutboxContract.Routing())));
}
