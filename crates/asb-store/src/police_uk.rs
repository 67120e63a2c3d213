//! Published data.police.uk records: each imported file in one transaction (its rows, its
//! quarantined rows and its counts, or nothing), idempotent by each row's key; the quarantine,
//! listed and retried; the places lookups; and the monthly counts that cross-check the files.

use crate::bulk::PARAMS;
use crate::engine::{exec, on, Db, Json, Ts};
use crate::{audit, AuditEvent, Result, Store};
use asb_domain::areas::AreaKind;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap};

/// One published record, ready to keep.
#[derive(Debug, Clone)]
pub struct HistoricalRow {
    pub key: (i64, i64),
    pub month: String,
    pub force: String,
    pub reported_by: String,
    pub crime_type: String,
    pub crime_id: Option<String>,
    pub category: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub location: Option<String>,
    pub lsoa_code: Option<String>,
    pub lsoa_name: Option<String>,
    pub outcome: Option<String>,
    pub context: Option<String>,
    pub h3: Option<i64>,
    pub area_code: Option<String>,
}

/// A row that could not be read: where, why, and its text as it was.
#[derive(Debug, Clone)]
pub struct BadRow {
    pub line: i64,
    pub reason: String,
    pub raw: String,
}

/// What importing one file did, per force and month as well as in all.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileImport {
    pub import_id: i64,
    pub rows_read: i64,
    pub imported: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    pub skipped_other_crime: i64,
    /// (force, month) → (kept rows offered, imported).
    #[serde(skip)]
    pub by_force_month: BTreeMap<(String, String), (i64, i64)>,
}

/// A quarantined row as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Quarantined {
    pub id: i64,
    pub import_id: i64,
    pub source: String,
    pub line: i64,
    pub reason: String,
    pub raw: String,
    pub quarantined_at: DateTime<Utc>,
}

/// One row of the LSOA lookup.
#[derive(Debug, Clone)]
pub struct LsoaArea {
    pub lsoa_code: String,
    pub lsoa_name: Option<String>,
    pub msoa_code: Option<String>,
    pub msoa_name: Option<String>,
    pub area_code: String,
    pub area_name: String,
}

type QRow = (i64, i64, String, i64, String, String, Ts);

impl Store {
    /// Keep one file's rows and bad rows, in one transaction. `rows_read` and
    /// `skipped_other_crime` are the reader's counts; the rest are counted here.
    pub async fn import_police_uk_file(
        &self,
        source: &str,
        rows: &[HistoricalRow],
        bad: &[BadRow],
        rows_read: i64,
        skipped_other_crime: i64,
        now: DateTime<Utc>,
    ) -> Result<FileImport> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let import_id: i64 = on!(db, c => sqlx::query_scalar(
            "INSERT INTO police_uk_imports (source, started_at, rows_read, skipped_other_crime) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(source).bind(Ts(now)).bind(rows_read).bind(skipped_other_crime).fetch_one(c).await?);
        let mut groups: BTreeMap<(&str, &str), Vec<&HistoricalRow>> = BTreeMap::new();
        for r in rows {
            groups.entry((&r.force, &r.month)).or_default().push(r);
        }
        let mut out = FileImport { import_id, rows_read, skipped_other_crime, ..FileImport::default() };
        for ((force, month), group) in groups {
            let imported = insert_rows(db, import_id, &group).await?;
            out.imported += imported;
            out.by_force_month.insert((force.to_string(), month.to_string()), (group.len() as i64, imported));
        }
        out.duplicates = rows.len() as i64 - out.imported;
        // A bad row already quarantined (or quarantined, corrected and kept) from an earlier
        // import of the same file is not quarantined twice.
        for b in bad {
            exec!(db, c => sqlx::query(
                "INSERT INTO import_quarantine (import_id, source, line, reason, raw, quarantined_at)
                 SELECT $1, $2, $3, $4, $5, $6
                 WHERE NOT EXISTS (SELECT 1 FROM import_quarantine WHERE source = $2 AND line = $3 AND raw = $5)")
                .bind(import_id).bind(source).bind(b.line).bind(&b.reason).bind(&b.raw).bind(Ts(now))
                .execute(c).await?);
        }
        out.quarantined = bad.len() as i64;
        exec!(db, c => sqlx::query(
            "UPDATE police_uk_imports SET finished_at = $2, imported = $3, duplicates = $4, quarantined = $5 WHERE id = $1")
            .bind(import_id).bind(Ts(Utc::now())).bind(out.imported).bind(out.duplicates).bind(out.quarantined)
            .execute(c).await?);
        let event = AuditEvent::new(
            None,
            "collection",
            "police-uk-import",
            Some(import_id.to_string()),
            "importing published police.uk records",
        )
        .with_detail(serde_json::json!({
            "source": source, "rows_read": rows_read, "imported": out.imported,
            "duplicates": out.duplicates, "quarantined": out.quarantined,
        }));
        audit::write(db, &event).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Quarantined rows not yet resolved, oldest first.
    pub async fn quarantined(&self, ids: &[i64]) -> Result<Vec<Quarantined>> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        let all = ids.is_empty();
        let list = crate::engine::IdList::new(ids.iter().copied());
        let sql = format!(
            "SELECT id, import_id, source, line, reason, raw, quarantined_at FROM import_quarantine
             WHERE resolved_at IS NULL AND ($1 OR id IN {}) ORDER BY id",
            db.engine().ids_in(2)
        );
        let rows: Vec<QRow> = on!(db, c => sqlx::query_as(&sql).bind(all).bind(&list).fetch_all(c).await?);
        Ok(rows
            .into_iter()
            .map(|(id, import_id, source, line, reason, raw, at)| Quarantined {
                id,
                import_id,
                source,
                line,
                reason,
                raw,
                quarantined_at: at.0,
            })
            .collect())
    }

    /// A retried quarantined row that now reads: keep it (unless it is already kept) and mark it
    /// resolved, in one transaction. Returns whether the row was new. The quarantine keeps the
    /// row's text as the file has it, so importing the file again does not quarantine it again.
    pub async fn resolve_quarantined(&self, id: i64, row: &HistoricalRow) -> Result<bool> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let import_id: i64 = on!(db, c => sqlx::query_scalar(
            "UPDATE import_quarantine SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL RETURNING import_id")
            .bind(id).bind(Ts(Utc::now())).fetch_one(c).await?);
        let new = insert_rows(db, import_id, &[row]).await? == 1;
        tx.commit().await?;
        Ok(new)
    }

    /// A retried quarantined row that still does not read: why (the file's text is kept).
    pub async fn requarantine(&self, id: i64, reason: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        exec!(db, c => sqlx::query("UPDATE import_quarantine SET reason = $2 WHERE id = $1")
            .bind(id).bind(reason).execute(c).await?);
        tx.commit().await?;
        Ok(())
    }

    /// Published records of `crime_type` per month for the force, as `Falls within` writes it.
    pub async fn published_monthly(&self, force: &str, crime_type: &str) -> Result<Vec<(String, i64)>> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        Ok(on!(db, c => sqlx::query_as(
            "SELECT month, COUNT(*) FROM historical_incidents WHERE force = $1 AND crime_type = $2 GROUP BY month ORDER BY month")
            .bind(force).bind(crime_type).fetch_all(c).await?))
    }

