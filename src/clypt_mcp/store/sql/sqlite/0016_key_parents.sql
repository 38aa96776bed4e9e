-- Which key made a key (#21 item 5): revoking a key revokes every key it made, and theirs, so
-- a key made by a key never outlives it. NULL: made by the CLI (an admin), or before this.
ALTER TABLE api_keys ADD COLUMN parent_id TEXT;
CREATE INDEX api_keys_parent ON api_keys (parent_id);
