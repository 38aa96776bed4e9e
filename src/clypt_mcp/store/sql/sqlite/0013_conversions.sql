-- Conversions (#15). A link may opt in to conversion tracking: its redirects then carry a
-- random click id (`clypt_cid`), kept with the click; a conversion names that click id and is
-- attributed to what the click recorded (link, variant, country, device, referrer, day).
-- A conversion with an external id is unique per workspace and event: the unique index
-- decides which of two concurrent writers made it.
ALTER TABLE links ADD COLUMN track_conversions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clicks ADD COLUMN click_id TEXT;
CREATE INDEX clicks_click_id ON clicks (click_id) WHERE click_id IS NOT NULL;

CREATE TABLE conversions (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    link_id      TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    click_id     TEXT NOT NULL,
    event        TEXT NOT NULL,
    value        INTEGER,
    currency     TEXT,
    external_id  TEXT,
    occurred_at  INTEGER NOT NULL,  -- µs since the epoch
    created_at   INTEGER NOT NULL,  -- µs since the epoch
    click_ts     INTEGER NOT NULL,  -- the click's time, seconds
    variant      TEXT,
    country      TEXT,
    device       TEXT,
    referrer     TEXT
);
CREATE UNIQUE INDEX conversions_external ON conversions (workspace_id, event, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX conversions_link_ts ON conversions (link_id, click_ts);
CREATE INDEX conversions_ws_ts ON conversions (workspace_id, click_ts);

-- What analytics read (#15 item 3): per link, per 15-minute slot of the click, per dimension
-- ('*', 'variant', 'country', 'device', 'referrer') and key, per event and currency ('' when
-- none), the conversions and their value in minor units. Written in the conversion's own
-- transaction, so a conversion is counted exactly when it exists.
CREATE TABLE conversion_rollups (
    workspace_id TEXT NOT NULL,
    link_id      TEXT NOT NULL,
    t            INTEGER NOT NULL,
    dim          TEXT NOT NULL,
    key          TEXT NOT NULL,
    event        TEXT NOT NULL,
    currency     TEXT NOT NULL,
    conversions  INTEGER NOT NULL,
    revenue      INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, link_id, dim, t, key, event, currency)
);
CREATE INDEX conversion_rollups_ws ON conversion_rollups (workspace_id, dim, t);
