//! Bulk loading for generated datasets (and, later, imports): rows with ids the loader assigns,
//! written many to a statement inside one transaction per batch. Times are epoch seconds.

use crate::engine::{exec, on, Db, Engine, Json, Ts};
use crate::{Result, Store};
use chrono::NaiveDate;
use sqlx::QueryBuilder;

#[derive(Debug, Clone)]
pub struct PlaceRow {
    pub id: i64,
    pub address: Option<String>,
    pub address_norm: Option<String>,
    pub postcode: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub h3: Option<i64>,
    pub borough_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct PersonRow {
    pub id: i64,
    pub name: Option<String>,
    pub name_norm: Option<String>,
    pub name_key: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub home_place_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: i64,
    pub reference: String,
    pub organisation_id: i64,
    pub received_at: i64,
    pub place_id: Option<i64>,
    pub category: String,
    pub type_code: u16,
    pub narrative: String,
    pub status: String,
    pub risk_score: Option<u32>,
    pub risk_level: Option<String>,
    pub risk_questionnaire: Option<String>,
    pub qualifiers: Vec<u16>,
    /// (person, role) pairs.
    pub people: Vec<(i64, &'static str)>,
    pub channel: &'static str,
    /// The person who made the contact, if known.
    pub contact_person: Option<i64>,
    /// The values after supervisory review, when a review changed any (the row's own category,
    /// type and level are the opening ones).
    pub closing: Option<Closing>,
}

/// An incident's values after review, and the qualifiers a review added.
#[derive(Debug, Clone)]
pub struct Closing {
    pub category: String,
    pub type_code: u16,
    pub risk_level: Option<String>,
    pub added_qualifiers: Vec<u16>,
}

/// A review falling due (`review_schedule`). Times are epoch seconds.
#[derive(Debug, Clone)]
pub struct ScheduleRow {
    pub incident_id: i64,
    pub received_at: i64,
    pub reference: String,
    pub borough_id: Option<i64>,
    pub role: &'static str,
    pub kind: &'static str,
    pub due_at: i64,
}

/// A review done (`reviews`), with the id the loader assigns so changes can name it.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub incident_id: i64,
    pub received_at: i64,
    pub borough_id: Option<i64>,
    pub role: &'static str,
    pub kind: Option<&'static str>,
    pub reviewed_at: i64,
    pub due_at: Option<i64>,
    pub outcome: &'static str,
    pub risk_level: Option<String>,
    pub reason: Option<String>,
}

/// One field a review changed (`incident_changes`).
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub incident_id: i64,
    pub field: &'static str,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: String,
    pub changed_at: i64,
    pub review_id: i64,
}

/// An update given to a victim (`victim_updates`).
#[derive(Debug, Clone)]
pub struct UpdateRow {
    pub incident_id: i64,
    pub received_at: i64,
    pub borough_id: Option<i64>,
    pub at: i64,
    pub channel: &'static str,
    pub note: Option<String>,
}

