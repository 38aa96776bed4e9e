-- Custom domains (#14), as SQLite's 0011: `links.domain_id` NULL is the server's own host, so
-- existing links keep it; codes are unique per domain (letter case counts, as before).
CREATE TABLE domains (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    token        TEXT NOT NULL,
    is_default   SMALLINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    verified_at  BIGINT
);
CREATE UNIQUE INDEX domains_ws_name ON domains (workspace_id, name);
CREATE UNIQUE INDEX domains_verified_name ON domains (name) WHERE verified_at IS NOT NULL;
CREATE UNIQUE INDEX domains_one_default ON domains (workspace_id) WHERE is_default = 1;

ALTER TABLE links ADD COLUMN domain_id TEXT COLLATE "C" REFERENCES domains(id);
DROP INDEX links_code;
CREATE UNIQUE INDEX links_domain_code ON links (COALESCE(domain_id, ''), code);
CREATE INDEX links_domain ON links (domain_id) WHERE domain_id IS NOT NULL;
