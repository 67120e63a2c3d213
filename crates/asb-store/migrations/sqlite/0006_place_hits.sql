-- PostgreSQL's 0006 adds each report's id to the place index. SQLite's index entries carry the
-- rowid (the id) already, so there is nothing to change here; the file keeps the two engines'
-- schema versions in step, which `migrate-data` requires.
SELECT 1;
