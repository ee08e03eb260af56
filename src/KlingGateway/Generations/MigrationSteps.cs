namespace KlingGateway.Generations;

/// <summary>
/// Schema steps written once for both databases, where SQLite and PostgreSQL read the same SQL alike. Each is listed at
/// the end of both stores' migration lists; like every shipped step, it is never edited, only followed by new ones.
/// </summary>
internal static class MigrationSteps
{
    /// <summary>
    /// Settling creates the gateway never heard back about, and replaying an idempotent answer as it was given.
    /// <list type="bullet">
    /// <item><c>upstream_request_id</c>: the <c>X-Client-Request-Id</c> the create was sent with, one per generation, so
    /// the upstream's usage log can tell whether that create was billed (docs/upstream.md, "Usage log").</item>
    /// <item><c>billing</c>: <c>unknown</c>, <c>billed</c> or <c>not_billed</c>, only where the create's answer never
    /// said (a timeout, an unreadable answer, a gateway that stopped before the answer); null elsewhere. Earlier
    /// timeouts and unreadable answers become <c>unknown</c>: they were sent without an id of their own, so they stay
    /// so, and charged.</item>
    /// <item>Partial indexes for what <see cref="CreateSettlementWorker"/> looks for: creates with no upstream answer,
    /// bills still unknown, idempotency keys still open.</item>
    /// <item><c>idempotency_keys.problem</c>: the problem answered (detail, upstream status), replayed as it was.</item>
    /// <item>Keys that stored an upstream refusal are dropped: a refusal started nothing, and a retry with its key must
    /// run afresh rather than get the old refusal back (https://docs.stripe.com/api/idempotent_requests).</item>
    /// </list>
    /// </summary>
    public const string SettlementAndReplay = """
        ALTER TABLE generations ADD COLUMN upstream_request_id TEXT;
        ALTER TABLE generations ADD COLUMN billing TEXT CHECK (billing IN ('unknown', 'billed', 'not_billed'));
        UPDATE generations SET billing = 'unknown'
        WHERE status = 'failed' AND upstream_id IS NULL AND refunded = 0
          AND error_code IN ('upstream_timeout', 'upstream_bad_response');
        CREATE INDEX ix_generations_unanswered ON generations (created_at) WHERE status = 'queued' AND upstream_id IS NULL;
        CREATE INDEX ix_generations_billing_unknown ON generations (created_at) WHERE billing = 'unknown';
        ALTER TABLE idempotency_keys ADD COLUMN problem TEXT;
        CREATE INDEX ix_idempotency_keys_open ON idempotency_keys (created_at) WHERE status_code IS NULL;
        DELETE FROM idempotency_keys
        WHERE problem_code IS NOT NULL AND generation_id IN (SELECT id FROM generations WHERE refunded = 1);
        """;
}