/// A dip-sampled record (`dip_samples`), checked or not.
#[derive(Debug, Clone)]
pub struct DipRow {
    pub borough_id: i64,
    pub week: String,
    pub incident_id: i64,
    pub received_at: i64,
    pub reference: String,
    pub sample_order: i32,
    pub drawn_at: i64,
    pub checked_at: Option<i64>,
    pub answers: Option<serde_json::Value>,
    pub passed: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Batch {
    pub places: Vec<PlaceRow>,
    pub people: Vec<PersonRow>,
    pub incidents: Vec<IncidentRow>,
    pub schedule: Vec<ScheduleRow>,
    pub reviews: Vec<ReviewRow>,
    pub changes: Vec<ChangeRow>,
    pub updates: Vec<UpdateRow>,
    pub dip_samples: Vec<DipRow>,
}

// SQLite allows 32,766 bound parameters a statement, PostgreSQL 65,535.
pub(crate) const PARAMS: usize = 32_000;

/// Insert `$rows` into a table, as many to a statement as the parameter limit allows.
macro_rules! insert_rows {
    ($conn:expr, $head:expr, $rows:expr, $per_row:expr, |$s:ident, $r:ident| $push:expr) => {
        for chunk in $rows.chunks(PARAMS / $per_row) {
            let mut qb = QueryBuilder::new($head);
            qb.push_values(chunk, |mut $s, $r| {
                $push;
            });
            qb.build().execute(&mut *$conn).await?;
        }
    };
}

/// The tables whose ids come from a sequence on PostgreSQL.
const SEQUENCED: &[&str] = &[
    "organisations",
    "users",
    "api_tokens",
    "places",
    "people",
    "incidents",
    "incident_people",
    "contacts",
    "review_schedule",
    "reviews",
    "incident_changes",
    "dip_samples",
    "victim_updates",
    "login_attempts",
    "police_uk_imports",
    "historical_incidents",
    "import_quarantine",
];

/// After rows were written with ids of their own, start each PostgreSQL sequence after the
/// highest id (SQLite's rowids follow the table by themselves).
pub(crate) async fn sync_sequences(db: &mut Db<'_>) -> Result<()> {
    let Db::Pg(c) = db else { return Ok(()) };
    for table in SEQUENCED {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
        );
        sqlx::query(&sql).execute(&mut **c).await?;
    }
    Ok(())
}