    /// Every force with published records, and how many.
    pub async fn published_forces(&self) -> Result<Vec<(String, i64)>> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        Ok(on!(db, c => sqlx::query_as(
            "SELECT force, COUNT(*) FROM historical_incidents GROUP BY force ORDER BY force").fetch_all(c).await?))
    }

    /// Replace the LSOA lookup rows given (by LSOA code), in one transaction.
    pub async fn import_lsoa_lookup(&self, rows: &[LsoaArea]) -> Result<i64> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let mut n = 0;
        for chunk in rows.chunks(PARAMS / 6) {
            n += on!(db, c => {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO lsoa_lookup (lsoa_code, lsoa_name, msoa_code, msoa_name, area_code, area_name) ");
                qb.push_values(chunk, |mut s, r| {
                    s.push_bind(&r.lsoa_code).push_bind(&r.lsoa_name).push_bind(&r.msoa_code)
                        .push_bind(&r.msoa_name).push_bind(&r.area_code).push_bind(&r.area_name);
                });
                qb.push(" ON CONFLICT (lsoa_code) DO UPDATE SET lsoa_name = excluded.lsoa_name, msoa_code = excluded.msoa_code,
                    msoa_name = excluded.msoa_name, area_code = excluded.area_code, area_name = excluded.area_name");
                qb.build().execute(&mut *c).await?.rows_affected()
            }) as i64;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// LSOA code → area code, for placing records.
    pub async fn lsoa_areas(&self) -> Result<HashMap<String, String>> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        let rows: Vec<(String, String)> =
            on!(db, c => sqlx::query_as("SELECT lsoa_code, area_code FROM lsoa_lookup").fetch_all(c).await?);
        Ok(rows.into_iter().collect())
    }

    /// Replace the boroughs' boundaries given (by code), in one transaction.
    pub async fn import_boundaries(&self, areas: &[(String, String, serde_json::Value)]) -> Result<i64> {
        self.import_areas(AreaKind::Borough, areas).await
    }

    /// Replace the areas given (by code), of the kind given, in one transaction.
    pub async fn import_areas(&self, kind: AreaKind, areas: &[(String, String, serde_json::Value)]) -> Result<i64> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let now = Ts(Utc::now());
        for (code, name, geometry) in areas {
            exec!(db, c => sqlx::query(
                "INSERT INTO area_boundaries (code, name, kind, geometry, imported_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                   geometry = excluded.geometry, imported_at = excluded.imported_at")
                .bind(code).bind(name).bind(kind.as_str()).bind(Json::from(geometry.clone())).bind(now).execute(c).await?);
        }
        tx.commit().await?;
        self.areas.clear();
        Ok(areas.len() as i64)
    }

    /// The boroughs' boundaries: code, name and GeoJSON geometry.
    pub async fn boundaries(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        self.areas_of(AreaKind::Borough).await
    }

    /// Every imported area of a kind: code, name and GeoJSON geometry.
    pub async fn areas_of(&self, kind: AreaKind) -> Result<Vec<(String, String, serde_json::Value)>> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        let rows: Vec<(String, String, Json)> = on!(db, c => sqlx::query_as(
            "SELECT code, name, geometry FROM area_boundaries WHERE kind = $1 ORDER BY code")
            .bind(kind.as_str()).fetch_all(c).await?);
        Ok(rows.into_iter().map(|(c, n, g)| (c, n, g.0)).collect())
    }
}

