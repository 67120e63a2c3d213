-- Schema version 11: the index of the people each audit event saw is written with the event, by a
-- trigger, instead of by a batch every few seconds: the batch's transaction held the index's head
-- row (and, on SQLite, the one writer) while checks waited to write their own events. Each
-- event's few index rows are written in its own insert, and a look-up never writes.
INSERT INTO audit_subjects (event_id, subject_type, subject_id)
SELECT a.id, 'person', j.value
FROM audit_events a, jsonb_array_elements_text(a.detail -> 'people') AS j(value)
WHERE a.id > (SELECT indexed_through FROM audit_subjects_head WHERE id = 1)
  AND jsonb_typeof(a.detail -> 'people') = 'array';

DROP TABLE audit_subjects_head;

CREATE FUNCTION audit_events_subjects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_subjects (event_id, subject_type, subject_id)
    SELECT NEW.id, 'person', j.value FROM jsonb_array_elements_text(NEW.detail -> 'people') AS j(value);
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_subjects AFTER INSERT ON audit_events
FOR EACH ROW WHEN (jsonb_typeof(NEW.detail -> 'people') = 'array')
EXECUTE FUNCTION audit_events_subjects();
