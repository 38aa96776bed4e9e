-- Signed webhooks (#16). An endpoint's secret is kept as issued (`whsec_…`): every delivery is
-- signed with it, so it cannot be a hash; it leaves the server only in the answers of create and
-- rotate_secret, and never in a log. Events are written here by the transaction that makes the
-- change (the outbox), one delivery per endpoint that wants them; `serve` delivers them.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,          -- JSON list of event types
    filter          TEXT,                   -- JSON {folder} | {tag} | {links}, or NULL
    secret          TEXT NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    failing_since   INTEGER,                -- µs of the first failure since the last success
    lease_owner     TEXT,                   -- the worker delivering to it now
    lease_until     INTEGER,                -- µs; a lapsed lease is free to claim
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_ws ON webhook_endpoints (workspace_id, enabled);

CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    type         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    data         TEXT NOT NULL              -- JSON as the store wrote it (see store/webhooks.py)
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order events are delivered in
    id           TEXT NOT NULL UNIQUE,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    status       TEXT NOT NULL,             -- pending | delivered | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,          -- µs: due from then
    first_try_at INTEGER,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    done_at      INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, status, next_at, seq);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    status      INTEGER,                    -- the HTTP status, NULL when none came back
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_at ON webhook_attempts (at);

CREATE TABLE webhook_state (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
