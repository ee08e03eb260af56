namespace KlingGateway.Events;

/// <summary>
/// The schema step that lets the gateway tell callers when a generation changes: appended to the end of both stores'
/// migration lists (SQLite's version 5, PostgreSQL's version 4); like every shipped step, never edited, only followed.
/// </summary>
/// <remarks>
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
/// </remarks>
internal static class EventMigrations
{
    public const string Sqlite = """
        ALTER TABLE generations ADD COLUMN webhook_url TEXT;
        CREATE TABLE generation_events (
            seq           INTEGER PRIMARY KEY AUTOINCREMENT,
            generation_id TEXT    NOT NULL,
            version       INTEGER NOT NULL,
            type          TEXT    NOT NULL,
            owner_client  TEXT    NOT NULL,
            owner_user    TEXT,
            occurred_at   TEXT    NOT NULL,
            final         INTEGER NOT NULL,
            snapshot      TEXT    NOT NULL
        ) STRICT;
        CREATE INDEX ix_generation_events_generation ON generation_events (generation_id, version);
        CREATE INDEX ix_generation_events_owner ON generation_events (owner_client, seq);
        CREATE INDEX ix_generation_events_occurred ON generation_events (occurred_at);
        CREATE TABLE webhook_deliveries (
            id              TEXT    NOT NULL PRIMARY KEY,
            event_seq       INTEGER NOT NULL,
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
        ) STRICT;
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
        ) STRICT;
        """;

    public const string Postgres = """
        ALTER TABLE generations ADD COLUMN webhook_url text;
        CREATE TABLE generation_events (
            seq           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            generation_id text    NOT NULL,
            version       bigint  NOT NULL,
            type          text    NOT NULL,
            owner_client  text    NOT NULL,
            owner_user    text,
            occurred_at   text    NOT NULL,
            final         integer NOT NULL,
            snapshot      text    NOT NULL
        );
        CREATE INDEX ix_generation_events_generation ON generation_events (generation_id, version);
        CREATE INDEX ix_generation_events_owner ON generation_events (owner_client, seq);
        CREATE INDEX ix_generation_events_occurred ON generation_events (occurred_at);
        CREATE TABLE webhook_deliveries (
            id              text    NOT NULL PRIMARY KEY,
            event_seq       bigint  NOT NULL,
            generation_id   text    NOT NULL,
            event_type      text    NOT NULL,
            owner_client    text    NOT NULL,
            owner_user      text,
            target          text    NOT NULL,
            endpoint        text,
            url             text    NOT NULL,
            state           text    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at text,
            expires_at      text    NOT NULL,
            created_at      text    NOT NULL,
            updated_at      text    NOT NULL,
            delivered_at    text,
            last_status     integer,
            last_error      text
        );
        CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
        CREATE INDEX ix_webhook_deliveries_order ON webhook_deliveries (generation_id, target, event_seq) WHERE state = 'pending';
        CREATE INDEX ix_webhook_deliveries_owner ON webhook_deliveries (owner_client, created_at DESC, id DESC);
        CREATE INDEX ix_webhook_deliveries_generation ON webhook_deliveries (generation_id, created_at DESC, id DESC);
        CREATE INDEX ix_webhook_deliveries_event ON webhook_deliveries (event_seq);
        CREATE INDEX ix_webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE state <> 'pending';
        CREATE TABLE webhook_targets_disabled (
            owner_client text NOT NULL,
            target       text NOT NULL,
            url          text NOT NULL,
            disabled_at  text NOT NULL,
            PRIMARY KEY (owner_client, target)
        );
        """;
}
