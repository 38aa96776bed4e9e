-- Clypt schema 17: the per-set day cache (0015) keeps a set's conversion figures too (#15).
--
-- A cached day of a set now also holds the sums of its links' day rows of
-- `conversion_rollups` (dims 'conv:*' and 'conv:$': conversions and value per currency and
-- event, key 'CURRENCY:EVENT'; 'conv:country', 'conv:device', 'conv:referrer',
-- 'conv:variant'; 'conv:link' per member link), written by the same fill as its clicks, so a
-- set's conversion figures read as few rows as its clicks. The days cached before this carry
-- none, so they are dropped (the next query fills them again).
--
-- A change to the conversion rollups of a day forgets that day of the workspace, as a change
-- to its click rollups does: a new row of the day; a change to the workspace's total of the
-- day for an event and currency (every conversion adds to it, and a link deleted for good
-- takes its conversions from it); a row of the day rewritten or deleted. Changes to which
-- links a set holds already forget the whole workspace (0015).
DELETE FROM set_days;

CREATE TRIGGER set_days_conversions_added AFTER INSERT ON conversion_rollups
    WHEN NEW.grain = 86400 BEGIN
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.t;
END;
CREATE TRIGGER set_days_conversions_counted AFTER UPDATE OF conversions, revenue
    ON conversion_rollups WHEN NEW.grain = 86400 AND NEW.link_id = '' AND NEW.dim = '*' BEGIN
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.t;
END;
CREATE TRIGGER set_days_conversions_rewritten
    AFTER UPDATE OF workspace_id, link_id, grain, dim, t, key, event, currency
    ON conversion_rollups WHEN OLD.grain = 86400 OR NEW.grain = 86400 BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id AND day = OLD.t;
    DELETE FROM set_days WHERE workspace_id = NEW.workspace_id AND day = NEW.t;
END;
CREATE TRIGGER set_days_conversions_deleted AFTER DELETE ON conversion_rollups
    WHEN OLD.grain = 86400 BEGIN
    DELETE FROM set_days WHERE workspace_id = OLD.workspace_id AND day = OLD.t;
END;
