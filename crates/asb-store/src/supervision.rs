//! Supervision against the record: scheduling the reviews a new incident needs, the right
//! supervisor's queue, a review (confirm, or change with a reason) in one transaction with its
//! audit event, and the updates given to victims. The domain (`asb_domain::supervision`)
//! decides what falls due and what a review may change; this module reads and writes.

use crate::engine::{exec, on, Db, Ts};
use crate::{audit, read_only, AuditEvent, Result, Store, StoreError, User};
use asb_domain::access::Role;
use asb_domain::supervision::{
    acting_rank, is_overdue, on_time, review_changes, supervisory, Change, Classification, Due, DueKind,
    SupervisionPolicy, ValidReview,
};
use asb_domain::{Category, FieldError, Policies, Qualifier, RiskLevel, TypeCode};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// Police records only: the supervisors' queues hold what the force itself recorded.
/// `asb_domain::access::POLICE_KINDS` as an SQL list: `('force', 'borough', …)`.
pub(crate) fn police_kinds() -> String {
    let kinds: Vec<String> = asb_domain::access::POLICE_KINDS.iter().map(|k| format!("'{k}'")).collect();
    format!("({})", kinds.join(", "))
}

/// How far ahead the queue looks: reviews falling due within this many days are listed.
pub const QUEUE_DAYS_AHEAD: i64 = 7;
const QUEUE_LIMIT: i64 = 200;

/// Which records a user supervises: their borough's, or (at force level) every borough's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    Force {
        name: String,
    },
    Borough {
        id: i64,
        name: String,
    },
    /// A user outside the force's boroughs (a partner) supervises no police records.
    Nothing {
        name: String,
    },
}

impl Scope {
    pub fn name(&self) -> &str {
        match self {
            Scope::Force { .. } => "All boroughs",
            Scope::Borough { name, .. } | Scope::Nothing { name } => name,
        }
    }
    pub(crate) fn borough(&self) -> Option<i64> {
        match self {
            Scope::Borough { id, .. } => Some(*id),
            _ => None,
        }
    }
    /// Whether a record in `borough` is within the scope.
    pub(crate) fn covers(&self, borough: Option<i64>) -> bool {
        match self {
            Scope::Force { .. } => true,
            Scope::Borough { id, .. } => borough == Some(*id),
            Scope::Nothing { .. } => false,
        }
    }
}

pub(crate) async fn scope_of(db: &mut Db<'_>, user: &User) -> Result<Scope> {
    let sql = "SELECT o.kind, o.name, o.parent_id, p.name FROM organisations o
         LEFT JOIN organisations p ON p.id = o.parent_id WHERE o.id = $1";
    let (kind, name, parent, parent_name): (String, String, Option<i64>, Option<String>) =
        on!(db, c => sqlx::query_as(sql).bind(user.organisation_id).fetch_one(c).await?);
    Ok(match (kind.as_str(), parent, parent_name) {
        ("force", _, _) => Scope::Force { name },
        ("borough", _, _) => Scope::Borough { id: user.organisation_id, name },
        // A neighbourhood team's supervisors review its borough's incidents.
        ("neighbourhood_team", Some(id), Some(name)) => Scope::Borough { id, name },
        _ => Scope::Nothing { name },
    })
}

/// Schedule the reviews a newly recorded incident needs (none for a standard-risk one, or one
/// a partner recorded). Runs inside the recording's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn schedule_new(
    db: &mut Db<'_>,
    policy: &SupervisionPolicy,
    organisation_kind: &str,
    incident_id: i64,
    received_at: DateTime<Utc>,
    reference: &str,
    place_id: i64,
    level: RiskLevel,
    recorded_at: DateTime<Utc>,
) -> Result<()> {
    if !asb_domain::access::is_police(organisation_kind) || !policy.needs_review(level) {
        return Ok(());
    }
    let sql = "SELECT borough_id FROM places WHERE id = $1";
    let borough: Option<i64> = on!(db, c => sqlx::query_scalar(sql).bind(place_id).fetch_one(c).await?);
    let due = policy.initial_schedule(level, recorded_at);
    write_schedule(db, incident_id, Ts(received_at), reference, borough, &due).await
}

