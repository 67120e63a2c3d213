//! Supervision over HTTP: the review queue, reviewing an incident (confirm, or change with a
//! reason), victim updates, the weekly dip sample and the inspection measures — as JSON under
//! `/api/v1` and as pages. Handlers parse at the edge with the domain's types and call the
//! store; who may use each route is in `access::ROUTES`.

use crate::auth::{ApiUser, Frame, PageUser};
use crate::error::ApiError;
use crate::pages::{london, not_found, render, render_as, render_form};
use crate::slow_cache::SlowCache;
use crate::AppState;
use asb_domain::access::Role;
use asb_domain::nsir::{Category, QUALIFIERS, TYPES};
use asb_domain::supervision::{IsoWeek, ReviewInput};
use asb_domain::{FieldError, IncidentRef};
use asb_store::{DipSample, Measures, Queue, StoreError, Supervision, User};
use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/supervision/queue", get(api_queue))
        .route("/api/v1/incidents/{reference}/reviews", get(api_supervision).post(api_review))
        .route("/api/v1/incidents/{reference}/updates", post(api_update))
        .route("/api/v1/dip-samples", get(api_dip_sample))
        .route("/api/v1/dip-samples/{id}", post(api_dip_check))
        .route("/api/v1/measures", get(api_measures))
        .route("/supervision", get(queue_page))
        .route("/supervision/incidents/{reference}", get(review_page).post(review_submit))
        .route("/supervision/dip-sample", get(dip_sample_page))
        .route("/supervision/dip-sample/{id}", post(dip_check_submit))
        .route("/measures", get(measures_page))
}

fn reference_of(reference: &str) -> Result<String, ApiError> {
    reference
        .parse::<IncidentRef>()
        .map(|r| r.to_string())
        .map_err(|e: String| ApiError::Invalid(vec![FieldError::new("reference", e)]))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::BadRequest { detail: e.body_text(), errors: vec![] })
}

// ---- API -------------------------------------------------------------------------------------

async fn api_queue(State(state): State<AppState>, ApiUser(user): ApiUser) -> Result<Json<Queue>, ApiError> {
    Ok(Json(state.store.supervision_queue(state.now(), &user).await?))
}

async fn api_supervision(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(reference): Path<String>,
) -> Result<Json<Supervision>, ApiError> {
    let r = reference_of(&reference)?;
    Ok(Json(state.store.supervision(state.now(), &r, &user).await?))
}

async fn api_review(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(reference): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = reference_of(&reference)?;
    let input: ReviewInput = crate::api::parse_json(&body)?;
    let review = input.validate().map_err(ApiError::Invalid)?;
    let outcome = state.store.review_incident(&state.policies, state.now(), &r, &user, &review).await?;
    let location = format!("/api/v1/incidents/{r}/reviews");
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(outcome)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    channel: Option<String>,
    note: Option<String>,
    /// When the victim was updated, if not now (RFC 3339).
    at: Option<DateTime<Utc>>,
}

async fn api_update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(reference): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = reference_of(&reference)?;
    let input: UpdateInput = crate::api::parse_json(&body)?;
    let channel = input.channel.unwrap_or_default();
    let update = state
        .store
        .record_victim_update(state.now(), &r, &user, channel.trim(), input.note.as_deref(), input.at)
        .await?;
    Ok((StatusCode::CREATED, Json(update)).into_response())
}

#[derive(Debug, Deserialize, Default)]
struct WeekQuery {
    week: Option<String>,
}

fn week_of(state: &AppState, q: &WeekQuery) -> Result<IsoWeek, FieldError> {
    match q.week.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => Ok(IsoWeek::last_complete(state.now())),
        Some(w) => w.parse().map_err(|e| FieldError::new("week", e)),
    }
}

