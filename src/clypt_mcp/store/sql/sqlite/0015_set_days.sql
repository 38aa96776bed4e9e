-- Clypt schema 15: one cache of whole past UTC days per set of links (#11 acceptance 6).
--
-- A set of links (a folder with its subfolders, a tag, a search: `set_key` names the query
-- that selects its links) gets, for each whole UTC day that is over, the sums of its links'
-- day rollups per dimension, key and bot flag (dim '*' totals, each breakdown, 'traffic',
-- 'link' the clicks per member link), its exact unique visitors of the day (dim 'uniques', a
-- distinct count over the visitor marks of its links), and a marker row (dim '', n the stamp
-- of the fill that wrote the day): a set's query then reads as many rows as the workspace's
-- own, not its links × days × keys. This replaces `unique_days` (its rows are dropped: the
-- cache fills again on the next query).
--
-- A day's rows are written together, in one transaction, and forgotten together:
-- * any change to the click rollups of a day (a new row of the day, more clicks on the
--   workspace's total of the day, a row of the day deleted or rewritten: new clicks, late or
--   spooled clicks, the key cap, a link deleted for good) forgets that day of the workspace;
-- * a new or deleted visitor mark forgets its day;
-- * any change to which links a set holds (a link's folder, code, URL, title, notes or domain,
--   a link deleted for good, a tag added or removed, a tag renamed or deleted, a folder renamed,
--   moved or deleted) forgets every day of the workspace.
-- On SQLite a fill runs in one write transaction, which holds the whole database, so no change
-- can fall between what it reads and what it writes.
DROP TRIGGER unique_days_mark;
DROP TRIGGER unique_days_link_update;
DROP TRIGGER unique_days_link_delete;
DROP TRIGGER unique_days_tag_added;
DROP TRIGGER unique_days_tag_removed;
DROP TRIGGER unique_days_tag_change;
DROP TRIGGER unique_days_folder_change;
DROP TRIGGER unique_days_folder_delete;
DROP TABLE unique_days;

CREATE TABLE set_days (
    workspace_id TEXT NOT NULL,
    set_key      TEXT NOT NULL,
    dim          TEXT NOT NULL,
    day          INTEGER NOT NULL,
    key          TEXT NOT NULL,
    bot          INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, set_key, dim, day, key, bot)
) WITHOUT ROWID;
-- What the triggers forget a day of a workspace by (the primary key serves a whole workspace).
-- Day first: a set's reads (workspace, set, dimension, a range of days) then take the primary
-- key; with (workspace_id, day) PostgreSQL's planner chose this index and filtered 7 rows in 8.
CREATE INDEX set_days_by_day ON set_days (day, workspace_id);

CREATE TRIGGER set_days_rollup_added AFTER INSERT ON rollups WHEN NEW.grain = 86400 BEGIN
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.t;
END;
CREATE TRIGGER set_days_rollup_counted AFTER UPDATE OF clicks ON rollups
    WHEN NEW.grain = 86400 AND NEW.link_id = '' AND NEW.dim = '*' BEGIN
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.t;
END;
CREATE TRIGGER set_days_rollup_rewritten
    AFTER UPDATE OF workspace_id, link_id, grain, dim, t, key, bot ON rollups
    WHEN OLD.grain = 86400 OR NEW.grain = 86400 BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id AND day = OLD.t;
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.t;
END;
CREATE TRIGGER set_days_rollup_deleted AFTER DELETE ON rollups WHEN OLD.grain = 86400 BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id AND day = OLD.t;
END;
CREATE TRIGGER set_days_mark_added AFTER INSERT ON visitor_days BEGIN
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.day;
END;
CREATE TRIGGER set_days_mark_deleted AFTER DELETE ON visitor_days BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id AND day = OLD.day;
END;
CREATE TRIGGER set_days_link_update
    AFTER UPDATE OF folder_id, code, url, title, notes, domain_id ON links
    WHEN OLD.folder_id IS NOT NEW.folder_id OR OLD.code IS NOT NEW.code
      OR OLD.url IS NOT NEW.url OR OLD.title IS NOT NEW.title
      OR OLD.notes IS NOT NEW.notes OR OLD.domain_id IS NOT NEW.domain_id BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER set_days_link_delete AFTER DELETE ON links BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER set_days_tag_added AFTER INSERT ON link_tags BEGIN
    DELETE FROM set_days
     WHERE workspace_id = (SELECT workspace_id FROM links WHERE id = NEW.link_id);
END;
CREATE TRIGGER set_days_tag_removed AFTER DELETE ON link_tags BEGIN
    DELETE FROM set_days
     WHERE workspace_id = (SELECT workspace_id FROM links WHERE id = OLD.link_id);
END;
CREATE TRIGGER set_days_tag_change AFTER UPDATE OF name ON tags BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER set_days_tag_delete AFTER DELETE ON tags BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER set_days_folder_change AFTER UPDATE OF name, parent_id ON folders BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER set_days_folder_delete AFTER DELETE ON folders BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id;
END;