async fn write_schedule(
    db: &mut Db<'_>,
    incident_id: i64,
    received_at: Ts,
    reference: &str,
    borough: Option<i64>,
    due: &[Due],
) -> Result<()> {
    let sql = "INSERT INTO review_schedule (incident_id, received_at, reference, borough_id, role, kind, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
    for d in due {
        exec!(db, c => sqlx::query(sql)
            .bind(incident_id)
            .bind(received_at)
            .bind(reference)
            .bind(borough)
            .bind(d.role.as_str())
            .bind(d.kind.as_str())
            .bind(Ts(d.due_at))
            .execute(c)
            .await?);
    }
    Ok(())
}

// ---- the queue -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub reference: String,
    pub role: Role,
    pub kind: DueKind,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    pub received_at: DateTime<Utc>,
    pub category: String,
    pub type_code: u16,
    pub type_label: String,
    pub risk_level: Option<String>,
    pub borough: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    pub as_at: DateTime<Utc>,
    pub scope: Scope,
    /// The supervisory ranks the queue is for.
    pub roles: Vec<Role>,
    /// Reviews overdue now.
    pub overdue: i64,
    /// Reviews due within the next `QUEUE_DAYS_AHEAD` days, the overdue included.
    pub due: i64,
    /// Reviews scheduled further ahead.
    pub later: i64,
    pub days_ahead: i64,
    /// Overdue first, then by due time; at most 200.
    pub items: Vec<QueueItem>,
}

type QueueRow = (String, String, String, Ts, Ts, String, i32, Option<String>, Option<String>);

fn role_params(roles: &[Role]) -> [String; 3] {
    let name = |i: usize| roles.get(i).or(roles.first()).map_or(String::new(), |r| r.as_str().to_string());
    [name(0), name(1), name(2)]
}

impl Store {
    /// The user's review queue: reviews due for their supervisory ranks on police records in
    /// their borough (every borough for a user at force level), overdue first. Logged as a
    /// consultation naming the records listed.
    pub async fn supervision_queue(&self, now: DateTime<Utc>, user: &User) -> Result<Queue> {
        let roles = supervisory(&Role::parse_list(&user.roles));
        let horizon = Ts(now + Duration::days(QUEUE_DAYS_AHEAD));
        let [r1, r2, r3] = role_params(&roles);
        let (scope, rows, counts) = read_only!(self, |db| {
            async {
            let scope = scope_of(db, user).await?;
            if roles.is_empty() || matches!(scope, Scope::Nothing { .. }) {
                return Ok((scope, vec![], (0, 0, 0)));
            }
            let borough = scope.borough();
            let filter = if borough.is_some() { "AND s.borough_id = $4" } else { "AND $4 IS NULL" };
            let list = format!(
                "SELECT s.reference, s.role, s.kind, s.due_at, s.received_at, i.category, i.type_code, i.risk_level, b.name
                 FROM review_schedule s
                 JOIN incidents i ON i.id = s.incident_id AND i.received_at = s.received_at
                 LEFT JOIN organisations b ON b.id = s.borough_id
                 WHERE s.role IN ($1, $2, $3) {filter} AND s.due_at <= $5
                 ORDER BY s.due_at, s.reference LIMIT {QUEUE_LIMIT}"
            );
            let rows: Vec<QueueRow> = on!(db, c => sqlx::query_as(&list)
                .bind(&r1).bind(&r2).bind(&r3).bind(borough).bind(horizon)
                .fetch_all(c).await?);
            let count = format!(
                "SELECT COALESCE(SUM(CASE WHEN s.due_at < $5 THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN s.due_at <= $6 THEN 1 ELSE 0 END), 0),
                        COUNT(*)
                 FROM review_schedule s WHERE s.role IN ($1, $2, $3) {filter}"
            );
            let (overdue, due, all): (i64, i64, i64) = on!(db, c => sqlx::query_as(&count)
                .bind(&r1).bind(&r2).bind(&r3).bind(borough).bind(Ts(now)).bind(horizon)
                .fetch_one(c).await?);
            Ok::<_, StoreError>((scope, rows, (overdue, due, all - due)))
        }
        .await
        })?;
        let items: Vec<QueueItem> = rows
            .into_iter()
            .map(|(reference, role, kind, due_at, received_at, category, type_code, risk_level, borough)| QueueItem {
                reference,
                role: role.parse().unwrap_or(Role::Sergeant),
                kind: DueKind::parse(&kind),
                overdue: is_overdue(due_at.0, now),
                due_at: due_at.0,
                received_at: received_at.0,
                category,
                type_code: type_code as u16,
                type_label: TypeCode::new(type_code as u16).map(|t| t.label().to_string()).unwrap_or_default(),
                risk_level,
                borough,
            })
            .collect();
        let listed: Vec<&str> = items.iter().map(|i| i.reference.as_str()).collect();
        self.audit(
            &AuditEvent::new(Some(user.id), "consultation", "queue", Some("supervision".into()), "supervision queue")
                .with_detail(serde_json::json!({"roles": roles, "scope": scope.name(), "incidents": listed})),
        )
        .await?;
        let (overdue, due, later) = counts;
        Ok(Queue { as_at: now, scope, roles, overdue, due, later, days_ahead: QUEUE_DAYS_AHEAD, items })
    }
}

