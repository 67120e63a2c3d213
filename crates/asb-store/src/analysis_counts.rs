//! The counts analysis reads (migration 0009), kept as incidents are written: by month, borough
//! and category (trends), by H3 cell at each hotspot resolution (hotspots), and by place and
//! month (repeat locations). Every write that changes what they count goes through here, in the
//! writer's transaction: a new incident, a review that changes its category, a place that gains
//! its point. They are derived data: `recount` gives them again from the incidents, and is what a
//! bulk load, a migrate-data target and a database migrated from before them get.
//!
//! Months are `Month::number()`s; `NO_BOROUGH` stands for an incident without a placed borough.

use crate::analysis::h3_parent;
use crate::engine::{exec, on, Db};
use crate::{Result, Store};
use asb_domain::analysis::Month;
use asb_domain::hotspots::{self, MAX_RESOLUTION, MIN_RESOLUTION};
use chrono::{DateTime, Utc};

/// The borough key of an incident with no place, or whose place has no borough.
pub(crate) const NO_BOROUGH: i64 = 0;

/// What the counts know of one incident.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted<'a> {
    pub received_at: DateTime<Utc>,
    pub category: &'a str,
    pub place: Option<CountedPlace>,
}

/// The incident's place: its id, borough and resolution-11 cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountedPlace {
    pub id: i64,
    pub borough_id: Option<i64>,
    pub h3: Option<i64>,
}

/// Count a new incident.
pub(crate) async fn add_incident(db: &mut Db<'_>, i: &Counted<'_>) -> Result<()> {
    let month = Month::of(i.received_at).number();
    let borough = i.place.and_then(|p| p.borough_id).unwrap_or(NO_BOROUGH);
    add_category(db, month, borough, i.category, 1).await?;
    if let Some(p) = i.place {
        let sql = "INSERT INTO analysis_place_counts (place_id, month, borough_id, n) VALUES ($1, $2, $3, 1)
             ON CONFLICT (place_id, month) DO UPDATE SET n = analysis_place_counts.n + 1";
        exec!(db, c => sqlx::query(sql).bind(p.id).bind(month).bind(borough).execute(c).await?);
        if let Some(h3) = p.h3 {
            add_cells(db, h3, &[(month, borough, 1)]).await?;
        }
    }
    Ok(())
}

/// A review moved the incident received at `received_at` from one category to another.
pub(crate) async fn recategorise(
    db: &mut Db<'_>,
    received_at: DateTime<Utc>,
    borough_id: Option<i64>,
    from: &str,
    to: &str,
) -> Result<()> {
    if from != to {
        let (month, borough) = (Month::of(received_at).number(), borough_id.unwrap_or(NO_BOROUGH));
        // In the categories' order, so two reviews moving reports opposite ways cannot each
        // hold the row the other waits for (PostgreSQL locks rows; SQLite has one writer).
        let mut changes = [(from, -1), (to, 1)];
        changes.sort();
        for (category, delta) in changes {
            add_category(db, month, borough, category, delta).await?;
        }
    }
    Ok(())
}

/// A place without a point (`place_id`) was given one, in cell `h3`: its reports so far now
/// count in that cell.
pub(crate) async fn place_located(db: &mut Db<'_>, place_id: i64, h3: i64) -> Result<()> {
    let sql = "SELECT month, borough_id, n FROM analysis_place_counts WHERE place_id = $1 ORDER BY month";
    let months: Vec<(i64, i64, i64)> = on!(db, c => sqlx::query_as(sql).bind(place_id).fetch_all(c).await?);
    add_cells(db, h3, &months).await
}

async fn add_category(db: &mut Db<'_>, month: i64, borough: i64, category: &str, delta: i64) -> Result<()> {
    let sql = "INSERT INTO analysis_month_counts (month, borough_id, category, n) VALUES ($1, $2, $3, $4)
         ON CONFLICT (month, borough_id, category) DO UPDATE SET n = analysis_month_counts.n + excluded.n";
    exec!(db, c => sqlx::query(sql).bind(month).bind(borough).bind(category).bind(delta).execute(c).await?);
    if delta < 0 {
        // A count that falls to nothing goes, as if never counted (trends list what has counts).
        let sql = "DELETE FROM analysis_month_counts WHERE month = $1 AND borough_id = $2 AND category = $3 AND n <= 0";
        exec!(db, c => sqlx::query(sql).bind(month).bind(borough).bind(category).execute(c).await?);
    }
    Ok(())
}

