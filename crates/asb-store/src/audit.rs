//! The audit log: collection, alteration, consultation and disclosure of personal data, written
//! in the same transaction as the change (or alongside the read) it records. It never holds the
//! personal data that was searched for, only which fields were used and which records were seen.
//!
//! The log is a hash chain. Event n's hash covers its position, its fields and event n-1's hash,
//! and `audit_head` holds the count and the latest hash; so altering, removing or reordering any
//! event, or removing events from the end, is found by `verify_audit_chain`.

use crate::engine::{exec, on, Db, Engine, Json, Pooled, Ts};
use crate::{read_only, Result, Store, StoreError};
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub user_id: Option<i64>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub purpose: String,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(
        user_id: Option<i64>,
        action: &str,
        subject_type: &str,
        subject_id: Option<String>,
        purpose: &str,
    ) -> AuditEvent {
        AuditEvent {
            user_id,
            action: action.into(),
            subject_type: subject_type.into(),
            subject_id,
            purpose: purpose.into(),
            detail: serde_json::Value::Null,
        }
    }
    pub fn with_detail(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = detail;
        self
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub user: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub purpose: String,
    pub detail: serde_json::Value,
}

/// An intact chain: how many events, and the latest hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub events: i64,
    pub head: String,
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The first event that is missing, altered or out of place.
    pub event: i64,
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit event {}: {}", self.event, self.reason)
    }
}

