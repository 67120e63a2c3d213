-- Schema version 4: supervision (the tables are described in the SQLite migration 0004). As
-- elsewhere, rows pointing at an incident carry its id (and receipt time) without a foreign key,
-- since incidents are partitioned; they are written in the same transaction as the change.

CREATE TABLE review_schedule (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL,
    received_at     timestamptz NOT NULL,
    reference       text NOT NULL,
    borough_id      bigint REFERENCES organisations(id),
    role            text NOT NULL,
    kind            text NOT NULL,
    due_at          timestamptz NOT NULL,
    UNIQUE (incident_id, role)
);
CREATE INDEX review_schedule_queue ON review_schedule (borough_id, role, due_at);
CREATE INDEX review_schedule_due ON review_schedule (role, due_at);

CREATE TABLE reviews (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL,
    received_at     timestamptz NOT NULL,
    borough_id      bigint REFERENCES organisations(id),
    reviewer_id     bigint REFERENCES users(id),
    role            text NOT NULL,
    kind            text,
    reviewed_at     timestamptz NOT NULL,
    due_at          timestamptz,
    on_time         boolean,
    outcome         text NOT NULL,
    risk_level      text,
    reason          text
);
CREATE INDEX reviews_incident ON reviews (incident_id, reviewed_at);
CREATE INDEX reviews_due ON reviews (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE incident_changes (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL,
    field           text NOT NULL,
    old_value       text,
    new_value       text,
    reason          text NOT NULL,
    changed_by      bigint REFERENCES users(id),
    changed_at      timestamptz NOT NULL,
    review_id       bigint REFERENCES reviews(id)
);
CREATE INDEX incident_changes_incident ON incident_changes (incident_id, id);

CREATE TABLE dip_samples (
    id              bigserial PRIMARY KEY,
    borough_id      bigint NOT NULL REFERENCES organisations(id),
    week            text NOT NULL,
    incident_id     bigint NOT NULL,
    received_at     timestamptz NOT NULL,
    reference       text NOT NULL,
    sample_order    integer NOT NULL,
    drawn_at        timestamptz NOT NULL,
    checked_by      bigint REFERENCES users(id),
    checked_at      timestamptz,
    answers         jsonb,
    note            text,
    passed          boolean,
    UNIQUE (borough_id, week, incident_id)
);
CREATE INDEX dip_samples_received ON dip_samples (received_at);

CREATE TABLE victim_updates (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL,
    received_at     timestamptz NOT NULL,
    borough_id      bigint REFERENCES organisations(id),
    user_id         bigint REFERENCES users(id),
    at              timestamptz NOT NULL,
    channel         text NOT NULL,
    note            text
);
CREATE INDEX victim_updates_incident ON victim_updates (incident_id, at);
CREATE INDEX victim_updates_received ON victim_updates (received_at, incident_id) INCLUDE (at, borough_id);