impl Store {
    /// Write one batch in one transaction. Ids must be new.
    pub async fn load_batch(&self, b: &Batch) -> Result<()> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        if db.engine() == Engine::Postgres {
            // A lost batch is reloaded; waiting for each batch's WAL flush is not worth it.
            exec!(db, c => sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(c).await?);
        }
        let quals: Vec<(i64, i32, &str)> = b
            .incidents
            .iter()
            .flat_map(|i| {
                let added = i
                    .closing
                    .iter()
                    .flat_map(move |c| c.added_qualifiers.iter().map(move |q| (i.id, i32::from(*q), "review")));
                i.qualifiers.iter().map(move |q| (i.id, i32::from(*q), "system")).chain(added)
            })
            .collect();
        let links: Vec<(i64, i64, &str)> =
            b.incidents.iter().flat_map(|i| i.people.iter().map(move |(p, role)| (i.id, *p, *role))).collect();
        on!(db, c => {
            insert_rows!(
                c,
                "INSERT INTO places (id, address, address_norm, postcode, lat, lon, h3, borough_id, created_at) ",
                b.places,
                9,
                |s, r| s
                    .push_bind(r.id)
                    .push_bind(r.address.clone())
                    .push_bind(r.address_norm.clone())
                    .push_bind(r.postcode.clone())
                    .push_bind(r.lat)
                    .push_bind(r.lon)
                    .push_bind(r.h3)
                    .push_bind(r.borough_id)
                    .push_bind(Ts::secs(r.created_at))
            );
            insert_rows!(
                c,
                "INSERT INTO people (id, name, name_norm, name_key, date_of_birth, phone, address, postcode, home_place_id, created_at) ",
                b.people,
                10,
                |s, r| s
                    .push_bind(r.id)
                    .push_bind(r.name.clone())
                    .push_bind(r.name_norm.clone())
                    .push_bind(r.name_key.clone())
                    .push_bind(r.date_of_birth)
                    .push_bind(r.phone.clone())
                    .push_bind(r.address.clone())
                    .push_bind(r.postcode.clone())
                    .push_bind(r.home_place_id)
                    .push_bind(Ts::secs(r.created_at))
            );
            insert_rows!(
                c,
                "INSERT INTO incidents (id, reference, organisation_id, received_at, place_id, opening_category, opening_type_code, category, type_code, narrative, status, risk_score, risk_level, risk_assessed_level, risk_questionnaire, created_at) ",
                b.incidents,
                16,
                |s, r| s
                    .push_bind(r.id)
                    .push_bind(r.reference.clone())
                    .push_bind(r.organisation_id)
                    .push_bind(Ts::secs(r.received_at))
                    .push_bind(r.place_id)
                    .push_bind(r.category.clone())
                    .push_bind(i32::from(r.type_code))
                    .push_bind(r.closing.as_ref().map_or_else(|| r.category.clone(), |c| c.category.clone()))
                    .push_bind(i32::from(r.closing.as_ref().map_or(r.type_code, |c| c.type_code)))
                    .push_bind(r.narrative.clone())
                    .push_bind(r.status.clone())
                    .push_bind(r.risk_score.map(i64::from))
                    .push_bind(r.closing.as_ref().map_or_else(|| r.risk_level.clone(), |c| c.risk_level.clone()))
                    .push_bind(r.risk_level.clone())
                    .push_bind(r.risk_questionnaire.clone())
                    .push_bind(Ts::secs(r.received_at))
            );
            insert_rows!(c, "INSERT INTO incident_qualifiers (incident_id, code, applied_by) ", quals, 3, |s, r| s
                .push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2));
            insert_rows!(c, "INSERT INTO incident_people (incident_id, person_id, role) ", links, 3, |s, r| s
                .push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2));
            insert_rows!(
                c,
                "INSERT INTO contacts (incident_id, person_id, organisation_id, channel, received_at) ",
                b.incidents,
                5,
                |s, r| s
                    .push_bind(r.id)
                    .push_bind(r.contact_person)
                    .push_bind(r.organisation_id)
                    .push_bind(r.channel)
                    .push_bind(Ts::secs(r.received_at))
            );
            insert_rows!(
                c,
                "INSERT INTO review_schedule (incident_id, received_at, reference, borough_id, role, kind, due_at) ",
                b.schedule,
                7,
                |s, r| s
                    .push_bind(r.incident_id)
                    .push_bind(Ts::secs(r.received_at))
                    .push_bind(r.reference.clone())
                    .push_bind(r.borough_id)
                    .push_bind(r.role)
                    .push_bind(r.kind)
                    .push_bind(Ts::secs(r.due_at))
            );
            insert_rows!(
                c,
                "INSERT INTO reviews (id, incident_id, received_at, borough_id, role, kind, reviewed_at, due_at, on_time, outcome, risk_level, reason) ",
                b.reviews,
                12,
                |s, r| s
                    .push_bind(r.id)
                    .push_bind(r.incident_id)
                    .push_bind(Ts::secs(r.received_at))
                    .push_bind(r.borough_id)
                    .push_bind(r.role)
                    .push_bind(r.kind)
                    .push_bind(Ts::secs(r.reviewed_at))
                    .push_bind(r.due_at.map(Ts::secs))
                    .push_bind(r.due_at.map(|d| r.reviewed_at <= d))
                    .push_bind(r.outcome)
                    .push_bind(r.risk_level.clone())
                    .push_bind(r.reason.clone())
            );
            insert_rows!(
                c,
                "INSERT INTO incident_changes (incident_id, field, old_value, new_value, reason, changed_at, review_id) ",
                b.changes,
                7,
                |s, r| s
                    .push_bind(r.incident_id)
                    .push_bind(r.field)
                    .push_bind(r.old_value.clone())
                    .push_bind(r.new_value.clone())
                    .push_bind(r.reason.clone())
                    .push_bind(Ts::secs(r.changed_at))
                    .push_bind(r.review_id)
            );
            insert_rows!(
                c,
                "INSERT INTO victim_updates (incident_id, received_at, borough_id, at, channel, note) ",
                b.updates,
                6,
                |s, r| s
                    .push_bind(r.incident_id)
                    .push_bind(Ts::secs(r.received_at))
                    .push_bind(r.borough_id)
                    .push_bind(Ts::secs(r.at))
                    .push_bind(r.channel)
                    .push_bind(r.note.clone())
            );
            insert_rows!(
                c,
                "INSERT INTO dip_samples (borough_id, week, incident_id, received_at, reference, sample_order, drawn_at, checked_at, answers, passed) ",
                b.dip_samples,
                10,
                |s, r| s
                    .push_bind(r.borough_id)
                    .push_bind(r.week.clone())
                    .push_bind(r.incident_id)
                    .push_bind(Ts::secs(r.received_at))
                    .push_bind(r.reference.clone())
                    .push_bind(r.sample_order)
                    .push_bind(Ts::secs(r.drawn_at))
                    .push_bind(r.checked_at.map(Ts::secs))
                    .push_bind(r.answers.clone().map(Json::from))
                    .push_bind(r.passed)
            );
        });
        tx.commit().await?;
        Ok(())
    }

    /// Loading mode for a database nobody else is writing. On SQLite: no foreign-key checks
    /// (loaders assign consistent ids) and no fsync per batch. `end_bulk` restores the safe
    /// settings (and on PostgreSQL moves the id sequences past the loaded rows); a crash
    /// mid-load can lose the load, never earlier data made durable before it.
    pub async fn begin_bulk(&self) -> Result<()> {
        self.pools.set_bulk(true);
        let mut conn = self.pools.writer().await?;
        if let Db::Sqlite(c) = &mut conn.db() {
            sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut **c).await?;
            sqlx::query("PRAGMA synchronous = OFF").execute(&mut **c).await?;
            sqlx::query("PRAGMA wal_autocheckpoint = 100000").execute(&mut **c).await?;
        }
        Ok(())
    }

    pub async fn end_bulk(&self) -> Result<()> {
        // Loads bypass the analysis counts' upkeep per incident: one recount at the end.
        self.recount_analysis().await?;
        let mut conn = self.pools.writer().await?;
        match &mut conn.db() {
            Db::Sqlite(c) => {
                sqlx::query("PRAGMA foreign_keys = ON").execute(&mut **c).await?;
                sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut **c).await?;
                sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut **c).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut **c).await?;
            }
            db => sync_sequences(db).await?,
        }
        self.pools.set_bulk(false);
        Ok(())
    }

    /// Make sure the reference counters continue after loaded references.
    pub async fn set_reference_counter(&self, year: i32, next_value: i64) -> Result<()> {
        let sql = "INSERT INTO reference_counters (year, next_value) VALUES ($1, $2)
             ON CONFLICT (year) DO UPDATE SET next_value = CASE WHEN excluded.next_value > reference_counters.next_value
               THEN excluded.next_value ELSE reference_counters.next_value END";
        let mut tx = self.begin().await?;
        exec!(&mut tx.db(), c => sqlx::query(sql).bind(year).bind(next_value).execute(c).await?);
        tx.commit().await?;
        Ok(())
    }

    /// Row-id ceilings, so a loader can assign fresh ids.
    pub async fn max_ids(&self) -> Result<(i64, i64, i64)> {
        let sql = "SELECT (SELECT COALESCE(MAX(id), 0) FROM places), (SELECT COALESCE(MAX(id), 0) FROM people),
            (SELECT COALESCE(MAX(id), 0) FROM incidents)";
        let mut c = self.current().await?;
        Ok(on!(&mut c.db(), c => sqlx::query_as(sql).fetch_one(c).await?))
    }

    /// The highest review id, so a loader can assign fresh ones.
    pub async fn max_review_id(&self) -> Result<i64> {
        let mut c = self.current().await?;
        Ok(on!(&mut c.db(), c => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM reviews").fetch_one(c).await?))
    }

    /// Organisation ids by code, for loaders.
    pub async fn organisation_ids(&self) -> Result<Vec<(String, i64)>> {
        let mut c = self.current().await?;
        Ok(on!(&mut c.db(), c => sqlx::query_as("SELECT code, id FROM organisations").fetch_all(c).await?))
    }
}