// ---- one incident under review ---------------------------------------------------------------

/// A change a review made, as kept.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub reason: String,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewRecord {
    pub id: i64,
    pub role: String,
    pub reviewer: Option<String>,
    pub reviewed_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub on_time: Option<bool>,
    pub outcome: String,
    pub risk_level: Option<String>,
    pub reason: Option<String>,
}

/// The values an incident opened with and has now, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Values {
    pub category: String,
    pub type_code: u16,
    pub type_label: String,
    pub qualifiers: Vec<u16>,
    pub risk_level: Option<String>,
}

/// What a supervisor sees of an incident under review.
#[derive(Debug, Clone, Serialize)]
pub struct Supervision {
    pub reference: String,
    pub received_at: DateTime<Utc>,
    pub organisation: String,
    pub borough: Option<String>,
    pub narrative: String,
    pub status: String,
    /// The questionnaire's own level, before any practitioner's override.
    pub risk_assessed_level: Option<String>,
    pub opening: Values,
    pub current: Values,
    /// Reviews still to come, soonest first.
    pub due: Vec<DueItem>,
    pub reviews: Vec<ReviewRecord>,
    pub changes: Vec<ChangeRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DueItem {
    pub role: Role,
    pub kind: DueKind,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
}

/// The result of a review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOutcome {
    pub reference: String,
    pub review_id: i64,
    pub role: Role,
    pub reviewed_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub on_time: Option<bool>,
    /// `confirmed` or `changed`.
    pub outcome: String,
    pub changes: Vec<Change>,
    /// The reviews now due, soonest first.
    pub next: Vec<Due>,
}

type Head = (i64, Ts, String, i32, Option<String>, String, Option<i64>);

/// The incident's id, receipt, classification, recording organisation's kind and borough.
async fn head(db: &mut Db<'_>, reference: &str) -> Result<Option<Head>> {
    let sql = "SELECT i.id, i.received_at, i.category, i.type_code, i.risk_level, o.kind, p.borough_id
         FROM incidents i JOIN organisations o ON o.id = i.organisation_id LEFT JOIN places p ON p.id = i.place_id
         WHERE i.reference = $1";
    Ok(on!(db, c => sqlx::query_as(sql).bind(reference).fetch_optional(c).await?))
}

async fn qualifiers(db: &mut Db<'_>, incident: i64) -> Result<Vec<i32>> {
    let sql = "SELECT code FROM incident_qualifiers WHERE incident_id = $1 ORDER BY code";
    Ok(on!(db, c => sqlx::query_scalar(sql).bind(incident).fetch_all(c).await?))
}

async fn pending(db: &mut Db<'_>, incident: i64) -> Result<Vec<Due>> {
    let sql = "SELECT role, kind, due_at FROM review_schedule WHERE incident_id = $1 ORDER BY due_at";
    let rows: Vec<(String, String, Ts)> = on!(db, c => sqlx::query_as(sql).bind(incident).fetch_all(c).await?);
    Ok(rows
        .into_iter()
        .filter_map(|(r, k, t)| Some(Due { role: r.parse().ok()?, kind: DueKind::parse(&k), due_at: t.0 }))
        .collect())
}

fn not_found(reference: &str) -> StoreError {
    StoreError::NotFound(format!("incident {reference}"))
}

/// Refuse a supervisor outside the incident's borough, or a record a partner made.
fn within(scope: &Scope, kind: &str, borough: Option<i64>, reference: &str) -> Result<()> {
    if !asb_domain::access::is_police(kind) {
        return Err(StoreError::Invalid(vec![FieldError::new(
            "reference",
            format!("{reference} was recorded by a partner agency: police supervisors review police records"),
        )]));
    }
    if !scope.covers(borough) {
        return Err(StoreError::Invalid(vec![FieldError::new(
            "reference",
            format!("{reference} is not in {}'s records: it is reviewed in its own borough", scope.name()),
        )]));
    }
    Ok(())
}

