//! Every route and what it needs, and the layer that enforces it before any handler runs. A route
//! not in `ROUTES` is refused to everyone (fail closed), so a new route does nothing until its
//! entry says who may use it; the role × route test walks this table with every role.
//!
//! The same layer checks the CSRF token on every state-changing request a browser could be
//! tricked into sending: a form post, or any non-GET request signed in by the session cookie.
//! It is a double-submit token: a random `asb_csrf` cookie (SameSite=Strict, HttpOnly) that every
//! form repeats in a hidden `csrf` field (or a script in the `x-csrf-token` header). A page on
//! another site can neither read the cookie nor set it.

use crate::auth::{self, Authed};
use crate::error::problem;
use crate::AppState;
use asb_domain::access::Action;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not: health checks, assets, the sign-in page.
    Public,
    /// A signed-in user whose roles the permission table allows this action.
    Allowed(Action),
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// The path as the router writes it, with `{name}` for parameters.
    pub path: &'static str,
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> Route {
    Route { method, path, access }
}

use Access::{Allowed, Public};
use Action::*;

pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", Public),
    route("GET", "/readyz", Public),
    route("GET", "/static/{*path}", Public),
    route("GET", "/assets/{*path}", Public),
    route("GET", "/login", Public),
    route("POST", "/login", Public),
    route("POST", "/login/code", Public),
    route("POST", "/logout", Allowed(UseSystem)),
    route("GET", "/", Allowed(UseSystem)),
    route("GET", "/account", Allowed(UseSystem)),
    route("POST", "/account/second-factor", Allowed(UseSystem)),
    route("GET", "/report", Allowed(RecordContact)),
    route("POST", "/report", Allowed(RecordContact)),
    route("GET", "/report/panel", Allowed(CheckFirstContact)),
    route("GET", "/report/{reference}/done", Allowed(ViewIncident)),
    route("GET", "/incidents/{reference}", Allowed(ViewIncident)),
    route("GET", "/incidents/{reference}/updates", Allowed(UpdateVictim)),
    route("POST", "/incidents/{reference}/updates", Allowed(UpdateVictim)),
    route("GET", "/admin/users", Allowed(ManageUsers)),
    route("POST", "/admin/users", Allowed(ManageUsers)),
    route("GET", "/admin/users/new", Allowed(ManageUsers)),
    route("GET", "/admin/users/{username}", Allowed(ManageUsers)),
    route("POST", "/admin/users/{username}", Allowed(ManageUsers)),
    route("GET", "/admin/audit", Allowed(ViewAudit)),
    route("GET", "/api/v1/openapi.json", Public),
    route("GET", "/api/v1/me", Allowed(UseSystem)),
    route("GET", "/api/v1/policies", Allowed(UseSystem)),
    route("GET", "/api/v1/taxonomy", Allowed(UseSystem)),
    route("GET", "/api/v1/first-contact-check", Allowed(CheckFirstContact)),
    route("POST", "/api/v1/contacts", Allowed(RecordContact)),
    route("GET", "/api/v1/incidents/{reference}", Allowed(ViewIncident)),
    route("GET", "/api/v1/audit", Allowed(ViewAudit)),
    route("GET", "/api/v1/users", Allowed(ManageUsers)),
    route("GET", "/supervision", Allowed(Supervise)),
    route("GET", "/supervision/incidents/{reference}", Allowed(Supervise)),
    route("POST", "/supervision/incidents/{reference}", Allowed(Supervise)),
    route("GET", "/supervision/dip-sample", Allowed(DipSample)),
    route("POST", "/supervision/dip-sample/{id}", Allowed(DipSample)),
    route("GET", "/measures", Allowed(ViewMeasures)),
    route("GET", "/api/v1/supervision/queue", Allowed(Supervise)),
    route("GET", "/api/v1/incidents/{reference}/reviews", Allowed(Supervise)),
    route("POST", "/api/v1/incidents/{reference}/reviews", Allowed(Supervise)),
    route("POST", "/api/v1/incidents/{reference}/updates", Allowed(UpdateVictim)),
    route("GET", "/api/v1/dip-samples", Allowed(DipSample)),
    route("POST", "/api/v1/dip-samples/{id}", Allowed(DipSample)),
    route("GET", "/api/v1/measures", Allowed(ViewMeasures)),
    route("GET", "/analysis", Allowed(ViewAnalysis)),
    route("GET", "/analysis/hotspots", Allowed(ViewAnalysis)),
    route("GET", "/analysis/repeat", Allowed(ViewAnalysis)),
    route("GET", "/analysis/victims", Allowed(ViewVictimList)),
    route("GET", "/api/v1/analysis/trends", Allowed(ViewAnalysis)),
    route("GET", "/api/v1/analysis/hotspots", Allowed(ViewAnalysis)),
    route("GET", "/api/v1/analysis/repeat-locations", Allowed(ViewAnalysis)),
    route("GET", "/api/v1/analysis/victims", Allowed(ViewAnalysis)),
    route("GET", "/api/v1/analysis/victims/people", Allowed(ViewVictimList)),
];

