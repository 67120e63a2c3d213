-- The audit log becomes a hash chain (the scheme is described in the SQLite migration 0002).
ALTER TABLE audit_events ADD COLUMN hash text;

CREATE TABLE audit_head (
    id      integer PRIMARY KEY CHECK (id = 1),
    events  bigint NOT NULL,
    hash    text NOT NULL
);
INSERT INTO audit_head (id, events, hash) VALUES (1, 0, '');
