using KlingGateway.Events;
using KlingGateway.Generations;
using KlingGateway.Webhooks;

namespace KlingGateway.Ledger;

/// <summary>
/// The ledger as the rest of the gateway sees it: generations, admissions and idempotency keys, the settlement sweeps,
/// the event log and the webhook outbox, over one database. It only assembles and presents the parts, each with one
/// job: <see cref="GenerationChanges"/>, <see cref="GenerationQueries"/>, <see cref="Admissions"/>,
/// <see cref="IdempotencyKeys"/>, <see cref="CreateSettlementRows"/>, <see cref="EventLogRows"/> and
/// <see cref="WebhookOutboxRows"/>, whose SQL is written once for both databases; what differs is the
/// <see cref="LedgerDatabase"/> (<see cref="SqliteGenerationStore"/>, <see cref="PostgresGenerationStore"/>).
/// </summary>
public abstract class SqlLedgerStore : IGenerationStore, ILedgerAccounting, ILedgerSweeps, IEventLog, IWebhookOutbox
{
    /// <summary>The error of a delivery given up because its target was disabled.</summary>
    public const string DisabledError = WebhookOutboxRows.DisabledError;

    private readonly LedgerDatabase _database;
    private readonly ILogger _logger;
    private readonly GenerationChanges _changes;
    private readonly GenerationQueries _queries;
    private readonly Admissions _admissions;
    private readonly IdempotencyKeys _keys;
    private readonly CreateSettlementRows _settlement;
    private readonly EventLogRows _events;
    private readonly WebhookOutboxRows _outbox;

    private protected SqlLedgerStore(LedgerDatabase database, ILogger logger, ChangeFeed? feed)
    {
        _database = database;
        _logger = logger;
        var recorder = new EventRecorder(database, feed);
        _changes = new GenerationChanges(database, recorder);
        _queries = new GenerationQueries(database);
        _admissions = new Admissions(database, recorder);
        _keys = new IdempotencyKeys(database);
        _settlement = new CreateSettlementRows(database, _changes, recorder);
        _events = new EventLogRows(database);
        _outbox = new WebhookOutboxRows(database, _events, recorder);
    }

    /// <summary>Creates or migrates the schema (<see cref="LedgerMigrator"/>).</summary>
    public Task InitializeAsync(CancellationToken cancellationToken) => LedgerMigrator.MigrateAsync(_database, _logger, cancellationToken);

    public Task<bool> IsReachableAsync(CancellationToken cancellationToken) => LedgerReadiness.IsReachableAsync(_database, _logger, cancellationToken);

    // Generations (IGenerationStore).
    public Task InsertAsync(Generation generation, CancellationToken cancellationToken) => _changes.InsertAsync(generation, cancellationToken);

    public Task UpdateAsync(Generation generation, CancellationToken cancellationToken) => _changes.UpdateAsync(generation, cancellationToken);

    /// <inheritdoc cref="GenerationChanges.RecordChangeAsync"/>
    public Task<Generation?> RecordChangeAsync(GenerationChange change, CancellationToken cancellationToken) =>
        _changes.RecordChangeAsync(change, cancellationToken);

    public Task<Generation?> ClaimRefreshAsync(string id, DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken) =>
        _changes.ClaimRefreshAsync(id, now, leaseUntil, cancellationToken);

    public Task<IReadOnlyList<Generation>> ClaimDueRefreshesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        _changes.ClaimDueRefreshesAsync(now, leaseUntil, limit, cancellationToken);

    public Task<IReadOnlyList<Generation>> ClaimDueDownloadsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        _changes.ClaimDueDownloadsAsync(now, leaseUntil, limit, cancellationToken);

    public Task<string> GetOrAddSecretAsync(string name, string candidate, CancellationToken cancellationToken) =>
        _changes.GetOrAddSecretAsync(name, candidate, cancellationToken);

    public Task<Generation?> FindAsync(string id, CancellationToken cancellationToken) => _queries.FindAsync(id, cancellationToken);

    public Task<GenerationPage> ListAsync(GenerationQuery query, CancellationToken cancellationToken) => _queries.ListAsync(query, cancellationToken);

