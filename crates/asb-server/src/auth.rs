//! Who is asking: bearer tokens for the API, a session cookie for the pages. Passwords are
//! argon2id. (Roles and the permission table arrive with staff accounts; users already carry roles.)

use crate::error::ApiError;
use crate::AppState;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use asb_store::User;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};

pub const SESSION_COOKIE: &str = "asb_session";
pub const SESSION_TTL_SECS: i64 = 12 * 3600;

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// A signed-in user of the API (bearer token), or of the pages (session cookie).
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)
            .map(str::to_string)
            .or_else(|| session_token(&parts.headers))
            .ok_or(ApiError::Unauthorised)?;
        match state.store.user_for_token(&token).await? {
            Some(u) => Ok(ApiUser(u)),
            None => Err(ApiError::Unauthorised),
        }
    }
}

/// A signed-in user of the pages; anyone else is sent to the login page.
pub struct PageUser(pub User);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let login = || Redirect::to("/login").into_response();
        let token = session_token(&parts.headers).ok_or_else(login)?;
        match state.store.user_for_token(&token).await {
            Ok(Some(u)) => Ok(PageUser(u)),
            Ok(None) => Err(login()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}
