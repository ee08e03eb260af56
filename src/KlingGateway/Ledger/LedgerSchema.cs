namespace KlingGateway.Ledger;

/// <summary>
/// The ledger's schema, written once for both databases in SQLite's spelling, with the few types that differ
/// (<see cref="LedgerTypes"/>) filled in per database. SQLite takes the steps one version each; PostgreSQL, which came
/// later, took the first two as its version 1. Like every shipped step, a step is never edited, only followed by new
/// ones at the end of both lists.
/// </summary>
internal static class LedgerSchema
{
    /// <summary>SQLite's steps, applied from the file's <c>PRAGMA user_version</c>.</summary>
    public static readonly IReadOnlyList<string> Sqlite = StepsFor(LedgerTypes.Sqlite, firstTwoAsOne: false);

    /// <summary>PostgreSQL's steps, applied from <c>ledger_schema_version</c>.</summary>
    public static readonly IReadOnlyList<string> Postgres = StepsFor(LedgerTypes.Postgres, firstTwoAsOne: true);

    private static string[] StepsFor(LedgerTypes types, bool firstTwoAsOne) => firstTwoAsOne
        ? [Generations(types) + "\n" + Owners(types), SettlementAndReplay, Lifecycle(types), Events(types)]
        : [Generations(types), Owners(types), SettlementAndReplay, Lifecycle(types), Events(types)];

    /// <summary>
    /// The generations. Timestamps are text in both databases, because PostgreSQL's timestamptz keeps microseconds and
    /// the cursor compares 100 ns ticks (<see cref="LedgerValues"/>).
    /// </summary>
    private static string Generations(LedgerTypes t) => $$"""
        CREATE TABLE generations (
            id                 TEXT    NOT NULL PRIMARY KEY,
            upstream_id        TEXT,
            model              TEXT    NOT NULL,
            route_family       TEXT    NOT NULL,
            status             TEXT    NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded', 'failed')),
            upstream_status    TEXT,
            video_url          TEXT,
            video_content_type TEXT,
            video_file_name    TEXT,
            video_file_size    {{t.BigInt}},
            error_code         TEXT,
            error_message      TEXT,
            credits_used       {{t.Double}},
            tokens_used        {{t.Double}},
            warnings           TEXT    NOT NULL DEFAULT '[]',
            client_request_id  TEXT,
            external_task_id   TEXT,
            request_summary    TEXT    NOT NULL,
            created_at         TEXT    NOT NULL,
            updated_at         TEXT    NOT NULL,
            completed_at       TEXT,
            refreshed_at       TEXT
        ){{t.Strict}};
        CREATE INDEX ix_generations_created ON generations (created_at DESC, id DESC);
        CREATE INDEX ix_generations_status ON generations (status, created_at DESC, id DESC);
        CREATE INDEX ix_generations_model ON generations (model, created_at DESC, id DESC);
        CREATE INDEX ix_generations_upstream_id ON generations (upstream_id);
        """;

    /// <summary>
    /// Who owns each generation and what it counts against, and idempotency keys. Rows from before identities existed
    /// were made by unauthenticated callers, so they belong to the anonymous client.
    /// </summary>
    private static string Owners(LedgerTypes t) => $$"""
        ALTER TABLE generations ADD COLUMN owner_client TEXT NOT NULL DEFAULT 'anonymous';
        ALTER TABLE generations ADD COLUMN owner_user TEXT;
        ALTER TABLE generations ADD COLUMN video_seconds INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN cost_micros {{t.BigInt}} NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX ix_generations_owner ON generations (owner_client, created_at DESC, id DESC);
        CREATE TABLE idempotency_keys (
            client          TEXT    NOT NULL,
            idempotency_key TEXT    NOT NULL,
            request_hash    TEXT    NOT NULL,
            generation_id   TEXT,
            status_code     INTEGER,
            problem_code    TEXT,
            created_at      TEXT    NOT NULL,
            expires_at      TEXT    NOT NULL,
            PRIMARY KEY (client, idempotency_key)
        ){{t.Strict}};
        CREATE INDEX ix_idempotency_keys_expires ON idempotency_keys (expires_at);
        """;

