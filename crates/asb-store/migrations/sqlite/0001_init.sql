-- asb schema v1 (SQLite). Times are UTC seconds since the Unix epoch; dates are ISO text.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,       -- short stable code: 'MPS', 'MPS-CMD', 'LBC-CAMDEN'
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,              -- force | borough | council | housing | victim_support | other
    parent_id   INTEGER REFERENCES organisations(id),
    ons_code    TEXT,
    lat         REAL,
    lon         REAL
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    roles           TEXT NOT NULL DEFAULT '',   -- comma-separated role names; grows into a roles table
    password_hash   TEXT,
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,           -- sha256 of the token; the token itself is never stored
    kind        TEXT NOT NULL DEFAULT 'api',    -- api | session
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);

CREATE TABLE places (
    id              INTEGER PRIMARY KEY,
    address         TEXT,
    address_norm    TEXT,
    postcode        TEXT,
    lat             REAL,
    lon             REAL,
    h3              INTEGER,                    -- H3 cell (res 11) of (lat, lon), bit-cast to i64
    borough_id      INTEGER REFERENCES organisations(id),
    created_at      INTEGER NOT NULL
);
CREATE INDEX places_address ON places(postcode, address_norm);
-- Covering, so the radius search filters by bounding box without touching the table.
CREATE INDEX places_h3 ON places(h3, lat, lon);
CREATE INDEX places_address_norm ON places(address_norm);

CREATE TABLE people (
    id              INTEGER PRIMARY KEY,
    name            TEXT,
    name_norm       TEXT,
    name_key        TEXT,                       -- phonetic key of the name
    date_of_birth   TEXT,                       -- YYYY-MM-DD
    phone           TEXT,                       -- E.164
    address         TEXT,
    postcode        TEXT,
    home_place_id   INTEGER REFERENCES places(id),
    description     TEXT,                       -- for subjects known only by description
    created_at      INTEGER NOT NULL
);
CREATE INDEX people_phone ON people(phone) WHERE phone IS NOT NULL;
CREATE INDEX people_name_key ON people(name_key, date_of_birth) WHERE name_key IS NOT NULL;
CREATE INDEX people_name_norm ON people(name_norm) WHERE name_norm IS NOT NULL;
CREATE INDEX people_home ON people(home_place_id) WHERE home_place_id IS NOT NULL;

CREATE TABLE reference_counters (
    year        INTEGER PRIMARY KEY,
    next_value  INTEGER NOT NULL
);

CREATE TABLE incidents (
    id                      INTEGER PRIMARY KEY,
    reference               TEXT NOT NULL UNIQUE,
    organisation_id         INTEGER NOT NULL REFERENCES organisations(id),
    received_at             INTEGER NOT NULL,
    place_id                INTEGER REFERENCES places(id),
    opening_category        TEXT NOT NULL,      -- personal | nuisance | environmental
    opening_type_code       INTEGER NOT NULL,
    category                TEXT NOT NULL,      -- current (closing) values; differ only after a recorded change
    type_code               INTEGER NOT NULL,
    narrative               TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'open',   -- open | closed
    closed_at               INTEGER,
    risk_score              INTEGER,
    risk_level              TEXT,               -- standard | medium | high (after any override)
    risk_assessed_level     TEXT,               -- the level the questionnaire gave
    risk_questionnaire      TEXT,               -- questionnaire id@version
    risk_answers            TEXT,               -- JSON object question_id -> bool
    risk_override_reason    TEXT,
    self_reported_repeat    INTEGER NOT NULL DEFAULT 0,
    verdicts                TEXT,               -- JSON: the verdicts shown at the call, with rule ids and versions
    created_by              INTEGER REFERENCES users(id),
    created_at              INTEGER NOT NULL
);
-- Covers the place counts of the first-contact check without touching the table.
CREATE INDEX incidents_place ON incidents(place_id, received_at, status);
CREATE INDEX incidents_received ON incidents(received_at);

CREATE TABLE incident_qualifiers (
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    code            INTEGER NOT NULL,
    applied_by      TEXT NOT NULL,              -- system | user
    reason          TEXT,
    PRIMARY KEY (incident_id, code)
);
CREATE INDEX incident_qualifiers_code ON incident_qualifiers(code, incident_id);

-- The role of each person in an incident. Subjects known only by description have no person.
CREATE TABLE incident_people (
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    person_id       INTEGER REFERENCES people(id),
    role            TEXT NOT NULL,              -- victim | reporter | witness | subject
    description     TEXT
);
CREATE INDEX incident_people_incident ON incident_people(incident_id);
CREATE INDEX incident_people_person ON incident_people(person_id, incident_id) WHERE person_id IS NOT NULL;

-- One report of an incident: who, when, by which channel, to which organisation.
CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY,
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    person_id       INTEGER REFERENCES people(id),
    organisation_id INTEGER NOT NULL REFERENCES organisations(id),
    channel         TEXT NOT NULL,              -- phone_101 | phone_999 | online | in_person | email | partner_referral
    received_at     INTEGER NOT NULL,
    taken_by        INTEGER REFERENCES users(id)
);
CREATE INDEX contacts_incident ON contacts(incident_id);

-- Append-only record of collection, alteration, consultation and disclosure.
CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    user_id         INTEGER REFERENCES users(id),
    action          TEXT NOT NULL,              -- collection | alteration | consultation | disclosure | erasure
    subject_type    TEXT NOT NULL,              -- incident | person | place | search | token
    subject_id      TEXT,
    purpose         TEXT NOT NULL,
    detail          TEXT                        -- JSON; never holds the searched-for personal data in logs
);
CREATE INDEX audit_events_subject ON audit_events(subject_type, subject_id);
