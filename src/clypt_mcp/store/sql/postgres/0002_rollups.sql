-- Rollups: click counts per (link or whole workspace, grain, bucket, dimension, key, bot),
-- kept up to date as clicks are recorded, so analytics read buckets, not clicks.
-- link_id '' is the whole workspace. dim '*' holds totals, 'uniques' first visits of a UTC day,
-- 'link' the per-link breakdown (workspace level only). Same meaning as SQLite's 0002.
CREATE TABLE rollups (
    workspace_id TEXT COLLATE "C" NOT NULL,
    link_id      TEXT COLLATE "C" NOT NULL,
    grain        INTEGER NOT NULL,
    dim          TEXT COLLATE "C" NOT NULL,
    t            BIGINT NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    bot          SMALLINT NOT NULL,
    clicks       BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, link_id, grain, dim, t, key, bot)
);

-- Who was seen today, to count a visitor once per UTC day (hashes rotate daily anyway).
CREATE TABLE visitor_days (
    workspace_id TEXT COLLATE "C" NOT NULL,
    link_id      TEXT COLLATE "C" NOT NULL,
    day          BIGINT NOT NULL,
    visitor      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, link_id, day, visitor)
);

-- Clicks recorded before this migration, rolled up (by workspace and by link; the per-link
-- breakdown at workspace level only).
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT c.workspace_id, s.link_id, g.grain, d.dim, (c.ts / g.grain) * g.grain, d.key, c.bot,
       COUNT(*)
  FROM clicks c
 CROSS JOIN (VALUES (900), (3600), (86400)) AS g (grain)
 CROSS JOIN LATERAL (VALUES ('', TRUE), (c.link_id, FALSE)) AS s (link_id, whole)
 CROSS JOIN LATERAL (VALUES ('*', ''),
                            ('country', COALESCE(c.country, 'unknown')),
                            ('device', COALESCE(c.device, 'unknown')),
                            ('browser', COALESCE(c.browser, 'unknown')),
                            ('os', COALESCE(c.os, 'unknown')),
                            ('referrer', COALESCE(c.referrer, 'unknown')),
                            ('link', c.link_id)) AS d (dim, key)
 WHERE d.dim <> 'link' OR s.whole
 GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- First visits of each human visitor per UTC day, in the buckets of that first visit.
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT f.workspace_id, f.link_id, g.grain, 'uniques', (f.first_ts / g.grain) * g.grain, '', 0,
       COUNT(*)
  FROM (SELECT c.workspace_id, s.link_id, MIN(c.ts) AS first_ts
          FROM clicks c
         CROSS JOIN LATERAL (VALUES (''), (c.link_id)) AS s (link_id)
         WHERE c.bot = 0 AND c.visitor IS NOT NULL
         GROUP BY c.workspace_id, s.link_id, c.visitor, c.ts / 86400) AS f
 CROSS JOIN (VALUES (900), (3600), (86400)) AS g (grain)
 GROUP BY 1, 2, 3, 4, 5, 6, 7;
