//! Signing in and out, and one's own account: the password (argon2id), the lock-out after
//! repeated failures, and the optional second factor (a code from an authenticator app), which
//! the access policy can require of chosen roles.

use crate::auth::{
    new_totp_secret, session_token, totp, totp_code_ok, verify_password_or_waste_time, Frame, PageUser, SESSION_COOKIE,
};
use crate::error::ApiError;
use crate::pages::{london, render, render_as, render_form};
use crate::AppState;
use asb_domain::access::{self, Action};
use asb_store::User;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/login/code", post(login_code))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/second-factor", post(second_factor))
}

type Fields = HashMap<String, String>;

fn field(f: &Fields, name: &str) -> String {
    f.get(name).map(|s| s.trim().to_string()).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    username: String,
    errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    frame: Frame,
    pending: String,
    errors: Vec<(String, String)>,
}

async fn login_form(frame: Frame) -> Response {
    render(&LoginPage { frame, username: String::new(), errors: vec![] })
}

fn login_error(frame: Frame, username: String, status: StatusCode, message: &str) -> Response {
    let page = LoginPage { frame, username, errors: vec![("username".into(), message.into())] };
    render_as(status, &page)
}

/// `Some(page)` when the account is locked out now.
async fn locked(state: &AppState, username: &str) -> Result<Option<String>, ApiError> {
    let now = state.now();
    let since = now - state.access.failures_window();
    let failures = state.store.sign_in_failures(username, since).await?;
    Ok(state.access.locked_until(&failures, now).map(|until| {
        format!(
            "There have been too many failed attempts to sign in as this user. Try again after {} or ask an administrator.",
            london(until)
        )
    }))
}

