-- Schema version 3 on both engines. On SQLite this version adds a trigger that moves the audit
-- chain's head when an event is inserted; on PostgreSQL the insert statement moves the head itself
-- (audit.rs, `append`), taking the head row first, so there is nothing to add here.
SELECT 1;
