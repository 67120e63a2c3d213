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

CREATE FUNCTION asb_audit_people() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(NEW.detail -> 'people') = 'array' THEN
        INSERT INTO audit_subjects (event_id, subject_type, subject_id)
        SELECT NEW.id, 'person', p #>> '{}' FROM jsonb_array_elements(NEW.detail -> 'people') AS p;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_events_people AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION asb_audit_people();

INSERT INTO audit_subjects (event_id, subject_type, subject_id)
SELECT a.id, 'person', p #>> '{}'
FROM audit_events a, jsonb_array_elements(a.detail -> 'people') AS p
WHERE jsonb_typeof(a.detail -> 'people') = 'array';
