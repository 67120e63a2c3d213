-- The audit log becomes a hash chain: each event's hash covers its own fields and the hash before
-- it, so altering, removing or reordering any event breaks every hash after it. audit_head holds
-- the latest hash and the count; updating it first serialises writers on PostgreSQL and lets the
-- verifier notice events removed from the end. Events written before this migration are sealed
-- into the chain, in order, when the store next opens.
ALTER TABLE audit_events ADD COLUMN hash TEXT;

CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    events  INTEGER NOT NULL,
    hash    TEXT NOT NULL
);
INSERT INTO audit_head (id, events, hash) VALUES (1, 0, '');