    public Task<IReadOnlyList<Generation>> FindOverdueAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken) =>
        _queries.FindOverdueAsync(createdBefore, limit, cancellationToken);

    public Task<IReadOnlyList<Generation>> FindRetentionDueAsync(DateTimeOffset completedBefore, int limit, CancellationToken cancellationToken) =>
        _queries.FindRetentionDueAsync(completedBefore, limit, cancellationToken);

    public Task<LedgerStats> StatsAsync(CancellationToken cancellationToken) => _queries.StatsAsync(cancellationToken);

    // Admissions and idempotency keys (ILedgerAccounting).
    public Task<Admission> AdmitAsync(Generation generation, AdmissionLimits limits, string? idempotencyKey, CancellationToken cancellationToken) =>
        _admissions.AdmitAsync(generation, limits, idempotencyKey, cancellationToken);

    public Task<UsageReport> UsageAsync(string client, DateTimeOffset from, DateTimeOffset inFlightSince, CancellationToken cancellationToken) =>
        _admissions.UsageAsync(client, from, inFlightSince, cancellationToken);

    public Task<IdempotencyRecord?> ClaimIdempotencyKeyAsync(IdempotencyClaim claim, CancellationToken cancellationToken) =>
        _keys.ClaimIdempotencyKeyAsync(claim, cancellationToken);

    public Task<IdempotencyRecord?> FindIdempotencyKeyAsync(string client, string key, DateTimeOffset now, CancellationToken cancellationToken) =>
        _keys.FindIdempotencyKeyAsync(client, key, now, cancellationToken);

    public Task CompleteIdempotencyKeyAsync(string client, string key, int statusCode, StoredProblem? problem, CancellationToken cancellationToken) =>
        _keys.CompleteIdempotencyKeyAsync(client, key, statusCode, problem, cancellationToken);

    public Task ReleaseIdempotencyKeyAsync(string client, string key, CancellationToken cancellationToken) =>
        _keys.ReleaseIdempotencyKeyAsync(client, key, cancellationToken);

    public Task<int> DeleteExpiredIdempotencyKeysAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        _keys.DeleteExpiredIdempotencyKeysAsync(now, cancellationToken);

    // The settlement sweeps (ILedgerSweeps).
    public Task<IReadOnlyList<Generation>> FindUnansweredCreatesAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken) =>
        _queries.FindUnansweredCreatesAsync(createdBefore, limit, cancellationToken);

    public Task<bool> SettleInterruptedAsync(string id, GenerationError error, DateTimeOffset now, CancellationToken cancellationToken) =>
        _settlement.SettleInterruptedAsync(id, error, now, cancellationToken);

    public Task<int> CloseInterruptedIdempotencyKeysAsync(StoredProblem answer, DateTimeOffset claimedBefore, CancellationToken cancellationToken) =>
        _keys.CloseInterruptedIdempotencyKeysAsync(answer, claimedBefore, cancellationToken);

    public Task<IReadOnlyList<Generation>> FindUnknownBillingAsync(DateTimeOffset createdSince, int limit, CancellationToken cancellationToken) =>
        _queries.FindUnknownBillingAsync(createdSince, limit, cancellationToken);

    public Task<bool> SettleBillingAsync(string id, GenerationBilling billing, DateTimeOffset now, CancellationToken cancellationToken) =>
        _settlement.SettleBillingAsync(id, billing, now, cancellationToken);

    // The event log (IEventLog).
    public Task<long> LatestSequenceAsync(CancellationToken cancellationToken) => _events.LatestSequenceAsync(cancellationToken);

    public Task<IReadOnlyList<GenerationEvent>> ReadAfterAsync(long afterSequence, int limit, CancellationToken cancellationToken) =>
        _events.ReadAfterAsync(afterSequence, limit, cancellationToken);

    public Task<IReadOnlyList<GenerationEvent>> ReadSequencesAsync(IReadOnlyCollection<long> sequences, CancellationToken cancellationToken) =>
        _events.ReadSequencesAsync(sequences, cancellationToken);

    public Task<IReadOnlyList<GenerationEvent>> ReadOwnedAsync(
        GenerationOwner? owner, long afterSequence, long upToSequence, int limit, CancellationToken cancellationToken) =>
        _events.ReadOwnedAsync(owner, afterSequence, upToSequence, limit, cancellationToken);

    public Task<IReadOnlyList<GenerationEvent>> ReadGenerationAsync(string generationId, long afterVersion, int limit, CancellationToken cancellationToken) =>
        _events.ReadGenerationAsync(generationId, afterVersion, limit, cancellationToken);

    public Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken) =>
        _events.PruneAsync(before, limit, cancellationToken);

    // The webhook outbox (IWebhookOutbox).
    public Task<IReadOnlyList<DueTarget>> FindDueTargetsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        _outbox.FindDueTargetsAsync(now, limit, cancellationToken);

    public Task<IReadOnlyList<WebhookDelivery>> ClaimAsync(
        string client, string target, DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken) =>
        _outbox.ClaimAsync(client, target, now, leaseUntil, limit, cancellationToken);

    public Task<bool> RecordAttemptAsync(WebhookAttempt attempt, CancellationToken cancellationToken) =>
        _outbox.RecordAttemptAsync(attempt, cancellationToken);

    public Task<int> DisableTargetAsync(string client, string target, string url, DateTimeOffset now, CancellationToken cancellationToken) =>
        _outbox.DisableTargetAsync(client, target, url, now, cancellationToken);

    public Task<int> FailTargetAsync(string client, string target, string error, DateTimeOffset now, CancellationToken cancellationToken) =>
        _outbox.FailTargetAsync(client, target, error, now, cancellationToken);

    public Task EnableTargetAsync(string client, string target, CancellationToken cancellationToken) =>
        _outbox.EnableTargetAsync(client, target, cancellationToken);

    public Task<WebhookDeliveryPage> ListDeliveriesAsync(WebhookDeliveryQuery query, CancellationToken cancellationToken) =>
        _outbox.ListDeliveriesAsync(query, cancellationToken);

    public Task<WebhookDelivery?> FindDeliveryAsync(string id, CancellationToken cancellationToken) => _outbox.FindDeliveryAsync(id, cancellationToken);

    public Task<WebhookDelivery?> RedeliverAsync(string id, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        _outbox.RedeliverAsync(id, now, expiresAt, cancellationToken);

    public Task<long> PendingDeliveriesAsync(CancellationToken cancellationToken) => _outbox.PendingDeliveriesAsync(cancellationToken);
}
