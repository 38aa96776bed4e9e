-- Dashboard sign-ins (#18), kept on the server so every process on this database knows them and
-- signing out (or revoking the key) ends them everywhere. The cookie holds a random token; only
-- its SHA-256 is stored here. A session names the API key it was opened with by id, never by
-- the key itself; the key's scopes, revocation and expiry are checked on every request.
CREATE TABLE web_sessions (
    token_hash   TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
