//! The error policy at the HTTP edge: RFC 9457 problem+json with an `errors` list naming every bad
//! field; internal errors are logged with the request id and never leak SQL or stack traces.

use asb_domain::FieldError;
use asb_store::StoreError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the body or query could not be read at all.
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 422: read, but some fields are not acceptable.
    Invalid(Vec<FieldError>),
    Unauthorised,
    NotFound(String),
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(errors) => ApiError::Invalid(errors),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub fn problem(status: StatusCode, title: &str, detail: &str, errors: &[FieldError]) -> Response {
    let mut body = json!({
        "type": format!("https://asb.invalid/problems/{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest { detail, errors } => {
                problem(StatusCode::BAD_REQUEST, "Bad request", &detail, &errors)
            }
            ApiError::Invalid(errors) => {
                let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let detail = format!("Check {}", names.join(", "));
                problem(StatusCode::UNPROCESSABLE_ENTITY, "Some fields are not valid", &detail, &errors)
            }
            ApiError::Unauthorised => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "Sign-in needed",
                    "Send Authorization: Bearer <token>; issue one with `asb token issue --user NAME`",
                    &[],
                );
                r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::NotFound(what) => problem(StatusCode::NOT_FOUND, "Not found", &format!("{what} not found"), &[]),
            ApiError::Internal(message) => {
                // The request id is on the span and in the response headers; the detail stays here.
                tracing::error!(error = %message, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error has been logged; quote the x-request-id header when reporting it",
                    &[],
                )
            }
        }
    }
}
