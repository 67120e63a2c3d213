-- Schema version 11: the index of the people each audit event saw is written with the event, by a
-- trigger, instead of by a batch every few seconds. SQLite has one writer: a batch of two thousand
-- events held it for 40 ms, and first-contact checks queued behind it for their own events. Each
-- event's few index rows cost microseconds in its own insert, and a look-up never writes.
INSERT INTO audit_subjects (event_id, subject_type, subject_id)
SELECT a.id, 'person', CAST(j.value AS TEXT)
FROM audit_events a, json_each(a.detail, '$.people') AS j
WHERE a.id > (SELECT indexed_through FROM audit_subjects_head WHERE id = 1)
  AND json_type(a.detail, '$.people') = 'array';

DROP TABLE audit_subjects_head;

CREATE TRIGGER audit_events_subjects AFTER INSERT ON audit_events
WHEN json_type(NEW.detail, '$.people') = 'array'
BEGIN
    INSERT INTO audit_subjects (event_id, subject_type, subject_id)
    SELECT NEW.id, 'person', CAST(j.value AS TEXT) FROM json_each(NEW.detail, '$.people') AS j;
END;
