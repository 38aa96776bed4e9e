-- Clypt schema 17: the per-set day cache (0015) keeps a set's conversion figures too (#15).
-- Same meaning as SQLite's 0017: a cached day of a set also holds the sums of its links' day
-- rows of `conversion_rollups` (dims 'conv:*', 'conv:$', 'conv:country', 'conv:device',
-- 'conv:referrer', 'conv:variant', 'conv:link'); the days cached before this carry none and
-- are dropped. A change to the conversion rollups of a day forgets that day of the workspace
-- through `set_days_rollup()` (0015), which first takes the workspace's advisory lock in
-- shared mode, so a fill (which tries it in exclusive mode) never caches a day beside an
-- uncommitted conversion.
DELETE FROM set_days;

CREATE TRIGGER set_days_conversions_added AFTER INSERT ON conversion_rollups
    FOR EACH ROW WHEN (NEW.grain = 86400) EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_conversions_counted AFTER UPDATE OF conversions, revenue
    ON conversion_rollups
    FOR EACH ROW WHEN (NEW.grain = 86400 AND NEW.link_id = '' AND NEW.dim = '*')
    EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_conversions_rewritten
    AFTER UPDATE OF workspace_id, link_id, grain, dim, t, key, event, currency
    ON conversion_rollups
    FOR EACH ROW WHEN (OLD.grain = 86400 OR NEW.grain = 86400) EXECUTE FUNCTION set_days_rollup();
CREATE TRIGGER set_days_conversions_deleted AFTER DELETE ON conversion_rollups
    FOR EACH ROW WHEN (OLD.grain = 86400) EXECUTE FUNCTION set_days_rollup();