async fn login(State(state): State<AppState>, frame: Frame, Form(f): Form<Fields>) -> Response {
    let username = field(&f, "username").to_lowercase();
    let password = f.get("password").cloned().unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return login_error(frame, username, StatusCode::UNAUTHORIZED, "Enter your username and password");
    }
    match locked(&state, &username).await {
        Ok(Some(message)) => return login_error(frame, username, StatusCode::TOO_MANY_REQUESTS, &message),
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let user = match state.store.user(&username).await {
        Ok(u) => u,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    // Argon2 is deliberately slow: off the async threads.
    let ok = tokio::task::spawn_blocking(move || verify_password_or_waste_time(&password, hash.as_deref()))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        if let Err(e) = state.store.record_sign_in(&username, false, state.now()).await {
            return ApiError::from(e).into_response();
        }
        return login_error(frame, username, StatusCode::UNAUTHORIZED, "Enter a correct username and password");
    };
    if user.totp_secret.is_some() {
        return match state.store.issue_token(&user.username, "sign_in", Some(300)).await {
            Ok(pending) => render(&CodePage { frame, pending, errors: vec![] }),
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    if state.access.second_factor_required(&user.role_list()) {
        return login_error(
            frame,
            username,
            StatusCode::FORBIDDEN,
            "Your role needs a second factor (a code from an authenticator app) and none is set up for your account. Ask an administrator to set one up.",
        );
    }
    start_session(&state, &user).await
}

async fn login_code(State(state): State<AppState>, frame: Frame, Form(f): Form<Fields>) -> Response {
    let pending = field(&f, "pending");
    let user = match state.store.user_signing_in(&pending).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            let message = "Your sign-in took too long. Enter your username and password again.";
            return login_error(frame, String::new(), StatusCode::UNAUTHORIZED, message);
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    match locked(&state, &user.username).await {
        Ok(Some(message)) => {
            let _ = state.store.revoke_token(&pending).await;
            return login_error(frame, user.username, StatusCode::TOO_MANY_REQUESTS, &message);
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let secret = user.totp_secret.clone().unwrap_or_default();
    if !totp_code_ok(&secret, &user.username, &field(&f, "code"), state.now()) {
        if let Err(e) = state.store.record_sign_in(&user.username, false, state.now()).await {
            return ApiError::from(e).into_response();
        }
        let errors = vec![("code".into(), "Enter the 6-digit code your authenticator app shows now".into())];
        return render_as(StatusCode::UNAUTHORIZED, &CodePage { frame, pending, errors });
    }
    if let Err(e) = state.store.revoke_token(&pending).await {
        return ApiError::from(e).into_response();
    }
    start_session(&state, &user).await
}

async fn start_session(state: &AppState, user: &User) -> Response {
    if let Err(e) = state.store.record_sign_in(&user.username, true, state.now()).await {
        return ApiError::from(e).into_response();
    }
    let ttl = state.access.session_hours * 3600;
    match state.store.issue_token(&user.username, "session", Some(ttl)).await {
        Ok(token) => {
            let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={ttl}");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(t) = session_token(&headers) {
        state.tokens.forget(&t);
        if let Err(e) = state.store.revoke_token(&t).await {
            return ApiError::from(e).into_response();
        }
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

// ---- one's own account ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    username: String,
    organisation: String,
    roles: Vec<&'static str>,
    can: Vec<&'static str>,
    second_factor: bool,
    required: bool,
    /// Setting up: the new secret and its otpauth link, to confirm with a code.
    setup: Option<(String, String)>,
    errors: Vec<(String, String)>,
}

/// What each action means to the person reading their account page.
fn describe(action: Action) -> &'static str {
    match action {
        Action::UseSystem => "use asb and read its policies",
        Action::CheckFirstContact => "check whether a caller, address or subject is known",
        Action::RecordContact => "record ASB reports",
        Action::ViewIncident => "read incidents and the people in them",
        Action::UpdateVictim => "record updates given to victims",
        Action::Supervise => "review incidents and change their classification or risk",
        Action::DipSample => "check the weekly quality sample",
        Action::ViewMeasures => "see the inspection measures",
        Action::ViewAnalysis => "see trends, hotspots, repeat locations and counts of repeat victims",
        Action::ViewVictimList => "list repeat and acute victims by name",
        Action::ViewAudit => "see who has looked at or changed a record",
        Action::ManageUsers => "manage user accounts and roles",
    }
}

async fn account_page(
    state: &AppState,
    user: &User,
    frame: Frame,
    setup: Option<(String, String)>,
    errors: Vec<(String, String)>,
) -> Response {
    let summary = match state.store.user_summary(&user.username).await {
        Ok(Some(s)) => s,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let roles = user.role_list();
    let page = AccountPage {
        frame,
        username: summary.username,
        organisation: summary.organisation_name,
        roles: roles.iter().map(|r| r.label()).collect(),
        can: access::PERMISSIONS.iter().filter(|(a, _)| user.can(*a)).map(|(a, _)| describe(*a)).collect(),
        second_factor: summary.second_factor,
        required: state.access.second_factor_required(&roles),
        setup,
        errors,
    };
    render_form(&page, !page.errors.is_empty())
}

async fn account(State(state): State<AppState>, PageUser(user): PageUser, frame: Frame) -> Response {
    account_page(&state, &user, frame, None, vec![]).await
}

/// Set up a second factor (`step` `start`, then `confirm` with the secret and a code), or remove
/// it (`remove`, with a current code, and only where the role does not require one).
async fn second_factor(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    Form(f): Form<Fields>,
) -> Response {
    let now = state.now();
    let setup_of = |secret: String| {
        let link = totp(&secret, &user.username).map(|t| t.get_url()).unwrap_or_default();
        (secret, link)
    };
    let code_error =
        || vec![("code".to_string(), "Enter the 6-digit code your authenticator app shows now".to_string())];
    match field(&f, "step").as_str() {
        "start" => account_page(&state, &user, frame, Some(setup_of(new_totp_secret())), vec![]).await,
        "confirm" => {
            let secret = field(&f, "secret");
            if !totp_code_ok(&secret, &user.username, &field(&f, "code"), now) {
                return account_page(&state, &user, frame, Some(setup_of(secret)), code_error()).await;
            }
            match state.store.set_second_factor(&user.username, Some(&secret), Some(user.id)).await {
                Ok(()) => Redirect::to("/account").into_response(),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        "remove" => {
            if state.access.second_factor_required(&user.role_list()) {
                let e = vec![("code".into(), "Your role requires a second factor, so it cannot be removed".into())];
                return account_page(&state, &user, frame, None, e).await;
            }
            let secret = user.totp_secret.clone().unwrap_or_default();
            if !totp_code_ok(&secret, &user.username, &field(&f, "code"), now) {
                return account_page(&state, &user, frame, None, code_error()).await;
            }
            match state.store.set_second_factor(&user.username, None, Some(user.id)).await {
                Ok(()) => Redirect::to("/account").into_response(),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        _ => account_page(&state, &user, frame, None, vec![("step".into(), "Choose what to do".into())]).await,
    }
}
