-- Schema version 10: the analysis indexes on published records hold anti-social behaviour only.
-- `asb import police-uk --all-crime` keeps every crime type; analysis counts ASB alone (each of
-- its statements says `crime_type = 'Anti-social behaviour'`, which these partial indexes
-- match), and other crimes' rows no longer pay for two indexes they are never read by.
DROP INDEX historical_incidents_month;
CREATE INDEX historical_incidents_month ON historical_incidents (month, area_code, category, h3)
    WHERE crime_type = 'Anti-social behaviour';
DROP INDEX historical_incidents_area_month;
CREATE INDEX historical_incidents_area_month ON historical_incidents (area_code, month, category, h3)
    WHERE crime_type = 'Anti-social behaviour';
