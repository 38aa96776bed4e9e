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
CREATE INDEX conversions_click ON conversions (click_id, event);
CREATE INDEX conversions_ws_ts ON conversions (workspace_id, click_ts);

-- What analytics read (#15 item 3), like the click rollups: per link, and for the whole
-- workspace (link_id ''), per grain (86400, 3600, 900 s) and bucket of the click's time, per
-- dimension ('*', 'country', 'device', 'referrer'; per link 'variant'; for the workspace
-- 'link', keyed by link id) and key, and for the totals ('*') per event and currency ('' when
-- none; the breakdowns' rows carry '' for both and no value): the conversions and their value
-- in minor units. Written in the conversion's own transaction, so a
-- conversion is counted exactly when it exists; a query reads a number of rows that does not
-- grow with the conversions.
CREATE TABLE conversion_rollups (
    workspace_id TEXT NOT NULL,
    link_id      TEXT NOT NULL,
    grain        INTEGER NOT NULL,
    dim          TEXT NOT NULL,
    t            INTEGER NOT NULL,
    key          TEXT NOT NULL,
    event        TEXT NOT NULL,
    currency     TEXT NOT NULL,
    conversions  INTEGER NOT NULL,
    revenue      INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, link_id, grain, dim, t, key, event, currency)
) WITHOUT ROWID;

-- A/B tests that decide (#15 item 4): the test's settings and state as JSON (goal, minimum and
-- maximum visitors per variant, confidence, start, status, and once decided the winner, when,
-- by whom, with what figures). Redirects read it with the link, so a decision reaches them as
-- any change to the link does.
ALTER TABLE links ADD COLUMN ab_test TEXT;
CREATE INDEX links_ab_test ON links (id) WHERE ab_test IS NOT NULL;
