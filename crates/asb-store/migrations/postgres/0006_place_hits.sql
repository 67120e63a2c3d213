-- A place's history reads the index once and fetches only the rows it shows (history.rs,
-- `for_places`): the index carries each report's id, so those rows are found by primary key.
-- The open-matters index served a second pass over the same places and is no longer needed.
DROP INDEX incidents_open_place;
DROP INDEX incidents_place;
CREATE INDEX incidents_place ON incidents (place_id, received_at) INCLUDE (status, id);