async fn api_dip_sample(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    q: Result<Query<WeekQuery>, QueryRejection>,
) -> Result<Json<DipSample>, ApiError> {
    let week = week_of(&state, &query(q)?).map_err(|e| ApiError::Invalid(vec![e]))?;
    Ok(Json(state.store.dip_sample(&state.policies, state.now(), &user, week).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DipCheckInput {
    answers: Option<BTreeMap<String, bool>>,
    note: Option<String>,
}

async fn api_dip_check(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: DipCheckInput = crate::api::parse_json(&body)?;
    let answers = input.answers.unwrap_or_default();
    let item =
        state.store.record_dip_check(&state.policies, state.now(), &user, id, &answers, input.note.as_deref()).await?;
    Ok(Json(item).into_response())
}

#[derive(Debug, Deserialize, Default)]
struct MeasuresQuery {
    from: Option<String>,
    to: Option<String>,
    borough: Option<String>,
}

/// The months asked for: `from` and `to` as `YYYY-MM` (inclusive), by default the twelve
/// months to this one; at most 36.
impl MeasuresPage {
    fn as_at(&self) -> String {
        self.m.as_ref().map(|m| london(m.as_at)).unwrap_or_default()
    }
}

fn months_of(now: DateTime<Utc>, q: &MeasuresQuery) -> Result<(NaiveDate, NaiveDate), Vec<FieldError>> {
    let parse = |field: &str, v: &Option<String>| -> Result<Option<NaiveDate>, FieldError> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map(Some).map_err(|_| {
                FieldError::new(field, format!("'{s}' is not a month; write it as YYYY-MM, like 2026-04"))
            }),
        }
    };
    let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let (from, to) = (parse("from", &q.from), parse("to", &q.to));
    let mut errors = Vec::new();
    let to = to.map_err(|e| errors.push(e)).ok().flatten().unwrap_or(this_month);
    let from = from.map_err(|e| errors.push(e)).ok().flatten().unwrap_or(to - Months::new(11));
    if errors.is_empty() && from > to {
        errors.push(FieldError::new("from", "The first month must not be after the last"));
    }
    if errors.is_empty() && from + Months::new(36) <= to {
        errors.push(FieldError::new("from", "Ask for at most 36 months at a time"));
    }
    if errors.is_empty() {
        Ok((from, to))
    } else {
        Err(errors)
    }
}

/// The measures kept while slow to compute (`slow_cache`), by months and borough.
pub type MeasuresCache = SlowCache<(NaiveDate, NaiveDate, Option<String>), Measures>;

/// The measures for the months `from` to `to`, for the force and every borough or one.
async fn measures(
    state: &AppState,
    from: NaiveDate,
    to: NaiveDate,
    borough: Option<&str>,
) -> Result<Arc<Measures>, StoreError> {
    let borough = borough.map(|b| b.trim().to_uppercase());
    let s = state.clone();
    let b = borough.clone();
    let compute = move || async move { s.store.measures(&s.policies, s.now(), from, to, b.as_deref()).await };
    state.measures.get((from, to, borough), compute).await
}

async fn api_measures(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    q: Result<Query<MeasuresQuery>, QueryRejection>,
) -> Result<Json<Measures>, ApiError> {
    let q = query(q)?;
    let (from, to) = months_of(state.now(), &q).map_err(ApiError::Invalid)?;
    let borough = q.borough.as_deref().map(str::trim).filter(|b| !b.is_empty());
    Ok(Json(measures(&state, from, to, borough).await?.as_ref().clone()))
}

// ---- pages -----------------------------------------------------------------------------------

fn page_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(what) => not_found(&what),
        other => ApiError::from(other).into_response(),
    }
}

#[derive(Template)]
#[template(path = "supervision_queue.html")]
struct QueuePage {
    frame: Frame,
    q: Queue,
    rows: Vec<QueueRow>,
    ranks: String,
    done: Option<String>,
}

struct QueueRow {
    reference: String,
    rank: &'static str,
    kind: &'static str,
    due: String,
    overdue: bool,
    risk: String,
    what: String,
    borough: String,
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    reviewed: Option<String>,
}

async fn queue_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Query(done): Query<DoneQuery>,
) -> Response {
    let q = match state.store.supervision_queue(state.now(), &user).await {
        Ok(q) => q,
        Err(e) => return page_error(e),
    };
    let rows = q
        .items
        .iter()
        .map(|i| QueueRow {
            reference: i.reference.clone(),
            rank: i.role.label(),
            kind: if i.kind == asb_domain::supervision::DueKind::First { "First review" } else { "Periodic review" },
            due: london(i.due_at),
            overdue: i.overdue,
            risk: i.risk_level.clone().unwrap_or_else(|| "not assessed".into()),
            what: format!("{} – {} ({})", i.category, i.type_label, i.type_code),
            borough: i.borough.clone().unwrap_or_else(|| "Unknown".into()),
        })
        .collect();
    let ranks = q.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
    let done = done.reviewed.filter(|r| r.parse::<IncidentRef>().is_ok());
    render(&QueuePage { frame, q, rows, ranks, done })
}

