-- Schema version 9: counts for analysis, kept as incidents are written (analysis_counts.rs),
-- so trends, hotspots and repeat locations read a few thousand counts rather than every
-- incident of the period. They are derived: a recount from incidents gives them again (done at
-- start-up when incidents exist and these are empty, after a bulk load, and into a
-- migrate-data target). Months are numbers, year * 100 + month (UTC, by when received);
-- borough_id is the place's borough, 0 when the incident has no place or the place none.

-- Trends: incidents by month, borough and category.
CREATE TABLE analysis_month_counts (
    month      INTEGER NOT NULL,
    borough_id INTEGER NOT NULL,
    category   TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (month, borough_id, category)
) WITHOUT ROWID;

-- Hotspots: incidents by H3 cell at each resolution hotspots are counted at (6–10), month and
-- borough; only places with a point.
CREATE TABLE analysis_cell_counts (
    resolution INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    cell       INTEGER NOT NULL,
    borough_id INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (resolution, month, cell, borough_id)
) WITHOUT ROWID;

-- Repeat locations: incidents by place and month. The two ranking indexes give each month's
-- busiest places first (force-wide and by borough), from which the busiest over a span of
-- months is found exactly without reading every place.
CREATE TABLE analysis_place_counts (
    place_id   INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    borough_id INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (place_id, month)
) WITHOUT ROWID;
CREATE INDEX analysis_place_counts_top ON analysis_place_counts (month, n DESC, place_id);
CREATE INDEX analysis_place_counts_area_top ON analysis_place_counts (borough_id, month, n DESC, place_id);
