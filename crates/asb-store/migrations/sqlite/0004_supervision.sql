-- Schema version 4: supervision (DOMAIN.md §4, §6). The reviews each medium- or high-risk police
-- incident has falling due, the reviews done, every change a review made (the values before and
-- after, so the opening and closing values are both kept), the weekly quality dip sample, and
-- the updates given to victims. Rows carry the incident's receipt time, reference and borough as
-- recorded, so the queues and the measures read these tables alone.

-- One row per rank whose review of an incident is pending: the supervisors' queues.
CREATE TABLE review_schedule (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    received_at     INTEGER NOT NULL,
    reference       TEXT NOT NULL,
    borough_id      INTEGER REFERENCES organisations(id),   -- the place's borough
    role            TEXT NOT NULL,              -- sergeant | inspector | chief_inspector
    kind            TEXT NOT NULL,              -- first | cadence
    due_at          INTEGER NOT NULL,
    UNIQUE (incident_id, role)
);
-- A borough's queue, overdue first; the force-wide queue; reviews falling due in a month.
CREATE INDEX review_schedule_queue ON review_schedule(borough_id, role, due_at);
CREATE INDEX review_schedule_due ON review_schedule(role, due_at);

CREATE TABLE reviews (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    received_at     INTEGER NOT NULL,
    borough_id      INTEGER REFERENCES organisations(id),
    reviewer_id     INTEGER REFERENCES users(id),  -- NULL for imported or generated reviews
    role            TEXT NOT NULL,
    kind            TEXT,                       -- first | cadence; NULL when none was due
    reviewed_at     INTEGER NOT NULL,
    due_at          INTEGER,
    on_time         INTEGER,                    -- reviewed_at <= due_at; NULL when none was due
    outcome         TEXT NOT NULL,              -- confirmed | changed
    risk_level      TEXT,                       -- the level the review left
    reason          TEXT
);
CREATE INDEX reviews_incident ON reviews(incident_id, reviewed_at);
CREATE INDEX reviews_due ON reviews(due_at) WHERE due_at IS NOT NULL;

-- Each field a review changed: category | type_code | qualifiers | risk_level.
CREATE TABLE incident_changes (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    field           TEXT NOT NULL,
    old_value       TEXT,
    new_value       TEXT,
    reason          TEXT NOT NULL,
    changed_by      INTEGER REFERENCES users(id),
    changed_at      INTEGER NOT NULL,
    review_id       INTEGER REFERENCES reviews(id)
);
CREATE INDEX incident_changes_incident ON incident_changes(incident_id, id);

-- The week's quality sample: records drawn per borough, and a supervisor's checklist answers.
CREATE TABLE dip_samples (
    id              INTEGER PRIMARY KEY,
    borough_id      INTEGER NOT NULL REFERENCES organisations(id),
    week            TEXT NOT NULL,              -- ISO week, 2026-W48
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    received_at     INTEGER NOT NULL,
    reference       TEXT NOT NULL,
    sample_order    INTEGER NOT NULL,           -- 1 = lowest rank in the draw
    drawn_at        INTEGER NOT NULL,
    checked_by      INTEGER REFERENCES users(id),
    checked_at      INTEGER,
    answers         TEXT,                       -- JSON: checklist item id -> yes/no
    note            TEXT,
    passed          INTEGER,
    UNIQUE (borough_id, week, incident_id)
);
CREATE INDEX dip_samples_received ON dip_samples(received_at);

-- Each time the victim was told how things stand.
CREATE TABLE victim_updates (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    received_at     INTEGER NOT NULL,
    borough_id      INTEGER REFERENCES organisations(id),
    user_id         INTEGER REFERENCES users(id),
    at              INTEGER NOT NULL,
    channel         TEXT NOT NULL,              -- phone | email | letter | text | visit | in_person
    note            TEXT
);
CREATE INDEX victim_updates_incident ON victim_updates(incident_id, at);
-- Covers the first-update measure: incidents received in a month, and their updates.
CREATE INDEX victim_updates_received ON victim_updates(received_at, incident_id, at, borough_id);
