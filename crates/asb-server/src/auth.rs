//! Who is asking: bearer tokens for the API, a session cookie for the pages; passwords (argon2id)
//! and the optional second factor (TOTP). What they may do is the permission table's business
//! (`asb_domain::access`), enforced for every route by `crate::access`.

use crate::access::CsrfToken;
use crate::error::ApiError;
use crate::AppState;
use argon2::password_hash::{
    rand_core::OsRng, rand_core::RngCore, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use asb_domain::access::Action;
use asb_store::User;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "asb_session";
/// How long a token's user is remembered in memory. A token revoked by another process (the CLI)
/// stops working within this time; one revoked here (sign-out) stops at once.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
const TOKEN_CACHE_MAX: usize = 10_000;

/// Recently seen tokens and their users: a first-contact check should not pay a database round
/// trip for its bearer token on every keystroke.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (User, Instant)>>);

impl TokenCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (User, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn user(&self, store: &asb_store::Store, token: &str) -> Result<Option<User>, asb_store::StoreError> {
        if let Some((u, at)) = self.map().get(token) {
            if at.elapsed() < TOKEN_CACHE_TTL {
                return Ok(Some(u.clone()));
            }
        }
        let user = store.user_for_token(token).await?;
        let mut map = self.map();
        match &user {
            Some(u) => {
                if map.len() >= TOKEN_CACHE_MAX {
                    map.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
                    if map.len() >= TOKEN_CACHE_MAX {
                        map.clear();
                    }
                }
                map.insert(token.to_string(), (u.clone(), Instant::now()));
            }
            None => {
                map.remove(token);
            }
        }
        Ok(user)
    }

    pub fn forget(&self, token: &str) {
        self.map().remove(token);
    }

    /// Forget every token: an account changed here (roles, disabled) takes effect at once in
    /// this process, and within TOKEN_CACHE_TTL in others.
    pub fn clear(&self) {
        self.map().clear();
    }
}
/// A fresh random token (256 bits, hex).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Verify against a fixed hash when there is no account, so a wrong username takes as long as a
/// wrong password and timing does not tell which usernames exist.
pub fn verify_password_or_waste_time(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match hash {
        Some(h) => verify_password(password, h),
        None => {
            let dummy = DUMMY.get_or_init(|| hash_password("not a password anyone has").unwrap_or_default());
            let _ = verify_password(password, dummy);
            false
        }
    }
}

/// The authenticator app's view of a secret: six digits every 30 seconds (RFC 6238, SHA-1, as
/// every common app reads an `otpauth://` link).
pub fn totp(secret_base32: &str, username: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_base32.to_string()).to_bytes().ok()?;
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, Some("asb".into()), username.into()).ok()
}

/// A new secret for an authenticator app, base32.
pub fn new_totp_secret() -> String {
    match totp_rs::Secret::generate_secret().to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => String::new(),
    }
}

/// Whether `code` is the secret's code at `now`, or the step either side (clocks drift).
pub fn totp_code_ok(secret_base32: &str, username: &str, code: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    code.len() == 6 && totp(secret_base32, username).is_some_and(|t| t.check(&code, now.timestamp().max(0) as u64))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The value of the cookie `name`, when the request carries a non-empty one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// Who the access layer signed in, and how.
#[derive(Clone)]
pub struct Authed {
    pub user: User,
    /// Signed in by the session cookie (so a state-changing request needs the CSRF token).
    pub by_cookie: bool,
}

/// Sign the request's user in: the bearer token on the API, else the session cookie.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, api: bool) -> Result<Option<Authed>, ApiError> {
    let (token, by_cookie) = match (api, bearer(headers)) {
        (true, Some(t)) => (t.to_string(), false),
        _ => match session_token(headers) {
            Some(t) => (t, true),
            None => return Ok(None),
        },
    };
    Ok(state.tokens.user(&state.store, &token).await?.map(|user| Authed { user, by_cookie }))
}

/// A signed-in user of the API (bearer token), or of the pages (session cookie).
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        crate::access::authed(parts).map(|a| ApiUser(a.user.clone())).ok_or(ApiError::Unauthorised)
    }
}

/// A signed-in user of the pages; anyone else is sent to the sign-in page.
pub struct PageUser(pub User);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        crate::access::authed(parts)
            .map(|a| PageUser(a.user.clone()))
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// A link in the header's navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
}

/// The work each role reaches from the header, in the permission table's terms.
const NAV: &[(&str, &str, Action)] = &[
    ("/report", "Take a report", Action::RecordContact),
    ("/supervision", "Review queue", Action::Supervise),
    ("/supervision/dip-sample", "Dip sample", Action::DipSample),
    ("/measures", "Measures", Action::ViewMeasures),
    ("/analysis", "Analysis", Action::ViewAnalysis),
    ("/admin/users", "Users", Action::ManageUsers),
    ("/admin/audit", "Audit trail", Action::ViewAudit),
    ("/account", "Your account", Action::UseSystem),
];

/// What every page's frame shows: who is signed in, the CSRF token for its forms, and the
/// navigation their roles allow.
#[derive(Debug, Clone)]
pub struct Frame {
    pub user: Option<String>,
    pub csrf: String,
    pub nav: Vec<NavLink>,
}

impl Frame {
    pub fn for_user(user: Option<&User>, csrf: String) -> Frame {
        let nav = match user {
            Some(u) => NAV
                .iter()
                .filter(|(_, _, action)| u.can(*action))
                .map(|(href, label, _)| NavLink { href, label })
                .collect(),
            None => Vec::new(),
        };
        Frame { user: user.map(|u| u.display_name.clone()), csrf, nav }
    }
}

impl FromRequestParts<AppState> for Frame {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let csrf = parts.extensions.get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
        Ok(Frame::for_user(crate::access::authed(parts).map(|a| &a.user), csrf))
    }
}
