//! The staff pages: sign-in, the call-handler's report form with its live history panel, the
//! confirmation with what to tell the caller, and the incident view. Forms go through the same
//! domain validation as the API and re-render with a GOV.UK error summary.

use crate::auth::{Frame, PageUser};
use crate::error::ApiError;
use crate::AppState;
use asb_domain::access::Action;
use asb_domain::contact::{CallerInput, CheckInput, ContactInput, LocationInput, OverrideInput, SubjectInput};
use asb_domain::nsir::{Category, QUALIFIERS, TYPES};
use asb_domain::verdict::{CaseReview, Verdict};
use asb_domain::{FieldError, IncidentRef};
use asb_store::{CheckResult, IncidentDetail};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/report", get(report_form).post(submit_report))
        .route("/report/panel", get(panel))
        .route("/report/{reference}/done", get(done))
        .route("/incidents/{reference}", get(incident_page))
        .route("/incidents/{reference}/updates", get(update_form).post(record_update))
}

pub(crate) fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => ApiError::Internal(format!("template: {e}")).into_response(),
    }
}

/// The page for something that is not there.
pub(crate) fn not_found(what: &str) -> Response {
    crate::access::refuse(false, StatusCode::NOT_FOUND, "Not found", &format!("There is no {what}."))
}

/// A page answered with a status of its own (401, 422, 429 …).
pub(crate) fn render_as<T: Template>(status: StatusCode, t: &T) -> Response {
    let mut r = render(t);
    *r.status_mut() = status;
    r
}

/// A form page: 422 when it comes back with errors, else 200.
pub(crate) fn render_form<T: Template>(t: &T, has_errors: bool) -> Response {
    render_as(if has_errors { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, t)
}

/// "10 Mar 2026 14:05" in Europe/London.
pub fn london(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::London).format("%-d %b %Y %H:%M").to_string()
}

// ---- the start page ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
}

/// Where each role starts: the work its roles allow, as links (the same as the header's).
async fn home(frame: Frame) -> Response {
    render(&HomePage { frame })
}

// ---- the report form -----------------------------------------------------------------------