    /// <summary>
    /// Settling creates the gateway never heard back about, and replaying an idempotent answer as it was given.
    /// <list type="bullet">
    /// <item><c>upstream_request_id</c>: the <c>X-Client-Request-Id</c> the create was sent with, one per generation, so
    /// the upstream's usage log can tell whether that create was billed (docs/upstream.md, "Usage log").</item>
    /// <item><c>billing</c>: <c>unknown</c>, <c>billed</c> or <c>not_billed</c>, only where the create's answer never
    /// said (a timeout, an unreadable answer, a gateway that stopped before the answer); null elsewhere. Earlier
    /// timeouts and unreadable answers become <c>unknown</c>: they were sent without an id of their own, so they stay
    /// so, and charged.</item>
    /// <item>Partial indexes for what the settlement worker looks for: creates with no upstream answer, bills still
    /// unknown, idempotency keys still open.</item>
    /// <item><c>idempotency_keys.problem</c>: the problem answered (detail, upstream status), replayed as it was.</item>
    /// <item>Keys that stored an upstream refusal are dropped: a refusal started nothing, and a retry with its key must
    /// run afresh rather than get the old refusal back (https://docs.stripe.com/api/idempotent_requests).</item>
    /// </list>
    /// </summary>
    private const string SettlementAndReplay = """
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

    /// <summary>
    /// Each generation runs to its end on its own. The version callers see change, when to ask the upstream next (the
    /// refresh lease), the watchdog's mark, the gateway's own copy of the video, and the secret video links are signed
    /// with. Unfinished generations are due at once; succeeded ones from before get their video downloaded.
    /// </summary>
    private static string Lifecycle(LedgerTypes t) => $$"""
        ALTER TABLE generations ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN next_refresh_at TEXT;
        ALTER TABLE generations ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN deadline_passed_at TEXT;
        ALTER TABLE generations ADD COLUMN video_state TEXT CHECK (video_state IN ('pending', 'stored', 'failed', 'expired'));
        ALTER TABLE generations ADD COLUMN video_attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE generations ADD COLUMN video_next_attempt_at TEXT;
        ALTER TABLE generations ADD COLUMN video_key TEXT;
        ALTER TABLE generations ADD COLUMN video_stored_size {{t.BigInt}};
        ALTER TABLE generations ADD COLUMN video_stored_type TEXT;
        ALTER TABLE generations ADD COLUMN video_sha256 TEXT;
        ALTER TABLE generations ADD COLUMN video_stored_at TEXT;
        ALTER TABLE generations ADD COLUMN video_error TEXT;
        UPDATE generations SET next_refresh_at = COALESCE(refreshed_at, created_at)
        WHERE status IN ('queued', 'processing') AND upstream_id IS NOT NULL;
        UPDATE generations SET video_state = 'pending', video_next_attempt_at = COALESCE(completed_at, updated_at)
        WHERE status = 'succeeded' AND video_url IS NOT NULL;
        CREATE INDEX ix_generations_next_refresh ON generations (next_refresh_at) WHERE next_refresh_at IS NOT NULL;
        CREATE INDEX ix_generations_video_due ON generations (video_next_attempt_at) WHERE video_state = 'pending';
        CREATE INDEX ix_generations_video_kept ON generations (completed_at) WHERE video_state IN ('pending', 'stored', 'failed');
        CREATE TABLE gateway_secrets (
            name  TEXT NOT NULL PRIMARY KEY,
            value TEXT NOT NULL
        ){{t.Strict}};
        """;

    /// <summary>
    /// What lets the gateway tell callers when a generation changes.
    /// <list type="bullet">
    /// <item><c>generations.webhook_url</c>: the callback URL a create named (<c>Webhook-Url</c>).</item>
    /// <item><c>generation_events</c>: one row per change a caller can see, written in the change's transaction. Its key
    /// (<c>seq</c>) is the all-generations stream's event id, so it must never be reused: SQLite's AUTOINCREMENT and
    /// PostgreSQL's identity never hand out a number twice, even after the newest rows are pruned.</item>
    /// <item><c>webhook_deliveries</c>: the outbox, one row per event and webhook route, written in the same transaction. The
    /// partial indexes serve the delivery worker: what is due, and what comes earlier for the same generation and target
    /// (a later event is not sent while an earlier one is pending).</item>
    /// <item><c>webhook_targets_disabled</c>: targets that answered 410 Gone, until a redelivery or a new URL re-enables them.</item>
    /// </list>
    /// </summary>
    private static string Events(LedgerTypes t) => $$"""
        ALTER TABLE generations ADD COLUMN webhook_url TEXT;
        CREATE TABLE generation_events (
            seq           {{t.Sequence}},
            generation_id TEXT    NOT NULL,
            version       {{t.BigInt}} NOT NULL,
            type          TEXT    NOT NULL,
            owner_client  TEXT    NOT NULL,
            owner_user    TEXT,
            occurred_at   TEXT    NOT NULL,
            final         INTEGER NOT NULL,
            snapshot      TEXT    NOT NULL
        ){{t.Strict}};
        CREATE INDEX ix_generation_events_generation ON generation_events (generation_id, version);
        CREATE INDEX ix_generation_events_owner ON generation_events (owner_client, seq);
        CREATE INDEX ix_generation_events_occurred ON generation_events (occurred_at);
        CREATE TABLE webhook_deliveries (
            id              TEXT    NOT NULL PRIMARY KEY,
            event_seq       {{t.BigInt}} NOT NULL,
            generation_id   TEXT    NOT NULL,
            event_type      TEXT    NOT NULL,
            owner_client    TEXT    NOT NULL,
            owner_user      TEXT,
            target          TEXT    NOT NULL,
            endpoint        TEXT,
            url             TEXT    NOT NULL,
            state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            expires_at      TEXT    NOT NULL,
            created_at      TEXT    NOT NULL,
            updated_at      TEXT    NOT NULL,
            delivered_at    TEXT,
            last_status     INTEGER,
            last_error      TEXT
        ){{t.Strict}};
        CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
        CREATE INDEX ix_webhook_deliveries_order ON webhook_deliveries (generation_id, target, event_seq) WHERE state = 'pending';
        CREATE INDEX ix_webhook_deliveries_owner ON webhook_deliveries (owner_client, created_at DESC, id DESC);
        CREATE INDEX ix_webhook_deliveries_generation ON webhook_deliveries (generation_id, created_at DESC, id DESC);
        CREATE INDEX ix_webhook_deliveries_event ON webhook_deliveries (event_seq);
        CREATE INDEX ix_webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE state <> 'pending';
        CREATE TABLE webhook_targets_disabled (
            owner_client TEXT NOT NULL,
            target       TEXT NOT NULL,
            url          TEXT NOT NULL,
            disabled_at  TEXT NOT NULL,
            PRIMARY KEY (owner_client, target)
        ){{t.Strict}};
        """;
}

/// <summary>
/// The column types SQLite and PostgreSQL spell differently. SQLite's tables are STRICT (types enforced), where
/// INTEGER is 64 bits; PostgreSQL needs <c>bigint</c> for 64 bits and names its sequence column differently.
/// </summary>
internal sealed record LedgerTypes(string BigInt, string Double, string Strict, string Sequence)
{
    public static readonly LedgerTypes Sqlite = new("INTEGER", "REAL", " STRICT", "INTEGER PRIMARY KEY AUTOINCREMENT");

    public static readonly LedgerTypes Postgres = new("bigint", "double precision", "", "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY");
}