/// Insert rows not already kept; returns how many were new.
async fn insert_rows(db: &mut Db<'_>, import_id: i64, rows: &[&HistoricalRow]) -> Result<i64> {
    let mut n = 0;
    for chunk in rows.chunks(PARAMS / 18) {
        n += on!(db, c => {
            let mut qb = QueryBuilder::new(
                "INSERT INTO historical_incidents (key_hi, key_lo, import_id, month, force, reported_by, crime_type, crime_id,
                 category, lat, lon, location, lsoa_code, lsoa_name, outcome, context, h3, area_code) ");
            qb.push_values(chunk, |mut s, r| {
                s.push_bind(r.key.0).push_bind(r.key.1).push_bind(import_id).push_bind(&r.month).push_bind(&r.force)
                    .push_bind(&r.reported_by).push_bind(&r.crime_type).push_bind(&r.crime_id).push_bind(&r.category)
                    .push_bind(r.lat).push_bind(r.lon).push_bind(&r.location).push_bind(&r.lsoa_code)
                    .push_bind(&r.lsoa_name).push_bind(&r.outcome).push_bind(&r.context).push_bind(r.h3)
                    .push_bind(&r.area_code);
            });
            qb.push(" ON CONFLICT (key_hi, key_lo) DO NOTHING");
            qb.build().execute(&mut *c).await?.rows_affected()
        }) as i64;
    }
    Ok(n)
}

/// One of asb's own police records for the open-data export: when, where (the place asked
/// about, before it is generalised), and which force.
#[derive(Debug, Clone)]
pub struct OwnRecord {
    pub received_at: DateTime<Utc>,
    pub force: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
}

type OwnRow = (Ts, Option<String>, Option<f64>, Option<f64>, Option<String>);

impl Store {
    /// Police records received in `[from, to)`, oldest first. Partner organisations' records
    /// are theirs to publish, not the force's.
    /// Logged as a disclosure (`subject_id` names the period), before the records are returned.
    pub async fn own_police_records(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<OwnRecord>> {
        let records = self.read_own_police_records(from, to).await?;
        let event = AuditEvent::new(
            None,
            "disclosure",
            "police-uk-export",
            Some(format!("{}..{}", from.format("%Y-%m-%d"), to.format("%Y-%m-%d"))),
            "publishing the force's records as police.uk open data (locations generalised)",
        )
        .with_detail(serde_json::json!({"records": records.len()}));
        self.audit(&event).await?;
        Ok(records)
    }

    async fn read_own_police_records(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<OwnRecord>> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        let sql = format!(
            "SELECT i.received_at, COALESCE(CASE WHEN o.kind = 'force' THEN o.name END,
                                            CASE WHEN o1.kind = 'force' THEN o1.name END, o2.name),
                    p.lat, p.lon, p.address
             FROM incidents i
             JOIN organisations o ON o.id = i.organisation_id
             LEFT JOIN organisations o1 ON o1.id = o.parent_id
             LEFT JOIN organisations o2 ON o2.id = o1.parent_id
             LEFT JOIN places p ON p.id = i.place_id
             WHERE i.received_at >= $1 AND i.received_at < $2 AND o.kind IN {}
             ORDER BY i.received_at, i.id",
            crate::supervision::police_kinds()
        );
        let rows: Vec<OwnRow> = on!(db, c => sqlx::query_as(&sql).bind(Ts(from)).bind(Ts(to)).fetch_all(c).await?);
        Ok(rows
            .into_iter()
            .map(|(at, force, lat, lon, address)| OwnRecord {
                received_at: at.0,
                force: force.unwrap_or_default(),
                lat,
                lon,
                address,
            })
            .collect())
    }

    /// How many known addresses (places) have their resolution-11 cell in `[lo, hi]`.
    pub async fn places_in_cells(&self, lo: i64, hi: i64) -> Result<i64> {
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        Ok(on!(db, c => sqlx::query_scalar("SELECT COUNT(*) FROM places WHERE h3 BETWEEN $1 AND $2")
            .bind(lo).bind(hi).fetch_one(c).await?))
    }
}
