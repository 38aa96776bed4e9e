-- Rollups: click counts per (link or whole workspace, grain, bucket, dimension, key, bot),
-- kept up to date as clicks are recorded, so analytics read buckets, not clicks.
-- link_id '' is the whole workspace. dim '*' holds totals, 'uniques' first visits of a UTC day,
-- 'link' the per-link breakdown (workspace level only).
CREATE TABLE rollups (
    workspace_id TEXT NOT NULL,
    link_id      TEXT NOT NULL,
    grain        INTEGER NOT NULL,
    dim          TEXT NOT NULL,
    t            INTEGER NOT NULL,
    key          TEXT NOT NULL,
    bot          INTEGER NOT NULL,
    clicks       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, link_id, grain, dim, t, key, bot)
) WITHOUT ROWID;

-- Who was seen today, to count a visitor once per UTC day (hashes rotate daily anyway).
CREATE TABLE visitor_days (
    workspace_id TEXT NOT NULL,
    link_id      TEXT NOT NULL,
    day          INTEGER NOT NULL,
    visitor      TEXT NOT NULL,
    PRIMARY KEY (workspace_id, link_id, day, visitor)
) WITHOUT ROWID;

INSERT INTO rollups SELECT c.workspace_id, '', 900, 'country', (c.ts / 900) * 900, IFNULL(c.country, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 900, 'device', (c.ts / 900) * 900, IFNULL(c.device, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 900, 'browser', (c.ts / 900) * 900, IFNULL(c.browser, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 900, 'os', (c.ts / 900) * 900, IFNULL(c.os, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 900, 'referrer', (c.ts / 900) * 900, IFNULL(c.referrer, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 900, '*', (c.ts / 900) * 900, '', c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 900, 'link', (c.ts / 900) * 900, c.link_id, c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 900, 'country', (c.ts / 900) * 900, IFNULL(c.country, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 900, 'device', (c.ts / 900) * 900, IFNULL(c.device, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 900, 'browser', (c.ts / 900) * 900, IFNULL(c.browser, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 900, 'os', (c.ts / 900) * 900, IFNULL(c.os, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 900, 'referrer', (c.ts / 900) * 900, IFNULL(c.referrer, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 900, '*', (c.ts / 900) * 900, '', c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, 'country', (c.ts / 3600) * 3600, IFNULL(c.country, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, 'device', (c.ts / 3600) * 3600, IFNULL(c.device, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, 'browser', (c.ts / 3600) * 3600, IFNULL(c.browser, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, 'os', (c.ts / 3600) * 3600, IFNULL(c.os, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, 'referrer', (c.ts / 3600) * 3600, IFNULL(c.referrer, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, '*', (c.ts / 3600) * 3600, '', c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 3600, 'link', (c.ts / 3600) * 3600, c.link_id, c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 3600, 'country', (c.ts / 3600) * 3600, IFNULL(c.country, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 3600, 'device', (c.ts / 3600) * 3600, IFNULL(c.device, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 3600, 'browser', (c.ts / 3600) * 3600, IFNULL(c.browser, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 3600, 'os', (c.ts / 3600) * 3600, IFNULL(c.os, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 3600, 'referrer', (c.ts / 3600) * 3600, IFNULL(c.referrer, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 3600, '*', (c.ts / 3600) * 3600, '', c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, 'country', (c.ts / 86400) * 86400, IFNULL(c.country, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, 'device', (c.ts / 86400) * 86400, IFNULL(c.device, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, 'browser', (c.ts / 86400) * 86400, IFNULL(c.browser, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, 'os', (c.ts / 86400) * 86400, IFNULL(c.os, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, 'referrer', (c.ts / 86400) * 86400, IFNULL(c.referrer, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, '*', (c.ts / 86400) * 86400, '', c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, '', 86400, 'link', (c.ts / 86400) * 86400, c.link_id, c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 86400, 'country', (c.ts / 86400) * 86400, IFNULL(c.country, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 86400, 'device', (c.ts / 86400) * 86400, IFNULL(c.device, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 86400, 'browser', (c.ts / 86400) * 86400, IFNULL(c.browser, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 86400, 'os', (c.ts / 86400) * 86400, IFNULL(c.os, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 86400, 'referrer', (c.ts / 86400) * 86400, IFNULL(c.referrer, 'unknown'), c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT c.workspace_id, c.link_id, 86400, '*', (c.ts / 86400) * 86400, '', c.bot, COUNT(*) FROM clicks c GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT workspace_id, '', 900, 'uniques', (first_ts / 900) * 900, '', 0, COUNT(*) FROM (SELECT workspace_id, MIN(ts) AS first_ts FROM clicks WHERE bot = 0 AND visitor IS NOT NULL GROUP BY workspace_id, visitor, ts / 86400) GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT workspace_id, link_id, 900, 'uniques', (first_ts / 900) * 900, '', 0, COUNT(*) FROM (SELECT workspace_id, link_id, MIN(ts) AS first_ts FROM clicks WHERE bot = 0 AND visitor IS NOT NULL GROUP BY workspace_id, link_id, visitor, ts / 86400) GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT workspace_id, '', 3600, 'uniques', (first_ts / 3600) * 3600, '', 0, COUNT(*) FROM (SELECT workspace_id, MIN(ts) AS first_ts FROM clicks WHERE bot = 0 AND visitor IS NOT NULL GROUP BY workspace_id, visitor, ts / 86400) GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT workspace_id, link_id, 3600, 'uniques', (first_ts / 3600) * 3600, '', 0, COUNT(*) FROM (SELECT workspace_id, link_id, MIN(ts) AS first_ts FROM clicks WHERE bot = 0 AND visitor IS NOT NULL GROUP BY workspace_id, link_id, visitor, ts / 86400) GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT workspace_id, '', 86400, 'uniques', (first_ts / 86400) * 86400, '', 0, COUNT(*) FROM (SELECT workspace_id, MIN(ts) AS first_ts FROM clicks WHERE bot = 0 AND visitor IS NOT NULL GROUP BY workspace_id, visitor, ts / 86400) GROUP BY 1, 2, 5, 6, 7;
INSERT INTO rollups SELECT workspace_id, link_id, 86400, 'uniques', (first_ts / 86400) * 86400, '', 0, COUNT(*) FROM (SELECT workspace_id, link_id, MIN(ts) AS first_ts FROM clicks WHERE bot = 0 AND visitor IS NOT NULL GROUP BY workspace_id, link_id, visitor, ts / 86400) GROUP BY 1, 2, 5, 6, 7;