type ReviewRow = (i64, String, Option<String>, Ts, Option<Ts>, Option<bool>, String, Option<String>, Option<String>);
type ChangeRow = (String, Option<String>, Option<String>, String, Option<String>, Ts);

impl Store {
    /// An incident as a supervisor reviews it: opening and current values, reviews due and done,
    /// and every change with its reason. Logged as a consultation.
    pub async fn supervision(&self, now: DateTime<Utc>, reference: &str, user: &User) -> Result<Supervision> {
        // Read from the primary: a review just made must show.
        let mut conn = self.current().await?;
        let db = &mut conn.db();
        let scope = scope_of(db, user).await?;
        let (id, received_at, category, type_code, risk_level, kind, borough) =
            head(db, reference).await?.ok_or_else(|| not_found(reference))?;
        within(&scope, &kind, borough, reference)?;
        let sql = "SELECT i.narrative, i.status, i.opening_category, i.opening_type_code, i.risk_assessed_level,
                    o.name, b.name
             FROM incidents i JOIN organisations o ON o.id = i.organisation_id
             LEFT JOIN places p ON p.id = i.place_id LEFT JOIN organisations b ON b.id = p.borough_id
             WHERE i.id = $1 AND i.received_at = $2";
        type Rest = (String, String, String, i32, Option<String>, String, Option<String>);
        let (narrative, status, ocat, otype, assessed, organisation, borough_name): Rest =
            on!(db, c => sqlx::query_as(sql).bind(id).bind(received_at).fetch_one(c).await?);
        let quals: Vec<u16> = qualifiers(db, id).await?.into_iter().map(|q| q as u16).collect();
        let due = pending(db, id).await?;
        let sql = "SELECT r.id, r.role, u.username, r.reviewed_at, r.due_at, r.on_time, r.outcome, r.risk_level, r.reason
             FROM reviews r LEFT JOIN users u ON u.id = r.reviewer_id WHERE r.incident_id = $1 ORDER BY r.reviewed_at, r.id";
        let reviews: Vec<ReviewRow> = on!(db, c => sqlx::query_as(sql).bind(id).fetch_all(c).await?);
        let sql = "SELECT ch.field, ch.old_value, ch.new_value, ch.reason, u.username, ch.changed_at
             FROM incident_changes ch LEFT JOIN users u ON u.id = ch.changed_by WHERE ch.incident_id = $1 ORDER BY ch.id";
        let changes: Vec<ChangeRow> = on!(db, c => sqlx::query_as(sql).bind(id).fetch_all(c).await?);
        drop(conn);

        // The opening value of a field is the first change's old value, else the current one.
        let opened = |field: &str| changes.iter().find(|c| c.0 == field).map(|c| c.1.clone());
        let label = |t: u16| TypeCode::new(t).map(|t| t.label().to_string()).unwrap_or_default();
        let opening_quals = match opened("qualifiers") {
            Some(q) => q.unwrap_or_default().split(',').filter_map(|c| c.trim().parse().ok()).collect(),
            None => quals.clone(),
        };
        let detail = Supervision {
            reference: reference.to_string(),
            received_at: received_at.0,
            organisation,
            borough: borough_name,
            narrative,
            status,
            risk_assessed_level: assessed,
            opening: Values {
                category: ocat,
                type_code: otype as u16,
                type_label: label(otype as u16),
                qualifiers: opening_quals,
                risk_level: opened("risk_level").unwrap_or_else(|| risk_level.clone()),
            },
            current: Values {
                category,
                type_code: type_code as u16,
                type_label: label(type_code as u16),
                qualifiers: quals,
                risk_level,
            },
            due: due
                .into_iter()
                .map(|d| DueItem { role: d.role, kind: d.kind, overdue: is_overdue(d.due_at, now), due_at: d.due_at })
                .collect(),
            reviews: reviews
                .into_iter()
                .map(|(id, role, reviewer, at, due_at, on_time, outcome, risk_level, reason)| ReviewRecord {
                    id,
                    role,
                    reviewer,
                    reviewed_at: at.0,
                    due_at: due_at.map(|t| t.0),
                    on_time,
                    outcome,
                    risk_level,
                    reason,
                })
                .collect(),
            changes: changes
                .into_iter()
                .map(|(field, old, new, reason, by, at)| ChangeRecord { field, old, new, reason, by, at: at.0 })
                .collect(),
        };
        self.audit(&AuditEvent::new(
            Some(user.id),
            "consultation",
            "incident",
            Some(reference.to_string()),
            "supervisory review",
        ))
        .await?;
        Ok(detail)
    }

