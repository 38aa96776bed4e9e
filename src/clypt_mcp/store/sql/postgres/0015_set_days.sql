-- Clypt schema 15: one cache of whole past UTC days per set of links (#11 acceptance 6). Same
-- meaning as SQLite's 0015: per set (`set_key`) and whole past UTC day, the sums of its links'
-- day rollups per dimension, key and bot flag, its exact unique visitors (dim 'uniques') and a
-- marker (dim '', n the stamp of the fill); it replaces `unique_days`.
--
-- The same changes forget a day of a workspace or all of it. Here writers run side by side, so
-- each trigger first takes the workspace's advisory lock in shared mode, and a fill tries the
-- same lock in exclusive mode (never waiting: a fill that cannot have it at once is skipped):
-- a change whose trigger ran before the fill began is committed before the fill reads, and a
-- change whose trigger runs after it waits for the fill to commit, then forgets what it wrote.
DROP TRIGGER unique_days_mark ON visitor_days;
DROP TRIGGER unique_days_link_update ON links;
DROP TRIGGER unique_days_link_delete ON links;
DROP TRIGGER unique_days_tags ON link_tags;
DROP TRIGGER unique_days_tag_change ON tags;
DROP TRIGGER unique_days_folder_change ON folders;
DROP FUNCTION unique_days_forget();
DROP TABLE unique_days;

CREATE TABLE set_days (
    workspace_id TEXT COLLATE "C" NOT NULL,
    set_key      TEXT COLLATE "C" NOT NULL,
    dim          TEXT COLLATE "C" NOT NULL,
    day          BIGINT NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    bot          SMALLINT NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, set_key, dim, day, key, bot)
);
-- What the triggers forget a day of a workspace by (the primary key serves a whole workspace).
-- Day first: a set's reads (workspace, set, dimension, a range of days) then take the primary
-- key; with (workspace_id, day) PostgreSQL's planner chose this index and filtered 7 rows in 8.
CREATE INDEX set_days_by_day ON set_days (day, workspace_id);

-- Forget day `d` of workspace `ws` (every day when `d` is NULL).
CREATE FUNCTION set_days_drop(ws TEXT, d BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ws IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('clypt.sets:' || ws, 0));
    IF d IS NULL THEN
        DELETE FROM set_days WHERE workspace_id = ws;
    ELSE
        DELETE FROM set_days WHERE workspace_id = ws AND day = d;
    END IF;
END $$;

CREATE FUNCTION set_days_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM set_days_drop(OLD.workspace_id, OLD.t);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.workspace_id, NEW.t)
                                IS DISTINCT FROM (OLD.workspace_id, OLD.t)) THEN
        PERFORM set_days_drop(NEW.workspace_id, NEW.t);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION set_days_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM set_days_drop(NEW.workspace_id, NEW.day);
    ELSE
        PERFORM set_days_drop(OLD.workspace_id, OLD.day);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION set_days_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'link_tags' THEN
        PERFORM set_days_drop((SELECT workspace_id FROM links
                                WHERE id = COALESCE(NEW.link_id, OLD.link_id)), NULL);
    ELSE
        PERFORM set_days_drop(OLD.workspace_id, NULL);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER set_days_rollup_added AFTER INSERT ON rollups
    FOR EACH ROW WHEN (NEW.grain = 86400) EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_rollup_counted AFTER UPDATE OF clicks ON rollups
    FOR EACH ROW WHEN (NEW.grain = 86400 AND NEW.link_id = '' AND NEW.dim = '*')
    EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_rollup_rewritten
    AFTER UPDATE OF workspace_id, link_id, grain, dim, t, key, bot ON rollups
    FOR EACH ROW WHEN (OLD.grain = 86400 OR NEW.grain = 86400) EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_rollup_deleted AFTER DELETE ON rollups
    FOR EACH ROW WHEN (OLD.grain = 86400) EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_mark_changed AFTER INSERT OR DELETE ON visitor_days
    FOR EACH ROW EXECUTE FUNCTION set_days_mark();
CREATE TRIGGER set_days_link_update
    AFTER UPDATE OF folder_id, code, url, title, notes, domain_id ON links
    FOR EACH ROW WHEN ((OLD.folder_id, OLD.code, OLD.url, OLD.title, OLD.notes, OLD.domain_id)
                       IS DISTINCT FROM
                       (NEW.folder_id, NEW.code, NEW.url, NEW.title, NEW.notes, NEW.domain_id))
    EXECUTE FUNCTION set_days_membership();
CREATE TRIGGER set_days_link_delete AFTER DELETE ON links
    FOR EACH ROW EXECUTE FUNCTION set_days_membership();
CREATE TRIGGER set_days_tags AFTER INSERT OR DELETE ON link_tags
    FOR EACH ROW EXECUTE FUNCTION set_days_membership();
CREATE TRIGGER set_days_tag_change AFTER UPDATE OF name OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION set_days_membership();
CREATE TRIGGER set_days_folder_change AFTER UPDATE OF name, parent_id OR DELETE ON folders
    FOR EACH ROW EXECUTE FUNCTION set_days_membership();
