-- Staff accounts (issue 4): an optional second factor, sign-in attempts (for the lock-out after
-- repeated failures), and an index of the people each audit event saw, so "who has looked at
-- person N" is an index lookup however long the log grows.
ALTER TABLE users ADD COLUMN totp_secret TEXT;

CREATE TABLE login_attempts (
    id          INTEGER PRIMARY KEY,
    username    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    succeeded   INTEGER NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);

CREATE TABLE audit_subjects (
    event_id        INTEGER NOT NULL,
    subject_type    TEXT NOT NULL,
    subject_id      TEXT NOT NULL
);
CREATE INDEX audit_subjects_subject ON audit_subjects (subject_type, subject_id, event_id);

-- How far the index has read the log. It is filled after the fact (every few seconds, and
-- before every look-up), not by a trigger: a consultation's audit event stays one cheap insert.
CREATE TABLE audit_subjects_head (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through     INTEGER NOT NULL
);
INSERT INTO audit_subjects_head (id, indexed_through) VALUES (1, 0);
