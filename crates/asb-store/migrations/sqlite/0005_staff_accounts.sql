-- Staff accounts (issue 4): an optional second factor, sign-in attempts (for the lock-out after
-- repeated failures), and an index of the people each audit event saw, so "who has looked at
-- person N" is an index lookup however long the log grows. A trigger fills the index from the
-- event's detail, so a consultation's audit event stays one statement.
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

CREATE TRIGGER audit_events_people AFTER INSERT ON audit_events
WHEN json_type(NEW.detail, '$.people') = 'array'
BEGIN
    INSERT INTO audit_subjects (event_id, subject_type, subject_id)
    SELECT NEW.id, 'person', CAST(value AS TEXT) FROM json_each(NEW.detail, '$.people');
END;

INSERT INTO audit_subjects (event_id, subject_type, subject_id)
SELECT a.id, 'person', CAST(j.value AS TEXT)
FROM audit_events a, json_each(a.detail, '$.people') j
WHERE json_type(a.detail, '$.people') = 'array';
