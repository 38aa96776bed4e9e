-- Clypt schema 4: analytics you can trust (#11).
--
-- Traffic classes: every click keeps its class (human, qr, preview, ai_agent, crawler,
-- suspect); only human and qr are clicks (bot = 0). Old clicks were human or a bot.
ALTER TABLE clicks ADD COLUMN traffic TEXT NOT NULL DEFAULT 'human';
UPDATE clicks SET traffic = 'crawler' WHERE bot <> 0;
-- City (and region) with a MaxMind City database: "City, Region, CC".
ALTER TABLE clicks ADD COLUMN city TEXT;

-- Device types. Old clicks kept their platform (ios, android, desktop, other), not their user
-- agent, so they move by the platform mapping: ios and android -> mobile (phones are the
-- common case; an old iPad or Android tablet cannot be told apart any more), desktop stays,
-- anything else (and 'unknown') -> other. Raw clicks and stored rollups alike.
UPDATE clicks SET device = CASE device WHEN 'ios' THEN 'mobile' WHEN 'android' THEN 'mobile'
    WHEN 'desktop' THEN 'desktop' ELSE 'other' END;
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT workspace_id, link_id, grain, dim, t, 'mobile_', bot, SUM(clicks) FROM rollups
 WHERE dim = 'device' AND key IN ('ios', 'android') GROUP BY 1, 2, 3, 4, 5, 7;
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT workspace_id, link_id, grain, dim, t, 'other_', bot, SUM(clicks) FROM rollups
 WHERE dim = 'device' AND key NOT IN ('ios', 'android', 'desktop', 'mobile_')
 GROUP BY 1, 2, 3, 4, 5, 7;
DELETE FROM rollups WHERE dim = 'device' AND key NOT IN ('desktop', 'mobile_', 'other_');
UPDATE rollups SET key = substr(key, 1, length(key) - 1) WHERE dim = 'device' AND key IN ('mobile_', 'other_');

-- The traffic breakdown of old rollups: human clicks and bots (then all called crawlers).
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT workspace_id, link_id, grain, 'traffic', t, CASE bot WHEN 0 THEN 'human' ELSE 'crawler' END,
       bot, clicks FROM rollups WHERE dim = '*';

-- Clicks per A/B variant of the clicks still kept (older ones were never rolled up by variant).
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT c.workspace_id, c.link_id, g.grain, 'variant', (c.ts / g.grain) * g.grain, c.variant, c.bot, COUNT(*)
  FROM clicks c, (SELECT 900 AS grain UNION ALL SELECT 3600 UNION ALL SELECT 86400) g
 WHERE c.variant IS NOT NULL GROUP BY 1, 2, 3, 5, 6, 7;

-- Visitor marks are kept as long as their link (no longer purged with raw clicks): unique
-- visitors of any set of links are a distinct count over them. first_ts is the first visit of
-- that day (marks made before this migration say the start of their day).
ALTER TABLE visitor_days ADD COLUMN first_ts INTEGER NOT NULL DEFAULT 0;
UPDATE visitor_days SET first_ts = day;

-- Unique visitors of a set of links (a folder, a tag, a search: `set_key` names the query that
-- selects its links) on a whole past UTC day: a cache of the distinct count over the visitor
-- marks of its links, so a set's query reads one row per day. Any change to which links a set
-- holds forgets the workspace's rows, and a new mark forgets its day's (triggers below).
CREATE TABLE unique_days (
    workspace_id TEXT NOT NULL,
    day          INTEGER NOT NULL,
    set_key      TEXT NOT NULL,
    visitors     INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, day, set_key)
) WITHOUT ROWID;
CREATE TRIGGER unique_days_mark AFTER INSERT ON visitor_days BEGIN
    DELETE FROM unique_days WHERE workspace_id = NEW.workspace_id AND day = NEW.day;
END;
CREATE TRIGGER unique_days_link_update AFTER UPDATE OF folder_id, code, url, title, notes ON links BEGIN
    DELETE FROM unique_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER unique_days_link_delete AFTER DELETE ON links BEGIN
    DELETE FROM unique_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER unique_days_tag_added AFTER INSERT ON link_tags BEGIN
    DELETE FROM unique_days WHERE workspace_id = (SELECT workspace_id FROM links WHERE id = NEW.link_id);
END;
CREATE TRIGGER unique_days_tag_removed AFTER DELETE ON link_tags BEGIN
    DELETE FROM unique_days WHERE workspace_id = (SELECT workspace_id FROM links WHERE id = OLD.link_id);
END;
CREATE TRIGGER unique_days_tag_change AFTER UPDATE OF name ON tags BEGIN
    DELETE FROM unique_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER unique_days_folder_change AFTER UPDATE OF name, parent_id ON folders BEGIN
    DELETE FROM unique_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER unique_days_folder_delete AFTER DELETE ON folders BEGIN
    DELETE FROM unique_days WHERE workspace_id = OLD.workspace_id;
END;