    /// A supervisor's review of an incident: confirm, or change the category, type, qualifiers
    /// or risk level with a reason. The incident's current values change (the opening ones stay
    /// as recorded), each change is kept with its old and new value, the review is recorded as
    /// on time or late, and the next reviews are scheduled — with the audit event, all or
    /// nothing.
    pub async fn review_incident(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        reference: &str,
        user: &User,
        review: &ValidReview,
    ) -> Result<ReviewOutcome> {
        let policy = &policies.supervision;
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let scope = scope_of(db, user).await?;
        let (id, received_at, _, _, _, kind, borough) =
            head(db, reference).await?.ok_or_else(|| not_found(reference))?;
        within(&scope, &kind, borough, reference)?;
        // Take the incident's row first, so two reviews of one incident queue rather than both
        // working from the same schedule.
        let lock = "UPDATE incidents SET status = status WHERE id = $1 AND received_at = $2";
        exec!(db, c => sqlx::query(lock).bind(id).bind(received_at).execute(c).await?);
        let (_, _, category, type_code, risk_level, _, _) =
            head(db, reference).await?.ok_or_else(|| not_found(reference))?;

        let invalid = |field: &str, message: String| StoreError::Invalid(vec![FieldError::new(field, message)]);
        let current = Classification {
            category: category.parse::<Category>().map_err(|e| invalid("category", e))?,
            type_code: TypeCode::new(type_code as u16).map_err(|e| invalid("type_code", e))?,
            qualifiers: qualifiers(db, id)
                .await?
                .into_iter()
                .filter_map(|q| Qualifier::new(q as u16).ok())
                .collect::<BTreeSet<_>>(),
            risk_level: risk_level.as_deref().and_then(|l| l.parse().ok()),
        };
        let due = pending(db, id).await?;
        let roles = Role::parse_list(&user.roles);
        let role = acting_rank(&roles, &due, review.role).map_err(|e| StoreError::Invalid(vec![e]))?;
        let changes = review_changes(&current, review, Some(role)).map_err(StoreError::Invalid)?;
        let reason = review.reason.clone();

        let category_now = review.category.unwrap_or(current.category);
        crate::analysis_counts::recategorise(
            db,
            received_at.0,
            borough,
            current.category.as_str(),
            category_now.as_str(),
        )
        .await?;
        let level = review.risk_level.or(current.risk_level).unwrap_or(RiskLevel::Standard);
        let set =
            "UPDATE incidents SET category = $1, type_code = $2, risk_level = $3 WHERE id = $4 AND received_at = $5";
        exec!(db, c => sqlx::query(set)
            .bind(category_now.as_str())
            .bind(i32::from(review.type_code.unwrap_or(current.type_code).code()))
            .bind(review.risk_level.map(|l| l.as_str()).or(risk_level.as_deref()))
            .bind(id)
            .bind(received_at)
            .execute(c)
            .await?);
        if let Some(wanted) = &review.qualifiers {
            for q in current.qualifiers.difference(wanted) {
                let sql = "DELETE FROM incident_qualifiers WHERE incident_id = $1 AND code = $2";
                exec!(db, c => sqlx::query(sql).bind(id).bind(i32::from(q.code())).execute(c).await?);
            }
            for q in wanted.difference(&current.qualifiers) {
                let sql =
                    "INSERT INTO incident_qualifiers (incident_id, code, applied_by, reason) VALUES ($1, $2, 'review', $3)";
                exec!(db, c => sqlx::query(sql).bind(id).bind(i32::from(q.code())).bind(&reason).execute(c).await?);
            }
        }

        let done = due.iter().find(|d| d.role == role).cloned();
        let review_on_time = done.as_ref().map(|d| on_time(now, d.due_at));
        let outcome = if changes.is_empty() { "confirmed" } else { "changed" };
        let sql =
            "INSERT INTO reviews (incident_id, received_at, borough_id, reviewer_id, role, kind, reviewed_at, due_at,
               on_time, outcome, risk_level, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
        let review_id: i64 = on!(db, c => sqlx::query_scalar(sql)
            .bind(id)
            .bind(received_at)
            .bind(borough)
            .bind(user.id)
            .bind(role.as_str())
            .bind(done.as_ref().map(|d| d.kind.as_str()))
            .bind(Ts(now))
            .bind(done.as_ref().map(|d| Ts(d.due_at)))
            .bind(review_on_time)
            .bind(outcome)
            .bind(level.as_str())
            .bind(&reason)
            .fetch_one(c)
            .await?);
        let sql = "INSERT INTO incident_changes (incident_id, field, old_value, new_value, reason, changed_by, changed_at, review_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        for ch in &changes {
            exec!(db, c => sqlx::query(sql)
                .bind(id)
                .bind(ch.field)
                .bind(&ch.old)
                .bind(&ch.new)
                .bind(reason.as_deref().unwrap_or_default())
                .bind(user.id)
                .bind(Ts(now))
                .bind(review_id)
                .execute(c)
                .await?);
        }

