//! The JSON API under `/api/v1`. Names here are an interface other tools rely on: keep them.

use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::AppState;
use asb_domain::contact::{CheckInput, ContactInput};
use asb_domain::nsir::{Category, QUALIFIERS, TYPES};
use asb_domain::{FieldError, IncidentRef};
use asb_store::{Reader, Shown};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts", post(record_contact))
        .route("/first-contact-check", get(first_contact_check))
        .route("/incidents/{reference}", get(incident))
        .route("/policies", get(policies))
        .route("/taxonomy", get(taxonomy))
        .route("/me", get(me))
        .route("/audit", get(audit))
        .route("/users", get(users))
        .route("/openapi.json", get(|| async { Json(crate::openapi::document()) }))
        .fallback(|| async { ApiError::NotFound("no such API endpoint; see /api/v1/openapi.json".into()) })
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.health().await {
        Ok(h) => Json(json!({
            "status": "ready",
            "database": h.engine,
            "schema_version": h.schema_version,
            "reads_from": h.reads_from,
            "primary_reads": h.primary_reads,
            "replicas": h.replicas,
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "database not ready");
            let body = json!({"status": "unavailable", "database": state.store.engine()});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// Read a JSON body, naming the field when a value has the wrong type.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde's messages end with " at line L column C"; the field name says where.
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        let field = if path == "." || path.is_empty() {
            // An unknown field is reported at the parent; name it from the message.
            message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()).unwrap_or("body").to_string()
        } else {
            path
        };
        let detail = if inner.is_syntax() || inner.is_eof() {
            "The body is not valid JSON".to_string()
        } else {
            format!("{field}: {message}")
        };
        ApiError::BadRequest { detail, errors: vec![FieldError::new(field, message)] }
    })
}

async fn record_contact(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: ContactInput = parse_json(&body)?;
    let now = state.now();
    let contact = input.validate(&state.policies.risk, now).map_err(ApiError::Invalid)?;
    let outcome = state.store.record_contact(&state.policies, now, &contact, Some(user.id)).await?;
    let location = format!("/api/v1/incidents/{}", outcome.reference);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(outcome)).into_response())
}

async fn first_contact_check(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    query: Result<Query<CheckInput>, QueryRejection>,
) -> Result<Response, ApiError> {
    // A malformed query gets problem+json like everything else, not axum's plain text.
    let Query(input) = query.map_err(|e| ApiError::BadRequest { detail: e.body_text(), errors: vec![] })?;
    let now = state.now();
    let check = input.validate(now.date_naive()).map_err(ApiError::Invalid)?;
    if !check.has_search_key() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "query",
            "Give at least one of phone, name, date_of_birth with name, address, postcode, or lat and lon",
        )]));
    }
    let result = state.store.first_contact_check(&state.policies, now, &check, Some(user.id)).await?;
    Ok(Json(result).into_response())
}

#[derive(serde::Deserialize)]
struct ReasonQuery {
    reason: Option<String>,
}

/// One incident. Another organisation's record needs `?reason=` (logged with the look).
async fn incident(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(reference): Path<String>,
    Query(q): Query<ReasonQuery>,
) -> Result<Response, ApiError> {
    let r: IncidentRef =
        reference.parse().map_err(|e: String| ApiError::Invalid(vec![FieldError::new("reference", e)]))?;
    let reader = Reader { user_id: user.id, organisation_id: user.organisation_id, reason: q.reason.as_deref() };
    match state.store.incident_for(&r.to_string(), &reader, "viewing an incident (API)").await? {
        Some(Shown::Record(d)) => Ok(Json(d).into_response()),
        Some(Shown::ReasonNeeded { recorded_by }) => Err(ApiError::Invalid(vec![FieldError::new(
            "reason",
            format!("{r} was recorded by {recorded_by}, not your organisation: give the reason you need it (?reason=…); it is logged"),
        )])),
        None => Err(ApiError::NotFound(format!("incident {r}"))),
    }
}

async fn policies(State(state): State<AppState>, ApiUser(_): ApiUser) -> Json<serde_json::Value> {
    Json(json!(*state.policies))
}

async fn taxonomy(ApiUser(_): ApiUser) -> Json<serde_json::Value> {
    Json(json!({
        "categories": Category::ALL.iter().map(|c| json!({"id": c.as_str(), "label": c.label(), "definition": c.definition(), "opening_code": c.opening_code()})).collect::<Vec<_>>(),
        "types": TYPES.iter().map(|t| json!({"code": t.code, "label": t.label, "hint": t.hint})).collect::<Vec<_>>(),
        "qualifiers": QUALIFIERS.iter().map(|(c, l)| json!({"code": c, "label": l})).collect::<Vec<_>>(),
    }))
}

/// Who the token belongs to, their roles, and what the permission table allows them.
async fn me(ApiUser(user): ApiUser) -> Json<serde_json::Value> {
    let allowed: Vec<_> =
        asb_domain::access::PERMISSIONS.iter().filter(|(a, _)| user.can(*a)).map(|(a, _)| a).collect();
    Json(json!({
        "username": user.username,
        "display_name": user.display_name,
        "organisation_id": user.organisation_id,
        "roles": user.role_list(),
        "allowed": allowed,
    }))
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    subject: Option<String>,
}

/// Who has looked at or changed a record: `?subject=incident:REF` (or `person:ID`, `case:ID`,
/// `user:ID`), oldest first. Administrators only, by the permission table.
async fn audit(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest { detail: e.body_text(), errors: vec![] })?;
    let subject = q.subject.unwrap_or_default();
    if subject.trim().is_empty() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "subject",
            "Give the record to look up, as incident:REFERENCE, person:ID, case:ID or user:ID",
        )]));
    }
    let events = crate::admin::audit_of(&state, user.id, &subject).await?;
    Ok(Json(events).into_response())
}

/// Every account, for administrators.
async fn users(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.store.users().await?).into_response())
}