#[derive(Template)]
#[template(path = "supervision_incident.html")]
struct ReviewPage {
    frame: Frame,
    s: Supervision,
    errors: Vec<(String, String)>,
    values: HashMap<String, String>,
    ranks: Vec<(&'static str, &'static str)>,
    categories: Vec<(&'static str, &'static str)>,
    types: Vec<(String, &'static str)>,
    /// (code, label, ticked)
    qualifiers: Vec<(String, &'static str, bool)>,
    levels: Vec<&'static str>,
    received: String,
    opening_qualifiers: String,
    current_qualifiers: String,
    due: Vec<(String, String, bool)>,
    reviews: Vec<Cells>,
    changes: Vec<Cells>,
}

/// One table row's five cells, as shown.
type Cells = (String, String, String, String, String);

impl ReviewPage {
    fn val(&self, k: &str) -> &str {
        self.values.get(k).map(String::as_str).unwrap_or("")
    }
    fn err(&self, id: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == id).map(|(_, m)| m.as_str())
    }
}

fn qualifier_list(codes: &[u16]) -> String {
    if codes.is_empty() {
        return "None".into();
    }
    codes
        .iter()
        .map(|c| {
            let label = asb_domain::Qualifier::new(*c).map(|q| q.label()).unwrap_or("");
            format!("{c} {label}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn yes_no(v: Option<bool>) -> String {
    match v {
        Some(true) => "On time".into(),
        Some(false) => "Late".into(),
        None => "Not scheduled".into(),
    }
}

fn build_review_page(
    frame: Frame,
    user: &User,
    s: Supervision,
    values: Option<HashMap<String, String>>,
    chosen: Option<Vec<String>>,
    errors: Vec<(String, String)>,
) -> ReviewPage {
    let values = values.unwrap_or_else(|| {
        let mut v = HashMap::new();
        v.insert("category".into(), s.current.category.clone());
        v.insert("type_code".into(), s.current.type_code.to_string());
        v.insert("risk_level".into(), s.current.risk_level.clone().unwrap_or_default());
        v
    });
    let chosen = chosen.unwrap_or_else(|| s.current.qualifiers.iter().map(|q| q.to_string()).collect());
    let roles = asb_domain::supervision::supervisory(&Role::parse_list(&user.roles));
    ReviewPage {
        frame,
        errors,
        values,
        ranks: roles.iter().map(|r| (r.as_str(), r.label())).collect(),
        categories: Category::ALL.iter().map(|c| (c.as_str(), c.label())).collect(),
        types: TYPES.iter().map(|t| (t.code.to_string(), t.label)).collect(),
        qualifiers: QUALIFIERS.iter().map(|(c, l)| (c.to_string(), *l, chosen.contains(&c.to_string()))).collect(),
        levels: vec!["standard", "medium", "high"],
        received: london(s.received_at),
        opening_qualifiers: qualifier_list(&s.opening.qualifiers),
        current_qualifiers: qualifier_list(&s.current.qualifiers),
        due: s.due.iter().map(|d| (d.role.label().to_string(), london(d.due_at), d.overdue)).collect(),
        reviews: s
            .reviews
            .iter()
            .map(|r| {
                (
                    london(r.reviewed_at),
                    r.role.parse::<Role>().map(|r| r.label().to_string()).unwrap_or_else(|_| r.role.clone()),
                    r.reviewer.clone().unwrap_or_else(|| "—".into()),
                    format!("{} ({})", r.outcome, yes_no(r.on_time)),
                    r.reason.clone().unwrap_or_default(),
                )
            })
            .collect(),
        changes: s
            .changes
            .iter()
            .map(|c| {
                (
                    asb_domain::supervision::field_label(&c.field).to_string(),
                    c.old.clone().unwrap_or_else(|| "—".into()),
                    c.new.clone().unwrap_or_else(|| "—".into()),
                    c.reason.clone(),
                    format!("{} {}", c.by.clone().unwrap_or_default(), london(c.at)),
                )
            })
            .collect(),
        s,
    }
}

async fn review_page_get(state: &AppState, user: &User, reference: &str) -> Result<Supervision, Response> {
    let r: IncidentRef = reference.parse().map_err(|_| not_found(&format!("incident {reference}")))?;
    state.store.supervision(state.now(), &r.to_string(), user).await.map_err(page_error)
}

async fn review_page_handler(state: AppState, user: User, frame: Frame, reference: String) -> Response {
    match review_page_get(&state, &user, &reference).await {
        Ok(s) => render(&build_review_page(frame, &user, s, None, None, vec![])),
        Err(r) => r,
    }
}

async fn review_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Path(reference): Path<String>,
) -> Response {
    review_page_handler(state, user, frame, reference).await
}

/// Where a review field's error is shown on the form.
fn review_form_id(field: &str) -> String {
    if field.starts_with("qualifiers") {
        "qualifiers".into()
    } else {
        field.to_string()
    }
}

async fn review_submit(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Path(reference): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let chosen: Vec<String> = pairs.iter().filter(|(k, _)| k == "qualifiers").map(|(_, v)| v.clone()).collect();
    let values: HashMap<String, String> = pairs.into_iter().filter(|(k, _)| k != "qualifiers").collect();
    let s = match review_page_get(&state, &user, &reference).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let get = |k: &str| values.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    // "Confirm as recorded" confirms whatever the fields say; "Record review" takes them.
    let input = if values.get("decision").map(String::as_str) == Some("confirm") {
        ReviewInput { role: get("role"), reason: get("reason"), ..ReviewInput::default() }
    } else {
        ReviewInput {
            role: get("role"),
            category: get("category"),
            type_code: get("type_code").map(serde_json::Value::String),
            qualifiers: Some(chosen.iter().map(|q| serde_json::Value::String(q.clone())).collect()),
            risk_level: get("risk_level"),
            reason: get("reason"),
        }
    };
    let result = match input.validate() {
        Ok(review) => state.store.review_incident(&state.policies, state.now(), &s.reference, &user, &review).await,
        Err(e) => Err(StoreError::Invalid(e)),
    };
    match result {
        Ok(out) => Redirect::to(&format!("/supervision?reviewed={}", out.reference)).into_response(),
        Err(StoreError::Invalid(errors)) => {
            let errors = errors.into_iter().map(|e| (review_form_id(&e.field), e.message)).collect();
            render_as(
                StatusCode::UNPROCESSABLE_ENTITY,
                &build_review_page(frame, &user, s, Some(values), Some(chosen), errors),
            )
        }
        Err(e) => page_error(e),
    }
}

#[derive(Template)]
#[template(path = "dip_sample.html")]
struct DipSamplePage {
    frame: Frame,
    d: DipSample,
    week: String,
    previous: String,
    from: String,
    to: String,
    items: Vec<DipRow>,
    errors: Vec<(String, String)>,
}

struct DipRow {
    id: i64,
    reference: String,
    borough: String,
    received: String,
    what: String,
    risk: String,
    checked: Option<String>,
    passed: Option<bool>,
    /// (item id, question, answer: "yes" | "no" | "").
    answers: Vec<(String, String, String)>,
    note: String,
    error: bool,
}

fn dip_page(
    frame: Frame,
    d: DipSample,
    errors: Vec<(String, String)>,
    failed: Option<(i64, &HashMap<String, String>)>,
) -> DipSamplePage {
    let items = d
        .items
        .iter()
        .map(|i| {
            let given = failed.filter(|(id, _)| *id == i.id).map(|(_, v)| v);
            DipRow {
                id: i.id,
                reference: i.reference.clone(),
                borough: i.borough.clone(),
                received: london(i.received_at),
                what: format!("{} – {} ({})", i.category, i.type_label, i.type_code),
                risk: i.risk_level.clone().unwrap_or_else(|| "not assessed".into()),
                checked: i.checked_at.map(|t| format!("{} {}", i.checked_by.clone().unwrap_or_default(), london(t))),
                passed: i.passed,
                answers: d
                    .checklist
                    .iter()
                    .map(|c| {
                        let answer = match given {
                            Some(v) => v.get(&c.id).cloned().unwrap_or_default(),
                            None => match i.answers.as_ref().and_then(|a| a.get(&c.id)) {
                                Some(true) => "yes".into(),
                                Some(false) => "no".into(),
                                None => String::new(),
                            },
                        };
                        (c.id.clone(), c.question.clone(), answer)
                    })
                    .collect(),
                note: given.and_then(|v| v.get("note").cloned()).or_else(|| i.note.clone()).unwrap_or_default(),
                error: given.is_some(),
            }
        })
        .collect();
    let week: IsoWeek = d.week.parse().unwrap_or(IsoWeek { year: 2026, week: 1 });
    DipSamplePage {
        frame,
        week: d.week.clone(),
        previous: week.previous().to_string(),
        from: d.from.format("%-d %b %Y").to_string(),
        to: (d.to - chrono::Duration::days(1)).format("%-d %b %Y").to_string(),
        items,
        errors,
        d,
    }
}

async fn dip_sample_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Query(q): Query<WeekQuery>,
) -> Response {
    let week = match week_of(&state, &q) {
        Ok(w) => w,
        Err(_) => IsoWeek::last_complete(state.now()),
    };
    match state.store.dip_sample(&state.policies, state.now(), &user, week).await {
        Ok(d) => render(&dip_page(frame, d, vec![], None)),
        Err(e) => page_error(e),
    }
}

async fn dip_check_submit(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Path(id): Path<i64>,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    let week =
        values.get("week").and_then(|w| w.parse::<IsoWeek>().ok()).unwrap_or(IsoWeek::last_complete(state.now()));
    let checklist = &state.policies.supervision.dip_sample.checklist;
    let answers: BTreeMap<String, bool> = checklist
        .iter()
        .filter_map(|c| match values.get(&c.id).map(String::as_str) {
            Some("yes") => Some((c.id.clone(), true)),
            Some("no") => Some((c.id.clone(), false)),
            _ => None,
        })
        .collect();
    let note = values.get("note").map(String::as_str);
    match state.store.record_dip_check(&state.policies, state.now(), &user, id, &answers, note).await {
        Ok(_) => Redirect::to(&format!("/supervision/dip-sample?week={week}#record-{id}")).into_response(),
        Err(StoreError::Invalid(errors)) => {
            let d = match state.store.dip_sample(&state.policies, state.now(), &user, week).await {
                Ok(d) => d,
                Err(e) => return page_error(e),
            };
            let errors = errors
                .into_iter()
                .map(|e| (format!("{}-{id}", e.field.trim_start_matches("answers.")), e.message))
                .collect();
            render_as(StatusCode::UNPROCESSABLE_ENTITY, &dip_page(frame, d, errors, Some((id, &values))))
        }
        Err(e) => page_error(e),
    }
}

// ---- the measures page -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "measures.html")]
struct MeasuresPage {
    frame: Frame,
    m: Option<Measures>,
    from: String,
    to: String,
    borough: String,
    boroughs: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    charts: Vec<Chart>,
    table: Vec<Vec<String>>,
    headings: Vec<&'static str>,
}

/// One measure's chart: a title, what it counts, and the SVG (built here, so no script runs).
struct Chart {
    id: &'static str,
    title: &'static str,
    definition: &'static str,
    svg: String,
    total: String,
}

type Pick = fn(&asb_store::Figures) -> (Option<f64>, String);

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

fn hours(v: Option<f64>) -> String {
    v.map_or("–".into(), |h| if h < 48.0 { format!("{h:.1} h") } else { format!("{:.1} days", h / 24.0) })
}

const MEASURES: [(&str, &str, bool, Pick); 6] = [
    ("risk_completed_share", "Risk questions completed at first contact", true, |f| {
        (f.risk_completed_share, format!("{} of {}", f.risk_completed, f.contacts))
    }),
    ("repeat_flagged_at_first_contact_share", "Repeat victims flagged at first contact", true, |f| {
        (
            f.repeat_flagged_at_first_contact_share,
            format!(
                "{} of {} (later {}, never {})",
                f.repeat_flagged_at_first_contact, f.repeat_victims, f.repeat_flagged_later, f.repeat_not_flagged
            ),
        )
    }),
    ("reviews_on_time_share", "Supervisory reviews on time", true, |f| {
        (f.reviews_on_time_share, format!("{} of {}", f.reviews_on_time, f.reviews_due))
    }),
    ("dip_pass_rate", "Dip-sample pass rate", true, |f| {
        (f.dip_pass_rate, format!("{} of {}", f.dip_passed, f.dip_checked))
    }),
    ("code_disagreement_share", "Opening and closing codes disagree", true, |f| {
        (f.code_disagreement_share, format!("{} of {}", f.reclassified, f.contacts))
    }),
    ("first_update_median_hours", "Median time to the victim's first update", false, |f| {
        (f.first_update_median_hours, format!("over {} victims updated", f.victims_updated))
    }),
];

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart, one bar a month, each labelled with its month and value in text and
/// filled with a hatch pattern, so it reads without colour.
fn bar_chart(id: &str, title: &str, share: bool, bars: &[(String, Option<f64>)]) -> String {
    let max = if share { 1.0 } else { bars.iter().filter_map(|b| b.1).fold(1.0_f64, f64::max) };
    let (row, left, width) = (22, 70, 420.0);
    let height = row * bars.len() + 10;
    let mut svg = format!(
        "<svg class=\"asb-chart\" role=\"img\" aria-labelledby=\"{id}-title\" viewBox=\"0 0 600 {height}\" width=\"600\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title>\
         <defs><pattern id=\"{id}-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" fill=\"#ffffff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#1d70b8\" stroke-width=\"3\"/></pattern></defs>",
        escape(title)
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 5 + i * row;
        let text = if share { pct(*value) } else { hours(*value) };
        let w = value.map_or(0.0, |v| (v / max).clamp(0.0, 1.0) * width);
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{ty}\" font-size=\"13\" fill=\"#0b0c0c\">{label}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"url(#{id}-hatch)\" stroke=\"#0b0c0c\" stroke-width=\"1\"/>\
             <text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"13\" fill=\"#0b0c0c\">{text}</text>",
            ty = y + 13,
            label = escape(label),
            tx = left as f64 + w + 6.0,
        ));
    }
    svg.push_str("</svg>");
    svg
}

async fn measures_page(
    State(state): State<AppState>,
    PageUser(_): PageUser,
    frame: Frame,
    Query(q): Query<MeasuresQuery>,
) -> Response {
    let now = state.now();
    let orgs = state.store.organisations().await.unwrap_or_default();
    let mut boroughs: Vec<(String, String)> =
        orgs.iter().filter(|o| o.kind == "borough").map(|o| (o.code.clone(), o.name.clone())).collect();
    boroughs.sort_by(|a, b| a.1.cmp(&b.1));
    let borough = q.borough.clone().map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
    let result = match months_of(now, &q) {
        Ok((from, to)) => measures(&state, from, to, borough.as_deref()).await.map(|m| (m.as_ref().clone(), from, to)),
        Err(e) => Err(StoreError::Invalid(e)),
    };
    let (m, from, to, errors) = match result {
        Ok((m, from, to)) => (Some(m), from.format("%Y-%m").to_string(), to.format("%Y-%m").to_string(), vec![]),
        Err(StoreError::Invalid(e)) => (
            None,
            q.from.clone().unwrap_or_default(),
            q.to.clone().unwrap_or_default(),
            e.into_iter().map(|e| (e.field, e.message)).collect(),
        ),
        Err(e) => return page_error(e),
    };
    let definitions: BTreeMap<&str, &str> = asb_store::MEASURE_DEFINITIONS.into_iter().collect();
    let mut charts = Vec::new();
    let mut table = Vec::new();
    if let Some(m) = &m {
        let area = if borough.is_some() { m.boroughs.first().unwrap_or(&m.force) } else { &m.force };
        for (id, title, share, pick) in MEASURES {
            let bars: Vec<(String, Option<f64>)> = area
                .months
                .iter()
                .map(|mf| {
                    let label = NaiveDate::parse_from_str(&format!("{}-01", mf.month), "%Y-%m-%d")
                        .map(|d| d.format("%b %Y").to_string())
                        .unwrap_or_else(|_| mf.month.clone());
                    (label, pick(&mf.figures).0)
                })
                .collect();
            let (total, detail) = pick(&area.total);
            charts.push(Chart {
                id,
                title,
                definition: definitions.get(id).copied().unwrap_or(""),
                svg: bar_chart(id, title, share, &bars),
                total: format!("{}: {detail}", if share { pct(total) } else { hours(total) }),
            });
        }
        for b in &m.boroughs {
            let f = &b.total;
            table.push(vec![
                b.name.clone(),
                f.contacts.to_string(),
                pct(f.risk_completed_share),
                pct(f.repeat_flagged_at_first_contact_share),
                pct(f.reviews_on_time_share),
                pct(f.dip_pass_rate),
                pct(f.code_disagreement_share),
                hours(f.first_update_median_hours),
            ]);
        }
    }
    let page = MeasuresPage {
        frame,
        m,
        from,
        to,
        borough: borough.unwrap_or_default(),
        boroughs,
        charts,
        table,
        headings: vec![
            "Borough",
            "Contacts",
            "Risk questions completed",
            "Repeat victims flagged at first contact",
            "Reviews on time",
            "Dip-sample pass rate",
            "Codes disagree",
            "Median to first update",
        ],
        errors: errors.clone(),
    };
    render_form(&page, !errors.is_empty())
}