struct Field {
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    autocomplete: &'static str,
    width: &'static str,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    frame: Frame,
    errors: Vec<(String, String)>,
    values: HashMap<String, String>,
    caller_fields: Vec<Field>,
    location_fields: Vec<Field>,
    subject_fields: Vec<Field>,
    channels: Vec<(&'static str, &'static str)>,
    categories: Vec<(&'static str, &'static str, &'static str)>,
    types: Vec<(String, &'static str, &'static str)>,
    questions: Vec<(String, String)>,
    questionnaire: String,
    qualifiers: Vec<(String, &'static str)>,
    chosen_qualifiers: Vec<String>,
}

impl ReportPage {
    fn val(&self, k: &str) -> &str {
        self.values.get(k).map(String::as_str).unwrap_or("")
    }
    fn err(&self, id: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == id).map(|(_, m)| m.as_str())
    }
    fn is(&self, k: &str, v: &str) -> bool {
        self.val(k) == v
    }
}

type FieldSpec = (&'static str, &'static str, &'static str, &'static str, &'static str);

const CALLER_FIELDS: [FieldSpec; 5] = [
    (
        "caller_phone",
        "Phone number",
        "Any UK format, like 07700 900123 or +44 20 7946 0000",
        "tel",
        "govuk-!-width-one-half",
    ),
    ("caller_name", "Full name", "", "name", "govuk-!-width-three-quarters"),
    ("caller_date_of_birth", "Date of birth", "For example, 1980-03-27 or 27/03/1980", "bday", "govuk-input--width-10"),
    ("caller_address", "Home address, if different from where it happened", "", "street-address", ""),
    ("caller_postcode", "Home postcode", "", "postal-code", "govuk-input--width-10"),
];
const LOCATION_FIELDS: [FieldSpec; 2] = [
    ("location_address", "Address or place", "For example, 12 High Street or outside 40 Station Road", "", ""),
    ("location_postcode", "Postcode", "", "", "govuk-input--width-10"),
];
const SUBJECT_FIELDS: [FieldSpec; 2] = [
    ("subject_name", "Name of the person responsible", "Leave blank if not known", "", "govuk-!-width-three-quarters"),
    ("subject_description", "Description", "For example, group of 4–5 youths on bikes", "", ""),
];

/// Where a domain field name is shown on the form.
fn form_id(field: &str) -> String {
    match field {
        "location" | "location.lat" | "location.lon" => "location_address".into(),
        "risk_override.level" => "override_level".into(),
        "risk_override.reason" => "override_reason".into(),
        f if f.starts_with("risk_answers.") => f.trim_start_matches("risk_answers.").into(),
        f if f.starts_with("subjects[") => {
            if f.ends_with(".description") {
                "subject_description".into()
            } else {
                "subject_name".into()
            }
        }
        f if f.starts_with("qualifiers") => "qualifiers".into(),
        f => f.replace('.', "_"),
    }
}

fn report_page(
    state: &AppState,
    frame: Frame,
    values: HashMap<String, String>,
    chosen: Vec<String>,
    errors: Vec<(String, String)>,
) -> ReportPage {
    let fields = |specs: &[FieldSpec]| -> Vec<Field> {
        specs
            .iter()
            .map(|(id, label, hint, autocomplete, width)| Field {
                id,
                label,
                hint,
                autocomplete,
                width,
                value: values.get(*id).cloned().unwrap_or_default(),
                error: errors.iter().find(|(f, _)| f == id).map(|(_, m)| m.clone()),
            })
            .collect()
    };
    let q = &state.policies.risk;
    ReportPage {
        frame,
        caller_fields: fields(&CALLER_FIELDS),
        location_fields: fields(&LOCATION_FIELDS),
        subject_fields: fields(&SUBJECT_FIELDS),
        channels: asb_domain::contact::Channel::ALL.iter().map(|c| (c.as_str(), c.label())).collect(),
        categories: Category::ALL.iter().map(|c| (c.as_str(), c.label(), c.definition())).collect(),
        types: TYPES.iter().map(|t| (t.code.to_string(), t.label, t.hint)).collect(),
        questions: q.questions.iter().map(|x| (x.id.clone(), x.text.clone())).collect(),
        questionnaire: format!("{} v{}", q.meta.title, q.meta.version),
        qualifiers: QUALIFIERS
            .iter()
            .filter(|(c, _)| *c != 610 && *c != 635)
            .map(|(c, l)| (c.to_string(), *l))
            .collect(),
        chosen_qualifiers: chosen,
        errors,
        values,
    }
}

async fn report_form(State(state): State<AppState>, frame: Frame) -> Response {
    let mut values = HashMap::new();
    values.insert("channel".to_string(), "phone_101".to_string());
    render(&report_page(&state, frame, values, vec![], vec![]))
}

fn opt(values: &HashMap<String, String>, k: &str) -> Option<String> {
    values.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn contact_from_form(
    state: &AppState,
    values: &HashMap<String, String>,
    chosen: &[String],
) -> (ContactInput, Vec<FieldError>) {
    let mut errors = Vec::new();
    let answers = state
        .policies
        .risk
        .questions
        .iter()
        .filter_map(|q| match values.get(&q.id).map(String::as_str) {
            Some("yes") => Some((q.id.clone(), true)),
            Some("no") => Some((q.id.clone(), false)),
            _ => {
                // On the page every question is asked: the inspection looks for it.
                errors.push(FieldError::new(format!("risk_answers.{}", q.id), format!("Ask: {}", q.text)));
                None
            }
        })
        .collect();
    let subject = (opt(values, "subject_name").is_some() || opt(values, "subject_description").is_some()).then(|| {
        vec![SubjectInput { name: opt(values, "subject_name"), description: opt(values, "subject_description") }]
    });
    let input = ContactInput {
        channel: opt(values, "channel"),
        received_at: None,
        organisation: None,
        caller: CallerInput {
            name: opt(values, "caller_name"),
            phone: opt(values, "caller_phone"),
            date_of_birth: opt(values, "caller_date_of_birth"),
            address: opt(values, "caller_address"),
            postcode: opt(values, "caller_postcode"),
        },
        caller_is_victim: match values.get("caller_is_victim").map(String::as_str) {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        },
        self_reported_repeat: Some(values.get("happened_before").map(String::as_str) == Some("yes")),
        location: LocationInput {
            address: opt(values, "location_address"),
            postcode: opt(values, "location_postcode"),
            lat: None,
            lon: None,
        },
        narrative: opt(values, "narrative"),
        category: opt(values, "category"),
        type_code: opt(values, "type_code").map(serde_json::Value::String),
        subjects: subject,
        qualifiers: Some(chosen.iter().filter_map(|q| q.parse().ok()).collect()),
        risk_answers: Some(answers),
        risk_override: opt(values, "override_level")
            .map(|level| OverrideInput { level: Some(level), reason: opt(values, "override_reason") }),
    };
    (input, errors)
}

async fn submit_report(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let chosen: Vec<String> = pairs.iter().filter(|(k, _)| k == "qualifiers").map(|(_, v)| v.clone()).collect();
    let values: HashMap<String, String> = pairs.into_iter().filter(|(k, _)| k != "qualifiers").collect();
    let (input, mut errors) = contact_from_form(&state, &values, &chosen);
    let now = state.now();
    let result = match input.validate(&state.policies.risk, now) {
        Ok(contact) => {
            if errors.is_empty() {
                match state.store.record_contact(&state.policies, now, &contact, Some(user.id)).await {
                    Ok(outcome) => return Redirect::to(&format!("/report/{}/done", outcome.reference)).into_response(),
                    Err(asb_store::StoreError::Invalid(e)) => e,
                    Err(e) => return ApiError::from(e).into_response(),
                }
            } else {
                vec![]
            }
        }
        Err(e) => e,
    };
    // Domain errors first, in form order, then unanswered questions.
    let mut all = result;
    all.append(&mut errors);
    let errors: Vec<(String, String)> = all.into_iter().map(|e| (form_id(&e.field), e.message)).collect();
    render_as(StatusCode::UNPROCESSABLE_ENTITY, &report_page(&state, frame, values, chosen, errors))
}

// ---- the live panel ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "panel.html")]
struct Panel {
    result: Option<CheckResult>,
    notes: Vec<String>,
}

async fn panel(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Query(values): Query<HashMap<String, String>>,
) -> Response {
    let mut input = CheckInput {
        phone: opt(&values, "caller_phone"),
        name: opt(&values, "caller_name"),
        date_of_birth: opt(&values, "caller_date_of_birth"),
        postcode: opt(&values, "location_postcode").or_else(|| opt(&values, "caller_postcode")),
        address: opt(&values, "location_address").or_else(|| opt(&values, "caller_address")),
        lat: None,
        lon: None,
        subject: opt(&values, "subject_name"),
    };
    let now = state.now();
    // While the handler is still typing, a half-written field is left out rather than refused:
    // clear each field named in an error, then the rest validates.
    let mut notes = Vec::new();
    let today = now.date_naive();
    let check = input.validate(today).or_else(|errors| {
        for e in errors {
            let (what, fields) = match e.field.as_str() {
                "phone" => ("Phone", vec![&mut input.phone]),
                "name" => ("Name", vec![&mut input.name]),
                "date_of_birth" => ("Date of birth", vec![&mut input.date_of_birth]),
                "postcode" => ("Postcode", vec![&mut input.postcode]),
                "address" => ("Address", vec![&mut input.address]),
                "subject" => ("Subject's name", vec![&mut input.subject]),
                _ => ("Map point", vec![&mut input.lat, &mut input.lon]),
            };
            fields.into_iter().for_each(|f| *f = None);
            notes.push(format!("{what} not used yet: {}", e.message));
        }
        input.validate(today)
    });
    let check = match check {
        Ok(c) if c.has_search_key() => c,
        _ => return render(&Panel { result: None, notes }),
    };
    match state.store.first_contact_check(&state.policies, now, &check, Some(user.id)).await {
        Ok(result) => render(&Panel { result: Some(result), notes }),
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ---- confirmation and the incident view ----------------------------------------------------

#[derive(serde::Deserialize)]
struct StoredVerdicts {
    repeat_victim: Verdict,
    repeat_location: Verdict,
    vulnerable: Verdict,
    case_review: CaseReview,
    #[serde(default)]
    next_steps: String,
}

#[derive(Template)]
#[template(path = "done.html")]
struct DonePage {
    frame: Frame,
    d: IncidentDetail,
    v: StoredVerdicts,
    risk_level: String,
    risk_score: Option<i32>,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    frame: Frame,
    can_review: bool,
    can_update: bool,
    d: IncidentDetail,
    received: String,
    risk_level: String,
    risk_score: Option<i32>,
}

#[derive(Template)]
#[template(path = "reason.html")]
struct ReasonPage {
    frame: Frame,
    reference: String,
    recorded_by: String,
    errors: Vec<(String, String)>,
}

/// The incident for `user`, or the page to show instead: not found, or (for another
/// organisation's record) the question why they need it.
async fn load(
    state: &AppState,
    frame: Frame,
    reference: &str,
    user: &asb_store::User,
    purpose: &str,
    reason: Option<&str>,
) -> Result<(IncidentDetail, Frame), Response> {
    let missing = || not_found(&format!("incident {reference}"));
    let r: IncidentRef = reference.parse().map_err(|_| missing())?;
    let reader = asb_store::Reader { user_id: user.id, organisation_id: user.organisation_id, reason };
    match state.store.incident_for(&r.to_string(), &reader, purpose).await {
        Ok(Some(asb_store::Shown::Record(d))) => Ok((*d, frame)),
        Ok(Some(asb_store::Shown::ReasonNeeded { recorded_by })) => {
            let errors = match reason {
                Some(_) => vec![("reason".to_string(), "Enter why you need to see this record".to_string())],
                None => vec![],
            };
            let page = ReasonPage { frame, reference: r.to_string(), recorded_by, errors };
            Err(render(&page))
        }
        Ok(None) => Err(missing()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

fn risk_of(d: &IncidentDetail) -> (String, Option<i32>) {
    match &d.risk {
        Some(r) => (r.level.clone().unwrap_or_else(|| "not assessed".into()), r.score),
        None => ("not assessed".into(), None),
    }
}

async fn done(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Path(reference): Path<String>,
) -> Response {
    let (d, frame) = match load(&state, frame, &reference, &user, "confirming a recorded report", None).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Ok(v) = serde_json::from_value::<StoredVerdicts>(d.verdicts.clone()) else {
        return Redirect::to(&format!("/incidents/{}", d.reference)).into_response();
    };
    let (risk_level, risk_score) = risk_of(&d);
    render(&DonePage { frame, d, v, risk_level, risk_score })
}

async fn incident_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Path(reference): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let reason = q.get("reason").map(String::as_str);
    let (d, frame) = match load(&state, frame, &reference, &user, "viewing an incident", reason).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (risk_level, risk_score) = risk_of(&d);
    let (can_review, can_update) = (user.can(Action::Supervise), user.can(Action::UpdateVictim));
    render(&IncidentPage { frame, can_review, can_update, received: london(d.received_at), d, risk_level, risk_score })
}

// ---- updating the victim -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "victim_update.html")]
struct UpdatePage {
    frame: Frame,
    reference: String,
    channels: Vec<(&'static str, &'static str)>,
    channel: String,
    note: String,
    errors: Vec<(String, String)>,
}

fn update_page(frame: Frame, reference: String, channel: String, note: String, errors: Vec<FieldError>) -> Response {
    let page = UpdatePage {
        frame,
        reference,
        channels: asb_store::UPDATE_CHANNELS.to_vec(),
        channel,
        note,
        errors: errors.into_iter().map(|e| (e.field, e.message)).collect(),
    };
    render_form(&page, !page.errors.is_empty())
}

async fn update_form(frame: Frame, Path(reference): Path<String>) -> Response {
    match reference.parse::<IncidentRef>() {
        Ok(r) => update_page(frame, r.to_string(), String::new(), String::new(), vec![]),
        Err(_) => not_found(&format!("incident {reference}")),
    }
}

/// Record that the victim was told how things stand (the measures count the time to the first).
async fn record_update(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Path(reference): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Ok(r) = reference.parse::<IncidentRef>() else {
        return not_found(&format!("incident {reference}"));
    };
    let (channel, note) = (opt(&f, "channel").unwrap_or_default(), opt(&f, "note").unwrap_or_default());
    let now = state.now();
    let recorded = state.store.record_victim_update(now, &r.to_string(), &user, &channel, Some(&note), None).await;
    match recorded {
        Ok(_) => Redirect::to(&format!("/incidents/{r}")).into_response(),
        Err(asb_store::StoreError::Invalid(errors)) => update_page(frame, r.to_string(), channel, note, errors),
        Err(e) => ApiError::from(e).into_response(),
    }
}
