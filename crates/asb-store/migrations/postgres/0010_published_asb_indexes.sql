-- Schema version 10: the analysis indexes on published records hold anti-social behaviour only;
-- see the SQLite migration.
DROP INDEX historical_incidents_month;
CREATE INDEX historical_incidents_month ON historical_incidents (month, area_code) INCLUDE (category, h3)
    WHERE crime_type = 'Anti-social behaviour';
DROP INDEX historical_incidents_area_month;
CREATE INDEX historical_incidents_area_month ON historical_incidents (area_code, month) INCLUDE (category, h3)
    WHERE crime_type = 'Anti-social behaviour';
