//! The administrator's pages: user accounts and their roles, and the audit trail of a record
//! (who has looked at or changed it). The permission table keeps both to administrators.

use crate::auth::{hash_password, Frame, PageUser};
use crate::error::ApiError;
use crate::pages::{london, render, render_as, render_form};
use crate::AppState;
use asb_domain::access::{check_password, Role};
use asb_domain::FieldError;
use asb_store::{AuditEvent, AuditRecord, NewUser, Organisation, StoreError, UserChange, UserSummary};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/new", get(new_user))
        .route("/admin/users/{username}", get(edit_user).post(update_user))
        .route("/admin/audit", get(audit_page))
}

/// A record named as `incident:REF`, `person:ID`, `case:ID` or `user:ID`.
pub fn parse_subject(s: &str) -> Result<(&'static str, String), FieldError> {
    let bad = || {
        FieldError::new(
            "subject",
            "Give the record as incident:REFERENCE, person:ID, case:ID or user:ID (for example incident:ASB-26-000123)",
        )
    };
    let (kind, id) = s.trim().split_once(':').ok_or_else(bad)?;
    let id = id.trim();
    let kind = match kind.trim() {
        "incident" => "incident",
        "person" => "person",
        "case" => "case",
        "user" => "user",
        _ => return Err(bad()),
    };
    if id.is_empty() {
        return Err(bad());
    }
    if kind == "incident" {
        let r: asb_domain::IncidentRef = id.parse().map_err(|e: String| FieldError::new("subject", e))?;
        return Ok((kind, r.to_string()));
    }
    let n: i64 = id.parse().map_err(|_| FieldError::new("subject", format!("'{id}' is not a {kind} id (a number)")))?;
    Ok((kind, n.to_string()))
}

/// The events about a record, the look itself logged first: the audit trail holds who looked
/// at whom, so reading it is a consultation too.
pub async fn audit_of(state: &AppState, user_id: i64, subject: &str) -> Result<Vec<AuditRecord>, ApiError> {
    let (kind, id) = parse_subject(subject).map_err(|e| ApiError::Invalid(vec![e]))?;
    let seen = format!("{kind}:{id}");
    let event = AuditEvent::new(
        Some(user_id),
        "consultation",
        "audit",
        Some(seen),
        "reviewing who has looked at or changed a record",
    );
    state.store.audit(&event).await?;
    Ok(state.store.audit_for(kind, &id).await?)
}

// ---- users ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<UserSummary>,
}

