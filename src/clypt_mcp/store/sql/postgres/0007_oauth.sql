-- OAuth 2.1 for /mcp (issue #13): registered clients, authorization requests waiting for the
-- person's consent, the grants they approved ("connected apps"), the codes and tokens issued
-- under a grant, and one-time sign-in links. Every secret is stored as its SHA-256 hash.
-- Same meaning as SQLite's 0007, times are microseconds since the epoch.
CREATE TABLE oauth_clients (
    client_id  TEXT COLLATE "C" PRIMARY KEY,
    info       TEXT NOT NULL,            -- client metadata (JSON), client_secret as its hash
    kind       TEXT NOT NULL,            -- 'dcr' (registered) or 'cimd' (metadata document)
    created_at BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL          -- a metadata document is fetched again when stale
);

CREATE TABLE oauth_requests (
    hash       TEXT COLLATE "C" PRIMARY KEY,         -- of the handle in the consent page's URL
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,            -- the validated authorization request (JSON)
    expires_at BIGINT NOT NULL
);

CREATE TABLE oauth_grants (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    client_name  TEXT NOT NULL,
    redirect_host TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    key_id       TEXT,                   -- the API key that approved it, NULL for a sign-in link
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    UNIQUE (workspace_id, client_id)
);
CREATE INDEX oauth_grants_key ON oauth_grants (key_id);

CREATE TABLE oauth_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT NOT NULL,            -- 'code', 'access' or 'refresh'
    grant_id   TEXT NOT NULL,
    family     TEXT NOT NULL,            -- one per authorization: a reused refresh token ends it
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    resource   TEXT,
    data       TEXT,                     -- a code's PKCE challenge and redirect URI (JSON)
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,                  -- codes and refresh tokens are spent once
    revoked_at BIGINT
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);

CREATE TABLE signin_links (
    hash         TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