/// The hash of event `id`: JSON of the previous hash and the event's fields, so no two
/// different events can serialise alike. `at` is in whole seconds on every engine.
#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    id: i64,
    at: i64,
    user: Option<i64>,
    action: &str,
    subject_type: &str,
    subject_id: Option<&str>,
    purpose: &str,
    detail: &serde_json::Value,
) -> String {
    // serde_json's maps are sorted by key, so a detail read back from jsonb hashes the same.
    let body = serde_json::json!([prev, id, at, user, action, subject_type, subject_id, purpose, detail]);
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// Append event `id` after `prev` if the chain's head is still at `id - 1`, moving the head in
/// the same statement. Returns the event's hash, or `None` when another writer got there first.
/// SQLite: the insert, whose trigger moves the head (a taken id fails on the primary key).
/// PostgreSQL: one statement that moves the head and inserts, taking the head row first, so two
/// writers queue on it rather than deadlock on the head and the new id.
async fn append(db: &mut Db<'_>, id: i64, prev: &str, e: &AuditEvent) -> Result<Option<String>> {
    let at = Utc::now().timestamp();
    let hash =
        chain_hash(prev, id, at, e.user_id, &e.action, &e.subject_type, e.subject_id.as_deref(), &e.purpose, &e.detail);
    let sql = match db.engine() {
        Engine::Sqlite => {
            "INSERT INTO audit_events (id, at, user_id, action, subject_type, subject_id, purpose, detail, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        }
        Engine::Postgres => {
            "WITH head AS (UPDATE audit_head SET events = $1, hash = $9 WHERE id = 1 AND events = $1 - 1 RETURNING id)
             INSERT INTO audit_events (id, at, user_id, action, subject_type, subject_id, purpose, detail, hash)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM head"
        }
    };
    let detail = (!e.detail.is_null()).then(|| Json::from(e.detail.clone()));
    let inserted = on!(db, c => sqlx::query(sql)
        .bind(id)
        .bind(Ts::secs(at))
        .bind(e.user_id)
        .bind(&e.action)
        .bind(&e.subject_type)
        .bind(&e.subject_id)
        .bind(&e.purpose)
        .bind(&detail)
        .bind(&hash)
        .execute(c)
        .await
        .map(|r| r.rows_affected()));
    match inserted {
        Ok(1) => Ok(Some(hash)),
        Ok(_) => Ok(None),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Write an event inside a transaction that changes something (a recording): the head row is
/// taken first and held to the commit, so the event lands in the chain with the change.
pub(crate) async fn write(db: &mut Db<'_>, e: &AuditEvent) -> Result<(i64, String)> {
    let take = "UPDATE audit_head SET events = events WHERE id = 1 RETURNING events, hash";
    let (events, prev): (i64, String) = on!(db, c => sqlx::query_as(take).fetch_one(&mut *c).await?);
    match append(db, events + 1, &prev, e).await? {
        Some(hash) => Ok((events + 1, hash)),
        None => {
            Err(StoreError::Other(format!("audit event {} was written by another writer holding no lock", events + 1)))
        }
    }
}

/// Append a consultation's event after the cached `head` in one statement, or, with no head
/// known or another instance having moved it, take the head row as a recording does (so a busy
/// neighbour cannot keep moving it between our read and our append); `head` follows.
async fn append_after(db: &mut Db<'_>, head: &mut Option<(i64, String)>, e: &AuditEvent) -> Result<()> {
    if let Some((events, prev)) = head.take() {
        if let Some(hash) = append(db, events + 1, &prev, e).await? {
            *head = Some((events + 1, hash));
            return Ok(());
        }
    }
    exec!(db, c => sqlx::query("BEGIN").execute(c).await?);
    let written = write(db, e).await;
    let end = if written.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = on!(db, c => sqlx::query(end).execute(c).await.map(|_| ()));
    let written = written?;
    ended?;
    *head = Some(written);
    Ok(())
}

/// `append_after` on `conn`, which goes back to the pool only if it succeeded.
async fn append_on(mut conn: Pooled, head: &mut Option<(i64, String)>, e: &AuditEvent) -> Result<()> {
    let appended = append_after(&mut conn.db(), head, e).await;
    if appended.is_err() {
        // Not back into the pool in an unknown state (or an open transaction).
        conn.close_on_drop();
    }
    appended
}

/// The chain's head as this process last wrote or read it, so a consultation's event is one
/// statement: appended after the cached head, re-read only when another writer moved it.
pub(crate) type HeadCache = Arc<tokio::sync::Mutex<Option<(i64, String)>>>;

type Row = (i64, Ts, Option<String>, String, String, Option<String>, String, Option<Json>);
type ChainRow = (i64, Ts, Option<i64>, String, String, Option<String>, String, Option<Json>, Option<String>);

const SELECT: &str = "SELECT a.id, a.at, u.username, a.action, a.subject_type, a.subject_id, a.purpose, a.detail
     FROM audit_events a LEFT JOIN users u ON u.id = a.user_id";
const CHAIN: &str = "SELECT id, at, user_id, action, subject_type, subject_id, purpose, detail, hash FROM audit_events";
const PAGE: i64 = 10_000;

fn row_hash(prev: &str, r: &ChainRow) -> String {
    let detail = r.7.as_ref().map(|j| j.0.clone()).unwrap_or_default();
    chain_hash(prev, r.0, r.1 .0.timestamp(), r.2, &r.3, &r.4, r.5.as_deref(), &r.6, &detail)
}

impl Store {
    /// Record a consultation (a look at personal data) that changed nothing. On PostgreSQL it
    /// commits without waiting for the WAL flush (see `pools`).
    pub async fn audit(&self, e: &AuditEvent) -> Result<()> {
        let mut head = self.audit_head.lock().await;
        match append_on(self.pools.audit().await?, &mut head, e).await {
            // The audit pool's connections are not pinged before use (see `pools`): one the
            // server dropped fails, and the event is written on one that answers. Had the first
            // try landed before the connection went, the event is logged twice, never lost.
            Err(err) if err.is_connection_lost() => append_on(self.pools.audit_after_loss().await?, &mut head, e).await,
            done => done,
        }
    }

    /// Events about one record (`incident`, `REF`; `person`, `ID` …), oldest first: those about
    /// it, and searches that showed it (a first-contact check lists the people it found).
    pub async fn audit_for(&self, subject_type: &str, subject_id: &str) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "{SELECT} WHERE a.id IN (
               SELECT id FROM audit_events WHERE subject_type = $1 AND subject_id = $2
               UNION SELECT event_id FROM audit_subjects WHERE subject_type = $1 AND subject_id = $2)
             ORDER BY a.id"
        );
        let rows: Vec<Row> = read_only!(self, |db| on!(db, c => sqlx::query_as(&sql)
            .bind(subject_type)
            .bind(subject_id)
            .fetch_all(c)
            .await
            .map_err(StoreError::from)))?;
        Ok(records(rows))
    }

    /// The latest events, newest first.
    pub async fn audit_recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = format!("{SELECT} ORDER BY a.id DESC LIMIT $1");
        let rows: Vec<Row> = read_only!(self, |db| on!(db, c => sqlx::query_as(&sql)
            .bind(limit)
            .fetch_all(c)
            .await
            .map_err(StoreError::from)))?;
        Ok(records(rows))
    }

    /// Check every event against the chain, oldest first. `Ok(Err(..))` names the first event
    /// that is missing, altered or out of place.
    pub async fn verify_audit_chain(&self) -> Result<Result<ChainReport, ChainBreak>> {
        let mut c = self.current().await?;
        let head = "SELECT events, hash FROM audit_head WHERE id = 1";
        let (events, head_hash): (i64, String) = on!(&mut c.db(), c => sqlx::query_as(head).fetch_one(c).await?);
        let sql = format!("{CHAIN} WHERE id > $1 ORDER BY id LIMIT $2");
        let (mut last, mut prev) = (0i64, String::new());
        loop {
            let rows: Vec<ChainRow> =
                on!(&mut c.db(), c => sqlx::query_as(&sql).bind(last).bind(PAGE).fetch_all(&mut *c).await?);
            let Some(end) = rows.last().map(|r| r.0) else { break };
            for r in &rows {
                let expected = last + 1;
                if r.0 != expected {
                    let reason = format!("missing (the next event held is {})", r.0);
                    return Ok(Err(ChainBreak { event: expected, reason }));
                }
                let hash = row_hash(&prev, r);
                if r.8.as_deref() != Some(hash.as_str()) {
                    let reason =
                        "altered, or not in its place: its hash does not match its contents and the event before it";
                    return Ok(Err(ChainBreak { event: r.0, reason: reason.into() }));
                }
                (last, prev) = (r.0, hash);
            }
            debug_assert_eq!(last, end);
        }
        if last != events || prev != head_hash {
            let reason = format!("missing: the log held {events} events and {last} remain");
            return Ok(Err(ChainBreak { event: last + 1, reason }));
        }
        Ok(Ok(ChainReport { events, head: head_hash }))
    }

    /// Bring events written before the chain existed into it, in order (a one-off when an old
    /// database is opened). Cheap when there are none: the head's count is the highest id.
    pub(crate) async fn seal_audit_chain(&self) -> Result<()> {
        loop {
            let mut tx = self.begin().await?;
            let mut db = tx.db();
            let head = "SELECT events, hash FROM audit_head WHERE id = 1";
            let (events, mut prev): (i64, String) = on!(&mut db, c => sqlx::query_as(head).fetch_one(&mut *c).await?);
            let sql = format!("{CHAIN} WHERE id > $1 AND hash IS NULL ORDER BY id LIMIT $2");
            let rows: Vec<ChainRow> =
                on!(&mut db, c => sqlx::query_as(&sql).bind(events).bind(PAGE).fetch_all(&mut *c).await?);
            let Some(last) = rows.last().map(|r| r.0) else { return Ok(()) };
            for r in &rows {
                prev = row_hash(&prev, r);
                exec!(&mut db, c => sqlx::query("UPDATE audit_events SET hash = $1 WHERE id = $2")
                    .bind(&prev).bind(r.0).execute(&mut *c).await?);
            }
            exec!(&mut db, c => sqlx::query("UPDATE audit_head SET events = $1, hash = $2 WHERE id = 1")
                .bind(last).bind(&prev).execute(&mut *c).await?);
            tx.commit().await?;
            tracing::info!(through = last, "audit events sealed into the hash chain");
        }
    }
}

fn records(rows: Vec<Row>) -> Vec<AuditRecord> {
    rows.into_iter()
        .map(|(id, at, user, action, subject_type, subject_id, purpose, detail)| AuditRecord {
            id,
            at: at.0,
            user,
            action,
            subject_type,
            subject_id,
            purpose,
            detail: detail.map(|d| d.0).unwrap_or_default(),
        })
        .collect()
}
