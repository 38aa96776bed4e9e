-- Jobs (#17): exports and imports that run longer than one request. A job's state lives here,
-- so every process on this database lists it, cancels it, and finds it again after a restart.
-- kind: export_links, export_clicks or import_links; status: queued, running, done, failed or
-- cancelled. params and result are JSON text; heartbeat_at is when the process running the job
-- last wrote (a running job whose heartbeat is long past was lost with its process).
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    done         BIGINT NOT NULL DEFAULT 0,
    total        BIGINT,
    params       TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX jobs_by_workspace ON jobs (workspace_id, created_at);
CREATE INDEX jobs_expiry ON jobs (expires_at);

-- An export's file, in parts written as the export goes (so neither the writer nor the
-- database holds it whole in one statement); read back in seq order.
CREATE TABLE export_parts (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Click totals brought from another shortener by an import: kept apart from clicks (no click
-- rows stand behind them).
ALTER TABLE links ADD COLUMN imported_clicks BIGINT NOT NULL DEFAULT 0;
