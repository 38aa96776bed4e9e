-- What every process on this database shares besides the data: named secrets (the
-- visitor-hash secret, made once by whichever process needs it first) and the fixed-window
-- request counters behind CLYPT_RATE_LIMIT. Same meaning as SQLite's 0003.
CREATE TABLE secrets (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE rate_limits (
    key          TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
