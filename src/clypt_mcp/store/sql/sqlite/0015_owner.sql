-- Who looks after a link.
ALTER TABLE links ADD COLUMN owner TEXT;
