-- Schema version 8: indexes for analysis; see the SQLite migration. The receipt index carries
-- the place and category (index-only scans of a period's incidents, partition by partition).
DROP INDEX incidents_received;
CREATE INDEX incidents_received ON incidents (received_at) INCLUDE (place_id, category);

CREATE INDEX historical_incidents_month ON historical_incidents (month, area_code) INCLUDE (category, h3);
DROP INDEX historical_incidents_area_month;
CREATE INDEX historical_incidents_area_month ON historical_incidents (area_code, month) INCLUDE (category, h3);
