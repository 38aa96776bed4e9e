-- Clypt schema 1. Times are integer microseconds since the Unix epoch (UTC), clicks' in seconds.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

CREATE TABLE folders (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    parent_id    TEXT REFERENCES folders(id) ON DELETE RESTRICT,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX folders_unique_name ON folders(workspace_id, IFNULL(parent_id, ''), name COLLATE NOCASE);
CREATE INDEX folders_parent ON folders(parent_id);

CREATE TABLE links (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    code            TEXT NOT NULL,
    url             TEXT NOT NULL,
    title           TEXT,
    notes           TEXT,
    folder_id       TEXT REFERENCES folders(id) ON DELETE SET NULL,
    utm_source      TEXT,
    utm_medium      TEXT,
    utm_campaign    TEXT,
    utm_term        TEXT,
    utm_content     TEXT,
    starts_at       INTEGER,
    expires_at      INTEGER,
    max_clicks      INTEGER,
    password_hash   TEXT,
    variants        TEXT,
    geo             TEXT,
    devices         TEXT,
    disabled        INTEGER NOT NULL DEFAULT 0,
    clicks          INTEGER NOT NULL DEFAULT 0,
    redirects       INTEGER NOT NULL DEFAULT 0,
    last_clicked_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);
CREATE UNIQUE INDEX links_code ON links(code);
CREATE INDEX links_ws_created ON links(workspace_id, created_at, id);
CREATE INDEX links_ws_clicks ON links(workspace_id, clicks, id);
CREATE INDEX links_ws_code ON links(workspace_id, code);
CREATE INDEX links_ws_folder ON links(workspace_id, folder_id);
CREATE INDEX links_ws_deleted ON links(workspace_id, deleted_at);

CREATE TABLE tags (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    color        TEXT,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX tags_unique_name ON tags(workspace_id, name COLLATE NOCASE);

CREATE TABLE link_tags (
    link_id TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    tag_id  TEXT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (link_id, tag_id)
);
CREATE INDEX link_tags_tag ON link_tags(tag_id, link_id);

CREATE TABLE clicks (
    id           INTEGER PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    link_id      TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    ts           INTEGER NOT NULL,
    variant      TEXT,
    country      TEXT,
    device       TEXT,
    browser      TEXT,
    os           TEXT,
    referrer     TEXT,
    visitor      TEXT,
    bot          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX clicks_ws_ts ON clicks(workspace_id, ts);
CREATE INDEX clicks_link_ts ON clicks(link_id, ts);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_keys_ws ON api_keys(workspace_id, revoked_at);

CREATE TABLE idempotency (
    workspace_id TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