/// The entry for a request, by the router's matched path. HEAD is answered as GET.
pub fn route_for(method: &Method, path: &str) -> Option<&'static Route> {
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

pub const CSRF_COOKIE: &str = "asb_csrf";
pub const CSRF_FIELD: &str = "csrf";
const CSRF_HEADER: &str = "x-csrf-token";
/// Forms are small; a bigger body is refused before it is read into memory.
const MAX_FORM_BYTES: usize = 1 << 20;

/// The CSRF token of this browser, for handlers to put in their forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// A refusal: problem+json on the API, a plain GOV.UK page otherwise.
pub(crate) fn refuse(api: bool, status: StatusCode, title: &str, detail: &str) -> Response {
    if api {
        return problem(status, title, detail, &[]);
    }
    let page = format!(
        "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>{title} – asb</title>\
         <link rel=\"stylesheet\" href=\"/static/govuk/govuk-frontend.min.css\"></head>\
         <body class=\"govuk-template__body\"><div class=\"govuk-width-container\"><main class=\"govuk-main-wrapper\">\
         <h1 class=\"govuk-heading-l\">{title}</h1><p class=\"govuk-body\">{detail}</p>\
         <p class=\"govuk-body\"><a class=\"govuk-link\" href=\"/\">Go to the start page</a></p></main></div></body></html>"
    );
    (status, Html(page)).into_response()
}

fn forbidden(api: bool, action: Action) -> Response {
    let detail = format!(
        "Your roles do not allow this ({}). If your work needs it, ask an administrator.",
        serde_json::to_value(action).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    );
    refuse(api, StatusCode::FORBIDDEN, "You do not have permission to do this", &detail)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Check the request's CSRF token against the cookie. A form's body is read here (and put
/// back for the handler) to find its `csrf` field.
async fn check_csrf(req: Request, expected: Option<&str>) -> Result<Request, Response> {
    let api = is_api(req.uri().path());
    let bad = || {
        refuse(
            api,
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this service, or was open too long. Go back, reload the page and try again.",
        )
    };
    let header_token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (req, given) = if header_token.is_some() || !is_form(req.headers()) {
        (req, header_token)
    } else {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| refuse(api, StatusCode::PAYLOAD_TOO_LARGE, "The form is too large", "Send less than 1 MB."))?;
        let given = form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
        (Request::from_parts(parts, Body::from(bytes)), given)
    };
    match (expected, given) {
        (Some(e), Some(g)) if e == g => Ok(req),
        _ => Err(bad()),
    }
}

/// The layer: look the route up, sign the user in from the bearer token (API) or the session
/// cookie, check the permission table and the CSRF token, then run the handler.
pub async fn enforce(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let api = is_api(req.uri().path());
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let Some(route) = matched.as_deref().and_then(|p| route_for(req.method(), p)) else {
        return refuse(api, StatusCode::FORBIDDEN, "Not available", "This address is not in the permission table.");
    };

    // Every browser gets a CSRF token before it sees its first form (the API has no forms).
    let csrf_cookie = auth::cookie(req.headers(), CSRF_COOKIE);
    let new_csrf = (csrf_cookie.is_none() && !api).then(auth::random_token);
    if let Some(t) = csrf_cookie.as_ref().or(new_csrf.as_ref()) {
        req.extensions_mut().insert(CsrfToken(t.clone()));
    }

    // Public routes (health checks, assets, signing in) never touch the database for a user.
    let authed = match route.access {
        Access::Public => None,
        Access::Allowed(_) => match auth::authenticate(&state, req.headers(), api).await {
            Ok(a) => a,
            Err(e) => return e.into_response(),
        },
    };
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let by_cookie = authed.as_ref().is_some_and(|a| a.by_cookie);
    if unsafe_method && (by_cookie || is_form(req.headers())) {
        req = match check_csrf(req, csrf_cookie.as_deref()).await {
            Ok(r) => r,
            Err(refused) => return refused,
        };
    }
    if let Access::Allowed(action) = route.access {
        let Some(a) = &authed else {
            return if api {
                crate::error::ApiError::Unauthorised.into_response()
            } else {
                Redirect::to("/login").into_response()
            };
        };
        if !a.user.can(action) {
            return forbidden(api, action);
        }
    }
    if let Some(a) = authed {
        req.extensions_mut().insert(a);
    }
    let mut response = next.run(req).await;
    if let Some(csrf) = new_csrf {
        let set = format!("{CSRF_COOKIE}={csrf}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&set) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Who is asking, for handlers: the layer above has already signed them in.
pub fn authed(parts: &axum::http::request::Parts) -> Option<&Authed> {
    parts.extensions.get::<Authed>()
}
