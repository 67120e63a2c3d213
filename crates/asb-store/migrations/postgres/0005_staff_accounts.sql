-- Staff accounts (issue 4): an optional second factor, sign-in attempts (for the lock-out after
-- repeated failures), and an index of the people each audit event saw (see the SQLite migration).
ALTER TABLE users ADD COLUMN totp_secret text;

CREATE TABLE login_attempts (
    id          bigserial PRIMARY KEY,
    username    text NOT NULL,
    at          timestamptz NOT NULL,
    succeeded   boolean NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);

CREATE TABLE audit_subjects (
    event_id        bigint NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text NOT NULL
);
CREATE INDEX audit_subjects_subject ON audit_subjects (subject_type, subject_id, event_id);

-- How far the index has read the log (filled after the fact; see the SQLite migration).
CREATE TABLE audit_subjects_head (
    id                  integer PRIMARY KEY CHECK (id = 1),
    indexed_through     bigint NOT NULL
);
INSERT INTO audit_subjects_head (id, indexed_through) VALUES (1, 0);
