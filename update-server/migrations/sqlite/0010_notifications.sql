-- What each change of the activity log changed: a JSON array of {"field","old","new"}
-- (empty for entries written before it, and for entries that change no field).
ALTER TABLE activity ADD COLUMN changes TEXT NOT NULL DEFAULT '';

-- Webhooks: where notifications go. An empty app_id is a global hook (every app).
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- The events it receives, comma-separated (auto_paused,rollout_finished,...).
    events TEXT NOT NULL,
    -- The signing secret, encrypted under the server secret (never stored in clear).
    secret_sealed BLOB NOT NULL,
    -- failure_rate fires above this percentage of failed attempts in the last hour.
    failure_rate_percent REAL NOT NULL,
    -- ... once at least this many attempts ended in that hour.
    failure_min_attempts INTEGER NOT NULL,
    -- stalled fires after this long without a grant (at least twice the rate interval).
    stalled_after_secs INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- The outbox: one row per (hook, event), delivered by whichever replica claims it.
-- The unique key makes an event detected by several replicas one delivery.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_key TEXT NOT NULL,
    event TEXT NOT NULL,
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- pending, delivered or failed (gave up).
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    -- A replica delivering it holds it until then (a crashed replica's claim runs out).
    lease_until INTEGER,
    last_status INTEGER,
    last_error TEXT NOT NULL,
    delivered_at INTEGER,
    UNIQUE (hook_id, event_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (hook_id, id);

-- The newest grant of a group (stalled rollouts) reads instance_history_grants (0009).
