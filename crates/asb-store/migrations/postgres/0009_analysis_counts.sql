-- Schema version 9: counts for analysis, kept as incidents are written; see the SQLite
-- migration. Months are numbers, year * 100 + month (UTC); borough_id 0 is "none".
CREATE TABLE analysis_month_counts (
    month      bigint NOT NULL,
    borough_id bigint NOT NULL,
    category   text NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (month, borough_id, category)
);

CREATE TABLE analysis_cell_counts (
    resolution bigint NOT NULL,
    month      bigint NOT NULL,
    cell       bigint NOT NULL,
    borough_id bigint NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (resolution, month, cell, borough_id)
);

CREATE TABLE analysis_place_counts (
    place_id   bigint NOT NULL,
    month      bigint NOT NULL,
    borough_id bigint NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (place_id, month)
);
CREATE INDEX analysis_place_counts_top ON analysis_place_counts (month, n DESC, place_id);
CREATE INDEX analysis_place_counts_area_top ON analysis_place_counts (borough_id, month, n DESC, place_id);