        let next = policy.after_review(&due, role, now, level);
        exec!(db, c => sqlx::query("DELETE FROM review_schedule WHERE incident_id = $1").bind(id).execute(c).await?);
        write_schedule(db, id, received_at, reference, borough, &next).await?;

        audit::write(
            db,
            &AuditEvent::new(Some(user.id), "alteration", "incident", Some(reference.to_string()), "supervisor review")
                .with_detail(serde_json::json!({
                    "role": role, "outcome": outcome, "on_time": review_on_time,
                    "changes": changes.iter().map(|c| serde_json::json!({"field": c.field, "old": c.old, "new": c.new})).collect::<Vec<_>>(),
                    "policy": format!("{}@{}", policy.meta.id, policy.meta.version),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(ReviewOutcome {
            reference: reference.to_string(),
            review_id,
            role,
            reviewed_at: now,
            due_at: done.map(|d| d.due_at),
            on_time: review_on_time,
            outcome: outcome.to_string(),
            changes,
            next,
        })
    }
}

// ---- victim updates --------------------------------------------------------------------------

/// How a victim was updated.
pub const UPDATE_CHANNELS: [(&str, &str); 6] = [
    ("phone", "Phone call"),
    ("visit", "Visit"),
    ("email", "Email"),
    ("text", "Text message"),
    ("letter", "Letter"),
    ("in_person", "In person at a station"),
];

#[derive(Debug, Clone, Serialize)]
pub struct VictimUpdate {
    pub id: i64,
    pub reference: String,
    pub at: DateTime<Utc>,
    pub channel: String,
    pub note: Option<String>,
    pub by: String,
    /// Hours from the report to this update.
    pub hours_after_report: i64,
}

impl Store {
    /// Record that the victim was updated (by whom, when, how, what was said), with its audit
    /// event. `at` defaults to now and may not be in the future or before the report.
    pub async fn record_victim_update(
        &self,
        now: DateTime<Utc>,
        reference: &str,
        user: &User,
        channel: &str,
        note: Option<&str>,
        at: Option<DateTime<Utc>>,
    ) -> Result<VictimUpdate> {
        let mut errors = Vec::new();
        if !UPDATE_CHANNELS.iter().any(|(c, _)| *c == channel) {
            let names: Vec<&str> = UPDATE_CHANNELS.iter().map(|c| c.0).collect();
            errors.push(FieldError::new("channel", format!("Choose how the victim was updated: {}", names.join(", "))));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > 4000) {
            errors.push(FieldError::new("note", "Keep the note under 4,000 characters"));
        }
        let at = at.unwrap_or(now);
        if at > now {
            errors.push(FieldError::new("at", "The update cannot be in the future"));
        }
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let (id, received_at, _, _, _, _, borough) = head(db, reference).await?.ok_or_else(|| not_found(reference))?;
        if at < received_at.0 {
            errors.push(FieldError::new("at", "The update cannot be before the report was received"));
        }
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors));
        }
        let sql = "INSERT INTO victim_updates (incident_id, received_at, borough_id, user_id, at, channel, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let update_id: i64 = on!(db, c => sqlx::query_scalar(sql)
            .bind(id)
            .bind(received_at)
            .bind(borough)
            .bind(user.id)
            .bind(Ts(at))
            .bind(channel)
            .bind(note)
            .fetch_one(c)
            .await?);
        audit::write(
            db,
            &AuditEvent::new(Some(user.id), "collection", "incident", Some(reference.to_string()), "victim updated")
                .with_detail(serde_json::json!({"channel": channel, "update": update_id})),
        )
        .await?;
        tx.commit().await?;
        Ok(VictimUpdate {
            id: update_id,
            reference: reference.to_string(),
            at,
            channel: channel.to_string(),
            note: note.map(str::to_string),
            by: user.username.clone(),
            hours_after_report: (at - received_at.0).num_hours(),
        })
    }
}
