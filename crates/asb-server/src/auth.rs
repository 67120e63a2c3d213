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
}
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
        match state.tokens.user(&state.store, &token).await? {
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
        match state.tokens.user(&state.store, &token).await {
            Ok(Some(u)) => Ok(PageUser(u)),
            Ok(None) => Err(login()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}
