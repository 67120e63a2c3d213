-- Published data.police.uk street-level records (issue 5); see the SQLite migration.
CREATE TABLE police_uk_imports (
    id                  bigserial PRIMARY KEY,
    source              text NOT NULL,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    rows_read           bigint NOT NULL DEFAULT 0,
    imported            bigint NOT NULL DEFAULT 0,
    duplicates          bigint NOT NULL DEFAULT 0,
    quarantined         bigint NOT NULL DEFAULT 0,
    skipped_other_crime bigint NOT NULL DEFAULT 0
);

CREATE TABLE historical_incidents (
    id              bigserial PRIMARY KEY,
    key_hi          bigint NOT NULL,
    key_lo          bigint NOT NULL,
    import_id       bigint NOT NULL REFERENCES police_uk_imports(id),
    month           text NOT NULL,
    force           text NOT NULL,
    reported_by     text NOT NULL,
    crime_type      text NOT NULL,
    crime_id        text,
    category        text,
    lat             double precision,
    lon             double precision,
    location        text,
    lsoa_code       text,
    lsoa_name       text,
    outcome         text,
    context         text,
    h3              bigint,
    area_code       text
);
CREATE UNIQUE INDEX historical_incidents_key ON historical_incidents (key_hi, key_lo);
CREATE INDEX historical_incidents_force_month ON historical_incidents (force, crime_type, month);
CREATE INDEX historical_incidents_area_month ON historical_incidents (area_code, month);

CREATE TABLE import_quarantine (
    id              bigserial PRIMARY KEY,
    import_id       bigint NOT NULL REFERENCES police_uk_imports(id),
    source          text NOT NULL,
    line            bigint NOT NULL,
    reason          text NOT NULL,
    raw             text NOT NULL,
    quarantined_at  timestamptz NOT NULL,
    resolved_at     timestamptz
);
CREATE INDEX import_quarantine_open ON import_quarantine (resolved_at, id);
CREATE INDEX import_quarantine_source ON import_quarantine (source, line);

-- `id` only keeps insertion order for `migrate-data` (as on SQLite's rowid).
CREATE TABLE lsoa_lookup (
    id          bigserial NOT NULL,
    lsoa_code   text PRIMARY KEY,
    lsoa_name   text,
    msoa_code   text,
    msoa_name   text,
    area_code   text NOT NULL,
    area_name   text NOT NULL
);

CREATE TABLE area_boundaries (
    id          bigserial NOT NULL,
    code        text PRIMARY KEY,
    name        text NOT NULL,
    -- 'borough': records are placed in these; 'neighbourhood': areas defined for analysis.
    kind        text NOT NULL DEFAULT 'borough',
    geometry    jsonb NOT NULL,
    imported_at timestamptz NOT NULL
);
