-- Custom domains (#14). A link's `domain_id` names the domain it is served on; NULL is the
-- server's own host (CLYPT_BASE_URL's), so every existing link stays where it was. Codes are
-- unique per domain, exactly as they were unique on the one domain (letter case counts).
CREATE TABLE domains (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token        TEXT NOT NULL,
    is_default   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    verified_at  INTEGER
);
CREATE UNIQUE INDEX domains_ws_name ON domains(workspace_id, name);
-- a name serves one workspace: only one row of it may be verified
CREATE UNIQUE INDEX domains_verified_name ON domains(name) WHERE verified_at IS NOT NULL;
CREATE UNIQUE INDEX domains_one_default ON domains(workspace_id) WHERE is_default = 1;

ALTER TABLE links ADD COLUMN domain_id TEXT REFERENCES domains(id);
DROP INDEX links_code;
CREATE UNIQUE INDEX links_domain_code ON links(COALESCE(domain_id, ''), code);
CREATE INDEX links_domain ON links(domain_id) WHERE domain_id IS NOT NULL;
