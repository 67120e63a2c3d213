-- Inserting an event moves the head with it, in the same statement: a consultation's event is
-- one insert (with the id after the head this process last saw; a taken id fails on the primary
-- key and the writer re-reads the head). PostgreSQL moves the head in the insert statement itself.
CREATE TRIGGER audit_events_head AFTER INSERT ON audit_events
BEGIN
    UPDATE audit_head SET events = NEW.id, hash = NEW.hash WHERE id = 1;
END;
