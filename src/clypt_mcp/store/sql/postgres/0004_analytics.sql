-- Clypt schema 4: analytics you can trust (#11). Same meaning as SQLite's 0004.
--
-- Traffic classes: every click keeps its class (human, qr, preview, ai_agent, crawler,
-- suspect); only human and qr are clicks (bot = 0). Old clicks were human or a bot.
ALTER TABLE clicks ADD COLUMN traffic TEXT COLLATE "C" NOT NULL DEFAULT 'human';
UPDATE clicks SET traffic = 'crawler' WHERE bot <> 0;
-- City (and region) with a MaxMind City database: "City, Region, CC".
ALTER TABLE clicks ADD COLUMN city TEXT;

-- Device types. Old clicks kept their platform (ios, android, desktop, other), not their user
-- agent, so they move by the platform mapping: ios and android -> mobile (phones are the
-- common case; an old iPad or Android tablet cannot be told apart any more), desktop stays,
-- anything else (and 'unknown') -> other. Raw clicks and stored rollups alike.
UPDATE clicks SET device = CASE device WHEN 'ios' THEN 'mobile' WHEN 'android' THEN 'mobile'
    WHEN 'desktop' THEN 'desktop' ELSE 'other' END;
CREATE TEMPORARY TABLE device_rollups ON COMMIT DROP AS
SELECT workspace_id, link_id, grain, dim, t,
       CASE key WHEN 'ios' THEN 'mobile' WHEN 'android' THEN 'mobile' WHEN 'desktop' THEN 'desktop'
                ELSE 'other' END AS key,
       bot, SUM(clicks) AS clicks
  FROM rollups WHERE dim = 'device' GROUP BY 1, 2, 3, 4, 5, 6, 7;
DELETE FROM rollups WHERE dim = 'device';
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT workspace_id, link_id, grain, dim, t, key, bot, clicks FROM device_rollups;

-- The traffic breakdown of old rollups: human clicks and bots (then all called crawlers).
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT workspace_id, link_id, grain, 'traffic', t, CASE bot WHEN 0 THEN 'human' ELSE 'crawler' END,
       bot, clicks FROM rollups WHERE dim = '*';

-- Clicks per A/B variant of the clicks still kept (older ones were never rolled up by variant).
INSERT INTO rollups (workspace_id, link_id, grain, dim, t, key, bot, clicks)
SELECT c.workspace_id, c.link_id, g.grain, 'variant', (c.ts / g.grain) * g.grain, c.variant, c.bot,
       COUNT(*)
  FROM clicks c CROSS JOIN (VALUES (900), (3600), (86400)) AS g (grain)
 WHERE c.variant IS NOT NULL GROUP BY 1, 2, 3, 5, 6, 7;

-- Visitor marks are kept as long as their link (no longer purged with raw clicks): unique
-- visitors of any set of links are a distinct count over them. first_ts is the first visit of
-- that day (marks made before this migration say the start of their day).
ALTER TABLE visitor_days ADD COLUMN first_ts BIGINT NOT NULL DEFAULT 0;
UPDATE visitor_days SET first_ts = day;

-- Unique visitors of a set of links (a folder, a tag, a search: `set_key` names the query that
-- selects its links) on a whole past UTC day: a cache of the distinct count over the visitor
-- marks of its links, so a set's query reads one row per day. Any change to which links a set
-- holds forgets the workspace's rows, and a new mark forgets its day's (triggers below).
CREATE TABLE unique_days (
    workspace_id TEXT COLLATE "C" NOT NULL,
    day          BIGINT NOT NULL,
    set_key      TEXT COLLATE "C" NOT NULL,
    visitors     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, set_key)
);
CREATE FUNCTION unique_days_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'visitor_days' THEN
        DELETE FROM unique_days WHERE workspace_id = NEW.workspace_id AND day = NEW.day;
    ELSIF TG_TABLE_NAME = 'link_tags' THEN
        DELETE FROM unique_days WHERE workspace_id =
            (SELECT workspace_id FROM links WHERE id = COALESCE(NEW.link_id, OLD.link_id));
    ELSE
        DELETE FROM unique_days WHERE workspace_id = OLD.workspace_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER unique_days_mark AFTER INSERT ON visitor_days
    FOR EACH ROW EXECUTE FUNCTION unique_days_forget();
CREATE TRIGGER unique_days_link_update AFTER UPDATE OF folder_id, code, url, title, notes ON links
    FOR EACH ROW EXECUTE FUNCTION unique_days_forget();
CREATE TRIGGER unique_days_link_delete AFTER DELETE ON links
    FOR EACH ROW EXECUTE FUNCTION unique_days_forget();
CREATE TRIGGER unique_days_tags AFTER INSERT OR DELETE ON link_tags
    FOR EACH ROW EXECUTE FUNCTION unique_days_forget();
CREATE TRIGGER unique_days_tag_change AFTER UPDATE OF name OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION unique_days_forget();
CREATE TRIGGER unique_days_folder_change AFTER UPDATE OF name, parent_id OR DELETE ON folders
    FOR EACH ROW EXECUTE FUNCTION unique_days_forget();
