-- Published data.police.uk street-level records (issue 5): historical incidents from other
-- sources, kept as published (anonymised location, LSOA, force, month), apart from the records
-- asb holds itself. Each file imported is one row of `police_uk_imports`; rows that could not be
-- read are kept in `import_quarantine` with the file, line and reason, to be listed and retried.
CREATE TABLE police_uk_imports (
    id                  INTEGER PRIMARY KEY,
    source              TEXT NOT NULL,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    rows_read           INTEGER NOT NULL DEFAULT 0,
    imported            INTEGER NOT NULL DEFAULT 0,
    duplicates          INTEGER NOT NULL DEFAULT 0,
    quarantined         INTEGER NOT NULL DEFAULT 0,
    skipped_other_crime INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE historical_incidents (
    id              INTEGER PRIMARY KEY,
    -- The row's idempotency key (128 bits of SHA-256; see asb-domain police_uk.rs).
    key_hi          INTEGER NOT NULL,
    key_lo          INTEGER NOT NULL,
    import_id       INTEGER NOT NULL REFERENCES police_uk_imports(id),
    month           TEXT NOT NULL,
    force           TEXT NOT NULL,
    reported_by     TEXT NOT NULL,
    crime_type      TEXT NOT NULL,
    crime_id        TEXT,
    -- NSIR category where the source gives one; NULL is unknown (police.uk does not publish it).
    category        TEXT,
    lat             REAL,
    lon             REAL,
    location        TEXT,
    lsoa_code       TEXT,
    lsoa_name       TEXT,
    outcome         TEXT,
    context         TEXT,
    -- The H3 cell (resolution 11) of the published point, for hotspots at any coarser resolution.
    h3              INTEGER,
    -- The local authority district the record is placed in (LSOA lookup or boundary), if known.
    area_code       TEXT
);
CREATE UNIQUE INDEX historical_incidents_key ON historical_incidents (key_hi, key_lo);
CREATE INDEX historical_incidents_force_month ON historical_incidents (force, crime_type, month);
CREATE INDEX historical_incidents_area_month ON historical_incidents (area_code, month);

CREATE TABLE import_quarantine (
    id              INTEGER PRIMARY KEY,
    import_id       INTEGER NOT NULL REFERENCES police_uk_imports(id),
    source          TEXT NOT NULL,
    line            INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    raw             TEXT NOT NULL,
    quarantined_at  INTEGER NOT NULL,
    resolved_at     INTEGER
);
CREATE INDEX import_quarantine_open ON import_quarantine (resolved_at, id);
CREATE INDEX import_quarantine_source ON import_quarantine (source, line);

-- Where records are placed: LSOA → MSOA → local authority lookups, and area boundaries
-- (GeoJSON geometry in WGS84) for placing a point by point-in-polygon.
CREATE TABLE lsoa_lookup (
    lsoa_code   TEXT PRIMARY KEY,
    lsoa_name   TEXT,
    msoa_code   TEXT,
    msoa_name   TEXT,
    area_code   TEXT NOT NULL,
    area_name   TEXT NOT NULL
);

CREATE TABLE area_boundaries (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    -- 'borough': records are placed in these; 'neighbourhood': areas defined for analysis.
    kind        TEXT NOT NULL DEFAULT 'borough',
    geometry    TEXT NOT NULL,
    imported_at INTEGER NOT NULL
);
