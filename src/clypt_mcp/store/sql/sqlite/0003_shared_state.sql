-- What every process on this database shares besides the data: named secrets (the
-- visitor-hash secret, made once by whichever process needs it first) and the fixed-window
-- request counters behind CLYPT_RATE_LIMIT. A counter's key names an API key by its id (or a
-- workspace), never by the key itself; a key's older windows go when its next window starts.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
