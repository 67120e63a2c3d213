//! The audit log: collection, alteration, consultation and disclosure of personal data, written
//! in the same transaction as the change (or alongside the read) it records. It never holds the
//! personal data that was searched for, only which fields were used and which records were seen.

use crate::{from_ts, Result, Store};
use serde::Serialize;
use sqlx::SqliteConnection;

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

pub(crate) async fn write(conn: &mut SqliteConnection, e: &AuditEvent) -> Result<()> {
    sqlx::query("INSERT INTO audit_events (at, user_id, action, subject_type, subject_id, purpose, detail) VALUES (unixepoch(), ?, ?, ?, ?, ?, ?)")
        .bind(e.user_id)
        .bind(&e.action)
        .bind(&e.subject_type)
        .bind(&e.subject_id)
        .bind(&e.purpose)
        .bind(if e.detail.is_null() { None } else { Some(e.detail.to_string()) })
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Record a consultation (a look at personal data) that changed nothing.
    pub async fn audit(&self, e: &AuditEvent) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        write(&mut conn, e).await
    }

    /// Events about one record (`incident`, `REF`), oldest first.
    pub async fn audit_for(&self, subject_type: &str, subject_id: &str) -> Result<Vec<AuditRecord>> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("{SELECT} WHERE a.subject_type = ? AND a.subject_id = ? ORDER BY a.id"))
                .bind(subject_type)
                .bind(subject_id)
                .fetch_all(&self.read)
                .await?;
        Ok(records(rows))
    }

    /// The latest events, newest first.
    pub async fn audit_recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows: Vec<Row> =
            sqlx::query_as(&format!("{SELECT} ORDER BY a.id DESC LIMIT ?")).bind(limit).fetch_all(&self.read).await?;
        Ok(records(rows))
    }
}

type Row = (i64, i64, Option<String>, String, String, Option<String>, String, Option<String>);

const SELECT: &str = "SELECT a.id, a.at, u.username, a.action, a.subject_type, a.subject_id, a.purpose, a.detail
     FROM audit_events a LEFT JOIN users u ON u.id = a.user_id";

fn records(rows: Vec<Row>) -> Vec<AuditRecord> {
    rows.into_iter()
        .map(|(id, at, user, action, subject_type, subject_id, purpose, detail)| AuditRecord {
            id,
            at: from_ts(at),
            user,
            action,
            subject_type,
            subject_id,
            purpose,
            detail: detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default(),
        })
        .collect()
}
