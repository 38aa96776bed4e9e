-- A team server (#14 items 4-7): key IP allow-lists, link previews, workspace limits and their
-- usage counters, guest links.

-- The addresses a key works from: comma-separated networks in CIDR form; NULL = anywhere.
ALTER TABLE api_keys ADD COLUMN allow_ips TEXT;

-- A link's own social card (JSON {title, description, image}), shown to link unfurlers.
ALTER TABLE links ADD COLUMN preview TEXT;

-- Per-workspace limits set by the operator (`clypt-mcp workspaces set-limits`); NULL = no limit.
CREATE TABLE workspace_limits (
    workspace_id      TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    max_links         INTEGER,
    clicks_per_month  INTEGER,
    api_calls_per_day INTEGER,
    updated_at        INTEGER NOT NULL
) WITHOUT ROWID;

-- Use counted against those limits that nothing else counts: metric 'api_calls' per UTC day
-- (period = the day's start, in seconds). Links and clicks are counted where they live.
CREATE TABLE usage_counts (
    workspace_id TEXT NOT NULL,
    metric       TEXT NOT NULL,
    period       INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, metric, period)
) WITHOUT ROWID;

-- Links made without a key (`POST /api/v1/guest-links`): which client address asked, so the
-- housekeeping can delete them for good once they expire.
CREATE TABLE guest_links (
    link_id    TEXT PRIMARY KEY REFERENCES links(id) ON DELETE CASCADE,
    client     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX guest_links_expiry ON guest_links (expires_at);
