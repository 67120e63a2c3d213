//! `asb export police-uk --month YYYY-MM`: asb's own police records of a month as data.police.uk
//! street-level rows — anonymised (the location generalised by `police_uk::public_point`, no
//! names, no narrative, no reference; Crime ID empty as for all ASB), so they can be published
//! and read back by `asb import police-uk`.

use anyhow::{anyhow, Context, Result};
use asb_domain::matching::GeoPoint;
use asb_domain::police_uk::{self, StreetRow};
use asb_store::Store;
use chrono::{Months, NaiveDate};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Write the month's records as CSV to `out` (or standard output); returns how many.
pub async fn police_uk(store: &Store, month: &str, out: Option<&Path>) -> Result<usize> {
    police_uk::check_month(month).map_err(|e| anyhow!("--month: {e}"))?;
    let start = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").context("--month")?;
    let end = start.checked_add_months(Months::new(1)).context("--month")?;
    let utc = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).context("--month");
    let records = store.own_police_records(utc(start)?, utc(end)?).await?;

    // Each public cell's addresses are counted once, however many records fall in it.
    let mut addresses: HashMap<u64, i64> = HashMap::new();
    let mut rows = Vec::with_capacity(records.len());
    for r in &records {
        let point = r.lat.zip(r.lon).and_then(|(la, lo)| GeoPoint::new(la, lo).ok());
        let (shown, location) = match point {
            Some(p) => {
                let (cell, (lo, hi)) = police_uk::public_cell(&p);
                let n = match addresses.get(&u64::from(cell)) {
                    Some(n) => *n,
                    None => {
                        let n = store.places_in_cells(lo, hi).await?;
                        addresses.insert(u64::from(cell), n);
                        n
                    }
                };
                let (at, name_street) = police_uk::public_point(cell, n);
                (Some(at), police_uk::public_location(r.address.as_deref(), name_street))
            }
            None => (None, "No Location".to_string()),
        };
        rows.push((shown, location, r));
    }

    let sink: Box<dyn Write> = match out {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("{}: cannot write", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(sink);
    w.write_record(police_uk::COLUMNS)?;
    for (point, location, r) in &rows {
        let row = StreetRow {
            crime_id: None,
            month,
            reported_by: &r.force,
            falls_within: &r.force,
            point: *point,
            location: Some(location),
            lsoa_code: None,
            lsoa_name: None,
            crime_type: police_uk::ASB,
            outcome: None,
            context: None,
        };
        w.write_record(police_uk::record(&row))?;
    }
    w.flush()?;
    Ok(rows.len())
}