async fn users(State(state): State<AppState>, frame: Frame) -> Response {
    match state.store.users().await {
        Ok(users) => render(&UsersPage { frame, users }),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserForm {
    frame: Frame,
    /// `None` for a new account.
    editing: Option<String>,
    values: HashMap<String, String>,
    roles: Vec<(&'static str, &'static str, bool)>,
    organisations: Vec<Organisation>,
    disabled: bool,
    errors: Vec<(String, String)>,
}

impl UserForm {
    fn val(&self, k: &str) -> &str {
        self.values.get(k).map_or("", String::as_str)
    }

    /// The first error about `field`, shown beside it as well as in the summary.
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

async fn user_form(
    state: &AppState,
    frame: Frame,
    editing: Option<String>,
    values: HashMap<String, String>,
    chosen: &[Role],
    disabled: bool,
    errors: Vec<FieldError>,
) -> Response {
    let organisations = match state.store.organisations().await {
        Ok(o) => o,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let form = UserForm {
        frame,
        editing,
        values,
        roles: Role::ALL.iter().map(|r| (r.as_str(), r.label(), chosen.contains(r))).collect(),
        organisations,
        disabled,
        errors: errors.into_iter().map(|e| (e.field, e.message)).collect(),
    };
    render_form(&form, !form.errors.is_empty())
}

async fn new_user(State(state): State<AppState>, frame: Frame) -> Response {
    let values = HashMap::from([("organisation".to_string(), "MPS".to_string())]);
    user_form(&state, frame, None, values, &[], false, vec![]).await
}

/// The form's fields: roles arrive as repeated `roles` fields.
fn read_form(pairs: Vec<(String, String)>) -> (HashMap<String, String>, Vec<Role>, Vec<FieldError>) {
    let mut values = HashMap::new();
    let (mut roles, mut errors) = (Vec::new(), Vec::new());
    for (k, v) in pairs {
        if k == "roles" {
            match v.parse::<Role>() {
                Ok(r) => roles.push(r),
                Err(m) => errors.push(FieldError::new("roles", m)),
            }
        } else {
            values.insert(k, v.trim().to_string());
        }
    }
    (values, roles, errors)
}

async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)
}

/// The fields a store refusal names, or the error to answer with.
fn field_errors(e: StoreError) -> Result<Vec<FieldError>, ApiError> {
    match e {
        StoreError::Invalid(errors) => Ok(errors),
        other => Err(ApiError::from(other)),
    }
}

async fn create_user(
    State(state): State<AppState>,
    PageUser(admin): PageUser,
    frame: Frame,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (values, roles, mut errors) = read_form(pairs);
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let mut new = NewUser {
        username: get("username"),
        display_name: get("display_name"),
        organisation: get("organisation"),
        roles: roles.clone(),
        password_hash: None,
    };
    errors.extend(new.problems());
    let password = get("password");
    if let Err(m) = check_password(&password, &new.username) {
        errors.push(FieldError::new("password", m));
    }
    if !errors.is_empty() {
        return user_form(&state, frame, None, values, &roles, false, errors).await;
    }
    new.password_hash = match hash(password).await {
        Ok(h) => Some(h),
        Err(e) => return e.into_response(),
    };
    match state.store.create_user(&new, Some(admin.id)).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => match field_errors(e) {
            Ok(errors) => user_form(&state, frame, None, values, &roles, false, errors).await,
            Err(e) => e.into_response(),
        },
    }
}

async fn edit_user(State(state): State<AppState>, frame: Frame, Path(username): Path<String>) -> Response {
    let u = match state.store.user_summary(&username).await {
        Ok(Some(u)) => u,
        Ok(None) => return ApiError::NotFound(format!("user '{username}'")).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let values = HashMap::from([
        ("username".to_string(), u.username.clone()),
        ("display_name".to_string(), u.display_name.clone()),
        ("organisation".to_string(), u.organisation.clone()),
    ]);
    user_form(&state, frame, Some(u.username), values, &u.roles, u.disabled, vec![]).await
}

async fn update_user(
    State(state): State<AppState>,
    PageUser(admin): PageUser,
    frame: Frame,
    Path(username): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (mut values, roles, mut errors) = read_form(pairs);
    values.insert("username".into(), username.clone());
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let disabled = get("disabled") == "yes";
    if disabled && username == admin.username {
        errors.push(FieldError::new("disabled", "You cannot disable your own account"));
    }
    let password = get("password");
    if !password.is_empty() {
        if let Err(m) = check_password(&password, &username) {
            errors.push(FieldError::new("password", m));
        }
    }
    if !errors.is_empty() {
        return user_form(&state, frame, Some(username), values, &roles, disabled, errors).await;
    }
    let password_hash = if password.is_empty() {
        None
    } else {
        match hash(password).await {
            Ok(h) => Some(h),
            Err(e) => return e.into_response(),
        }
    };
    let change = UserChange {
        display_name: Some(get("display_name")),
        organisation: Some(get("organisation")),
        roles: Some(roles.clone()),
        disabled: Some(disabled),
        password_hash,
    };
    match state.store.update_user(&username, &change, Some(admin.id)).await {
        Ok(()) => {
            state.tokens.clear();
            Redirect::to("/admin/users").into_response()
        }
        Err(e) => match field_errors(e) {
            Ok(errors) => user_form(&state, frame, Some(username), values, &roles, disabled, errors).await,
            Err(e) => e.into_response(),
        },
    }
}

// ---- the audit trail -----------------------------------------------------------------------

/// One event as the page shows it.
struct AuditRow {
    at: String,
    who: String,
    action: String,
    purpose: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    frame: Frame,
    subject: String,
    events: Option<Vec<AuditRow>>,
    errors: Vec<(String, String)>,
}

async fn audit_page(
    State(state): State<AppState>,
    PageUser(admin): PageUser,
    frame: Frame,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let subject = q.get("subject").map(|s| s.trim().to_string()).unwrap_or_default();
    if subject.is_empty() {
        return render(&AuditPage { frame, subject, events: None, errors: vec![] });
    }
    match audit_of(&state, admin.id, &subject).await {
        Ok(events) => {
            let rows = events
                .into_iter()
                .map(|e| {
                    let detail = if e.detail.is_null() { String::new() } else { e.detail.to_string() };
                    let who = e.user.unwrap_or_else(|| "the system".into());
                    AuditRow { at: london(e.at), who, action: e.action, purpose: e.purpose, detail }
                })
                .collect();
            render(&AuditPage { frame, subject, events: Some(rows), errors: vec![] })
        }
        Err(ApiError::Invalid(errors)) => {
            let errors = errors.into_iter().map(|e| (e.field, e.message)).collect();
            render_as(StatusCode::UNPROCESSABLE_ENTITY, &AuditPage { frame, subject, events: None, errors })
        }
        Err(e) => e.into_response(),
    }
}
