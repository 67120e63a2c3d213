-- Schema version 8: indexes for analysis (trends, hotspots, repeat locations), so a period's
-- figures read index ranges rather than the tables.
--
-- asb's own incidents by month received, with the place (borough and H3 cell) and category the
-- analysis groups by: the receipt index gains those columns and covers the scan (it still serves
-- every query that used it, which read by received_at alone).
DROP INDEX incidents_received;
CREATE INDEX incidents_received ON incidents(received_at, place_id, category);

-- Published records by month, with the area, category and cell they are counted by: one index
-- for the whole force's figures, one (replacing the area-and-month index) for one area's.
CREATE INDEX historical_incidents_month ON historical_incidents (month, area_code, category, h3);
DROP INDEX historical_incidents_area_month;
CREATE INDEX historical_incidents_area_month ON historical_incidents (area_code, month, category, h3);