/// Add `(month, borough, n)` counts to `h3`'s cell at every hotspot resolution, in one statement.
async fn add_cells(db: &mut Db<'_>, h3: i64, counts: &[(i64, i64, i64)]) -> Result<()> {
    let cells: Vec<(u8, i64)> =
        (MIN_RESOLUTION..=MAX_RESOLUTION).filter_map(|r| hotspots::parent(h3, r).map(|c| (r, c))).collect();
    let rows: Vec<(i64, i64, i64, i64, i64)> = counts
        .iter()
        .flat_map(|&(month, borough, n)| cells.iter().map(move |&(r, cell)| (i64::from(r), month, cell, borough, n)))
        .collect();
    // At most 5 resolutions × a place's months per statement; well inside either engine's
    // parameter limit for any place's history of a few decades.
    for chunk in rows.chunks(1_000) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 5;
                format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5)
            })
            .collect();
        let sql = format!(
            "INSERT INTO analysis_cell_counts (resolution, month, cell, borough_id, n) VALUES {}
             ON CONFLICT (resolution, month, cell, borough_id) DO UPDATE SET n = analysis_cell_counts.n + excluded.n",
            values.join(", ")
        );
        exec!(db, c => {
            let mut q = sqlx::query(&sql);
            for &(r, month, cell, borough, n) in chunk {
                q = q.bind(r).bind(month).bind(cell).bind(borough).bind(n);
            }
            q.execute(c).await?
        });
    }
    Ok(())
}

/// Count everything again from the incidents and places, replacing what the tables held.
pub(crate) async fn recount(db: &mut Db<'_>) -> Result<()> {
    let e = db.engine();
    for table in ["analysis_month_counts", "analysis_cell_counts", "analysis_place_counts"] {
        exec!(db, c => sqlx::query(&format!("DELETE FROM {table}")).execute(c).await?);
    }
    let month = e.month_number("i.received_at");
    let sql = format!(
        "INSERT INTO analysis_month_counts (month, borough_id, category, n)
         SELECT {month}, COALESCE(p.borough_id, {NO_BOROUGH}), i.category, COUNT(*)
         FROM incidents i LEFT JOIN places p ON p.id = i.place_id
         GROUP BY 1, 2, 3"
    );
    exec!(db, c => sqlx::query(&sql).execute(c).await?);
    let sql = format!(
        "INSERT INTO analysis_place_counts (place_id, month, borough_id, n)
         SELECT x.place_id, x.month, COALESCE(p.borough_id, {NO_BOROUGH}), x.n
         FROM (SELECT i.place_id, {month} AS month, COUNT(*) AS n FROM incidents i
               WHERE i.place_id IS NOT NULL GROUP BY 1, 2) x
         JOIN places p ON p.id = x.place_id"
    );
    exec!(db, c => sqlx::query(&sql).execute(c).await?);
    let sql = format!(
        "INSERT INTO analysis_cell_counts (resolution, month, cell, borough_id, n)
         SELECT $1, c.month, {cell}, c.borough_id, SUM(c.n)
         FROM analysis_place_counts c JOIN places p ON p.id = c.place_id
         WHERE p.h3 IS NOT NULL
         GROUP BY 2, 3, 4",
        cell = h3_parent("p.h3", 1),
    );
    for r in MIN_RESOLUTION..=MAX_RESOLUTION {
        exec!(db, c => sqlx::query(&sql).bind(i64::from(r)).execute(c).await?);
    }
    Ok(())
}

impl Store {
    /// Count again from the incidents (after a bulk load, or to repair the counts).
    pub async fn recount_analysis(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        recount(&mut tx.db()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Count from the incidents when there are incidents but no counts: a database migrated
    /// from a schema before the counts existed.
    pub(crate) async fn ensure_analysis_counted(&self) -> Result<()> {
        let sql = "SELECT EXISTS (SELECT 1 FROM incidents) AND NOT EXISTS (SELECT 1 FROM analysis_month_counts)";
        let mut c = self.current().await?;
        let missing: bool = on!(&mut c.db(), c => sqlx::query_scalar(sql).fetch_one(c).await?);
        drop(c);
        if missing {
            tracing::info!("counting incidents for analysis (once, after migration 0009)");
            self.recount_analysis().await?;
        }
        Ok(())
    }

    /// The analysis counts, every row in key order, for checking the kept counts against a
    /// recount: (table, key columns and count).
    pub async fn analysis_counts(&self) -> Result<Vec<(String, Vec<i64>, String)>> {
        let mut c = self.current().await?;
        let db = &mut c.db();
        let mut out = Vec::new();
        let sql = "SELECT month, borough_id, category, n FROM analysis_month_counts ORDER BY 1, 2, 3";
        let rows: Vec<(i64, i64, String, i64)> = on!(db, c => sqlx::query_as(sql).fetch_all(c).await?);
        out.extend(rows.into_iter().map(|(m, b, cat, n)| ("month".to_string(), vec![m, b, n], cat)));
        let sql = "SELECT resolution, month, cell, borough_id, n FROM analysis_cell_counts ORDER BY 1, 2, 3, 4";
        let rows: Vec<(i64, i64, i64, i64, i64)> = on!(db, c => sqlx::query_as(sql).fetch_all(c).await?);
        out.extend(
            rows.into_iter().map(|(r, m, cell, b, n)| ("cell".to_string(), vec![r, m, cell, b, n], String::new())),
        );
        let sql = "SELECT place_id, month, borough_id, n FROM analysis_place_counts ORDER BY 1, 2";
        let rows: Vec<(i64, i64, i64, i64)> = on!(db, c => sqlx::query_as(sql).fetch_all(c).await?);
        out.extend(rows.into_iter().map(|(p, m, b, n)| ("place".to_string(), vec![p, m, b, n], String::new())));
        Ok(out)
    }
}
