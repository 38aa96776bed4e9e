-- Clicks spooled to local disk while the store was away (#20): each click id is written here
-- once, in the transaction that records the click, so a spool replayed twice (a crash after the
-- commit, two processes on one file) records nothing the second time. Pruned after 90 days.
CREATE TABLE spooled_clicks (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);
