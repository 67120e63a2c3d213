-- asb schema (PostgreSQL). The same tables as the SQLite schema, with PostgreSQL's own types:
-- timestamptz for moments, date for dates of birth, jsonb for structured answers and verdicts,
-- boolean for flags. Incidents are partitioned by year of receipt, so a decade of national data
-- stays fast to query (queries on recent months touch one or two partitions) and cheap to prune
-- (a year past retention is one DROP TABLE).

CREATE TABLE organisations (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    kind        text NOT NULL,
    parent_id   bigint REFERENCES organisations(id),
    ons_code    text,
    lat         double precision,
    lon         double precision
);

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE,
    display_name    text NOT NULL,
    organisation_id bigint NOT NULL REFERENCES organisations(id),
    roles           text NOT NULL DEFAULT '',
    password_hash   text,
    created_at      timestamptz NOT NULL,
    disabled_at     timestamptz
);

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id),
    token_hash  text NOT NULL UNIQUE,
    kind        text NOT NULL DEFAULT 'api',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz
);

CREATE TABLE places (
    id              bigserial PRIMARY KEY,
    address         text,
    address_norm    text,
    postcode        text,
    lat             double precision,
    lon             double precision,
    h3              bigint,
    borough_id      bigint REFERENCES organisations(id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX places_address ON places (postcode, address_norm);
-- Covering, so the radius search filters by bounding box with an index-only scan.
CREATE INDEX places_h3 ON places (h3, lat, lon);
CREATE INDEX places_address_norm ON places (address_norm);

CREATE TABLE people (
    id              bigserial PRIMARY KEY,
    name            text,
    name_norm       text,
    name_key        text,
    date_of_birth   date,
    phone           text,
    address         text,
    postcode        text,
    home_place_id   bigint REFERENCES places(id),
    description     text,
    created_at      timestamptz NOT NULL
);
CREATE INDEX people_phone ON people (phone) WHERE phone IS NOT NULL;
CREATE INDEX people_name_key ON people (name_key, date_of_birth) WHERE name_key IS NOT NULL;
CREATE INDEX people_name_norm ON people (name_norm) WHERE name_norm IS NOT NULL;
CREATE INDEX people_home ON people (home_place_id, name_key) WHERE home_place_id IS NOT NULL;

CREATE TABLE reference_counters (
    year        integer PRIMARY KEY,
    next_value  bigint NOT NULL
);

-- A partitioned table's unique keys must include the partition key, so the primary key is
-- (id, received_at) and the reference is unique within each year's partition; as a reference
-- carries the year it was received in (ASB-26-…), that makes it unique overall. Tables that
-- point at an incident do so by id without a foreign key (PostgreSQL cannot reference a
-- partitioned table by part of its key); the store writes an incident and its rows in one
-- transaction and never deletes one without the other.
CREATE TABLE incidents (
    id                      bigserial,
    reference               text NOT NULL,
    organisation_id         bigint NOT NULL REFERENCES organisations(id),
    received_at             timestamptz NOT NULL,
    place_id                bigint REFERENCES places(id),
    opening_category        text NOT NULL,
    opening_type_code       integer NOT NULL,
    category                text NOT NULL,
    type_code               integer NOT NULL,
    narrative               text NOT NULL,
    status                  text NOT NULL DEFAULT 'open',
    closed_at               timestamptz,
    risk_score              integer,
    risk_level              text,
    risk_assessed_level     text,
    risk_questionnaire      text,
    risk_answers            jsonb,
    risk_override_reason    text,
    self_reported_repeat    boolean NOT NULL DEFAULT false,
    verdicts                jsonb,
    created_by              bigint REFERENCES users(id),
    created_at              timestamptz NOT NULL,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
-- Covers the place counts of the first-contact check (index-only once vacuumed).
CREATE INDEX incidents_place ON incidents (place_id, received_at) INCLUDE (status);
-- The open matters at a place: an index-only scan over the few incidents still open.
CREATE INDEX incidents_open_place ON incidents (place_id, received_at) INCLUDE (reference) WHERE status = 'open';
CREATE INDEX incidents_received ON incidents (received_at);

-- One partition per calendar year (UTC), with the reference unique inside it.
CREATE FUNCTION asb_incident_partition(y integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    part text := format('incidents_%s', y);
BEGIN
    IF to_regclass(part) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF incidents FOR VALUES FROM (%L) TO (%L)',
            part, make_timestamptz(y, 1, 1, 0, 0, 0, 'UTC'), make_timestamptz(y + 1, 1, 1, 0, 0, 0, 'UTC'));
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (reference)', part || '_reference', part);
    END IF;
END $$;

DO $$
BEGIN
    FOR y IN 2010..2035 LOOP
        PERFORM asb_incident_partition(y);
    END LOOP;
END $$;
-- Anything outside the years above (historic imports, a mistyped date) still has a home.
CREATE TABLE incidents_other PARTITION OF incidents DEFAULT;
CREATE INDEX incidents_other_reference ON incidents_other (reference);

CREATE TABLE incident_qualifiers (
    incident_id     bigint NOT NULL,
    code            integer NOT NULL,
    applied_by      text NOT NULL,
    reason          text,
    PRIMARY KEY (incident_id, code)
);
CREATE INDEX incident_qualifiers_code ON incident_qualifiers (code, incident_id);

CREATE TABLE incident_people (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL,
    person_id       bigint REFERENCES people(id),
    role            text NOT NULL,
    description     text
);
CREATE INDEX incident_people_incident ON incident_people (incident_id);
CREATE INDEX incident_people_person ON incident_people (person_id, incident_id) WHERE person_id IS NOT NULL;

CREATE TABLE contacts (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL,
    person_id       bigint REFERENCES people(id),
    organisation_id bigint NOT NULL REFERENCES organisations(id),
    channel         text NOT NULL,
    received_at     timestamptz NOT NULL,
    taken_by        bigint REFERENCES users(id)
);
CREATE INDEX contacts_incident ON contacts (incident_id);

-- Append-only record of collection, alteration, consultation and disclosure.
CREATE TABLE audit_events (
    id              bigint PRIMARY KEY,
    at              timestamptz NOT NULL,
    user_id         bigint REFERENCES users(id),
    action          text NOT NULL,
    subject_type    text NOT NULL,
    subject_id      text,
    purpose         text NOT NULL,
    detail          jsonb
);
CREATE INDEX audit_events_subject ON audit_events (subject_type, subject_id);
