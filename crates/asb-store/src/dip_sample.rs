//! The weekly quality dip sample: each borough's sample of the week's new police records, drawn
//! on demand once the week is over (the same records on every draw: `asb_domain::supervision::
//! draw`), and a supervisor's checklist answers for each.

use crate::engine::{exec, on, Db, Json, Ts};
use crate::supervision::{police_kinds, scope_of, Scope};
use crate::{audit, AuditEvent, Result, Store, StoreError, User};
use asb_domain::supervision::{check_answers, draw, ChecklistItem, IsoWeek};
use asb_domain::{Policies, TypeCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct DipSampleItem {
    pub id: i64,
    pub week: String,
    pub borough_code: String,
    pub borough: String,
    pub reference: String,
    pub received_at: DateTime<Utc>,
    pub category: String,
    pub type_code: u16,
    pub type_label: String,
    pub risk_level: Option<String>,
    /// 1 for the record ranked first in the draw.
    pub sample_order: i32,
    pub checked_by: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    pub answers: Option<BTreeMap<String, bool>>,
    pub note: Option<String>,
    pub passed: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DipSample {
    pub week: String,
    /// The week's records run from `from` to just before `to`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// False while the week is still running: a sample is drawn only once it is over.
    pub drawn: bool,
    pub scope: Scope,
    pub per_borough: usize,
    pub checklist: Vec<ChecklistItem>,
    pub items: Vec<DipSampleItem>,
    pub checked: usize,
    pub passed: usize,
}

type ItemRow = (
    i64,
    String,
    String,
    String,
    String,
    Ts,
    String,
    i32,
    Option<String>,
    i32,
    Option<String>,
    Option<Ts>,
    Option<Json>,
    Option<String>,
    Option<bool>,
);

const ITEM_SELECT: &str = "SELECT d.id, d.week, b.code, b.name, d.reference, d.received_at, i.category, i.type_code,
        i.risk_level, d.sample_order, u.username, d.checked_at, d.answers, d.note, d.passed
     FROM dip_samples d JOIN organisations b ON b.id = d.borough_id
     JOIN incidents i ON i.id = d.incident_id AND i.received_at = d.received_at
     LEFT JOIN users u ON u.id = d.checked_by";

fn item(r: ItemRow) -> DipSampleItem {
    let (
        id,
        week,
        borough_code,
        borough,
        reference,
        received_at,
        category,
        type_code,
        risk_level,
        order,
        by,
        at,
        a,
        n,
        p,
    ) = r;
    DipSampleItem {
        id,
        week,
        borough_code,
        borough,
        reference,
        received_at: received_at.0,
        category,
        type_code: type_code as u16,
        type_label: TypeCode::new(type_code as u16).map(|t| t.label().to_string()).unwrap_or_default(),
        risk_level,
        sample_order: order,
        checked_by: by,
        checked_at: at.map(|t| t.0),
        answers: a.and_then(|j| serde_json::from_value(j.0).ok()),
        note: n,
        passed: p,
    }
}

/// The boroughs a scope covers.
async fn boroughs(db: &mut Db<'_>, scope: &Scope) -> Result<Vec<i64>> {
    Ok(match scope {
        Scope::Borough { id, .. } => vec![*id],
        Scope::Force { .. } => {
            let sql = "SELECT id FROM organisations WHERE kind = 'borough' ORDER BY id";
            on!(db, c => sqlx::query_scalar(sql).fetch_all(c).await?)
        }
        Scope::Nothing { .. } => vec![],
    })
}

impl Store {
    /// The dip sample of `week` for the user's borough (every borough at force level), drawn
    /// now if the week is over and its sample was not drawn yet. Logged as a consultation.
    pub async fn dip_sample(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        user: &User,
        week: IsoWeek,
    ) -> Result<DipSample> {
        let policy = &policies.supervision.dip_sample;
        let (from, to) = week.bounds();
        let drawn = to <= now;
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        let scope = scope_of(db, user).await?;
        let wanted = boroughs(db, &scope).await?;
        if drawn && !wanted.is_empty() {
            let sql = "SELECT DISTINCT borough_id FROM dip_samples WHERE week = $1";
            let have: BTreeSet<i64> =
                on!(db, c => sqlx::query_scalar::<_, i64>(sql).bind(week.to_string()).fetch_all(c).await?)
                    .into_iter()
                    .collect();
            let missing: BTreeSet<i64> = wanted.iter().copied().filter(|b| !have.contains(b)).collect();
            if !missing.is_empty() {
                let sql = format!(
                    "SELECT i.id, i.received_at, i.reference, p.borough_id
                     FROM incidents i JOIN organisations o ON o.id = i.organisation_id AND o.kind IN {police}
                     JOIN places p ON p.id = i.place_id
                     WHERE i.received_at >= $1 AND i.received_at < $2 AND p.borough_id IS NOT NULL",
                    police = police_kinds()
                );
                let rows: Vec<(i64, Ts, String, i64)> =
                    on!(db, c => sqlx::query_as(&sql).bind(Ts(from)).bind(Ts(to)).fetch_all(c).await?);
                let rows: Vec<_> = rows.into_iter().filter(|r| missing.contains(&r.3)).collect();
                if !rows.is_empty() {
                    drop(conn);
                    self.draw_sample(now, user, week, policy.per_borough_per_week, &rows).await?;
                    conn = self.current().await?;
                }
            }
        }
        let db = &mut conn.db();
        let items: Vec<DipSampleItem> = match scope.borough() {
            Some(b) => {
                let sql =
                    format!("{ITEM_SELECT} WHERE d.week = $1 AND d.borough_id = $2 ORDER BY b.name, d.sample_order");
                let rows: Vec<ItemRow> =
                    on!(db, c => sqlx::query_as(&sql).bind(week.to_string()).bind(b).fetch_all(c).await?);
                rows.into_iter().map(item).collect()
            }
            None if wanted.is_empty() => vec![],
            None => {
                let sql = format!("{ITEM_SELECT} WHERE d.week = $1 ORDER BY b.name, d.sample_order");
                let rows: Vec<ItemRow> = on!(db, c => sqlx::query_as(&sql).bind(week.to_string()).fetch_all(c).await?);
                rows.into_iter().map(item).collect()
            }
        };
        drop(conn);
        let listed: Vec<&str> = items.iter().map(|i| i.reference.as_str()).collect();
        self.audit(
            &AuditEvent::new(
                Some(user.id),
                "consultation",
                "dip_sample",
                Some(week.to_string()),
                "viewing the dip sample",
            )
            .with_detail(serde_json::json!({"scope": scope.name(), "incidents": listed})),
        )
        .await?;
        let checked = items.iter().filter(|i| i.checked_at.is_some()).count();
        let passed = items.iter().filter(|i| i.passed == Some(true)).count();
        Ok(DipSample {
            week: week.to_string(),
            from,
            to,
            drawn,
            scope,
            per_borough: policy.per_borough_per_week,
            checklist: policy.checklist.clone(),
            items,
            checked,
            passed,
        })
    }

    /// Draw each borough's sample from its candidates (id, receipt, reference, borough): the
    /// same records whoever draws, so drawing twice at once writes each row once.
    async fn draw_sample(
        &self,
        now: DateTime<Utc>,
        user: &User,
        week: IsoWeek,
        per_borough: usize,
        candidates: &[(i64, Ts, String, i64)],
    ) -> Result<()> {
        let mut by_borough: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for c in candidates {
            by_borough.entry(c.3).or_default().push(c.0);
        }
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let sql =
            "INSERT INTO dip_samples (borough_id, week, incident_id, received_at, reference, sample_order, drawn_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (borough_id, week, incident_id) DO NOTHING";
        let mut drawn = Vec::new();
        for (borough, ids) in &by_borough {
            for (i, id) in draw(ids, week, per_borough).into_iter().enumerate() {
                let Some(c) = candidates.iter().find(|c| c.0 == id) else { continue };
                exec!(db, conn => sqlx::query(sql)
                    .bind(borough)
                    .bind(week.to_string())
                    .bind(id)
                    .bind(c.1)
                    .bind(&c.2)
                    .bind(i as i32 + 1)
                    .bind(Ts(now))
                    .execute(conn)
                    .await?);
                drawn.push(c.2.clone());
            }
        }
        audit::write(
            db,
            &AuditEvent::new(
                Some(user.id),
                "collection",
                "dip_sample",
                Some(week.to_string()),
                "weekly dip sample drawn",
            )
            .with_detail(serde_json::json!({"boroughs": by_borough.keys().collect::<Vec<_>>(), "incidents": drawn})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a supervisor's checklist answers for one sampled record (a later check replaces
    /// an earlier one; the audit log keeps both). Every item must be answered; the record
    /// passes when every answer is yes.
    pub async fn record_dip_check(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        user: &User,
        id: i64,
        answers: &BTreeMap<String, bool>,
        note: Option<&str>,
    ) -> Result<DipSampleItem> {
        let mut errors = match check_answers(&policies.supervision.dip_sample.checklist, answers) {
            Ok(_) => vec![],
            Err(e) => e,
        };
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > 4000) {
            errors.push(asb_domain::FieldError::new("note", "Keep the note under 4,000 characters"));
        }
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let scope = scope_of(db, user).await?;
        let sql = "SELECT borough_id, reference, week FROM dip_samples WHERE id = $1";
        let row: Option<(i64, String, String)> = on!(db, c => sqlx::query_as(sql).bind(id).fetch_optional(c).await?);
        // Another borough's sample is not found, rather than refused: it is not this user's to see.
        let (borough, reference, week) = row
            .filter(|r| scope.covers(Some(r.0)))
            .ok_or_else(|| StoreError::NotFound(format!("dip-sample record {id}")))?;
        let _ = borough;
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors));
        }
        let passed = asb_domain::supervision::passes(answers);
        let sql = "UPDATE dip_samples SET checked_by = $1, checked_at = $2, answers = $3, note = $4, passed = $5 WHERE id = $6";
        exec!(db, c => sqlx::query(sql)
            .bind(user.id)
            .bind(Ts(now))
            .bind(Json::from(serde_json::json!(answers)))
            .bind(note)
            .bind(passed)
            .bind(id)
            .execute(c)
            .await?);
        audit::write(
            db,
            &AuditEvent::new(Some(user.id), "collection", "incident", Some(reference), "dip-sample check")
                .with_detail(serde_json::json!({"week": week, "sample": id, "passed": passed, "answers": answers})),
        )
        .await?;
        let sql = format!("{ITEM_SELECT} WHERE d.id = $1");
        let row: ItemRow = on!(db, c => sqlx::query_as(&sql).bind(id).fetch_one(c).await?);
        tx.commit().await?;
        Ok(item(row))
    }
}
