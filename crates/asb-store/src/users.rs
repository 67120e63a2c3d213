//! People who use the system, and their bearer tokens (API tokens and browser sessions). Only a
//! SHA-256 of each token is stored, so a copy of the database cannot be used to sign in.

use crate::engine::{exec, on, Ts};
use crate::{orgs, read_only, Result, Store, StoreError};
use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub organisation_id: i64,
    pub roles: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.split(',').any(|r| r.trim() == role)
    }
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const USER_COLUMNS: &str = "id, username, display_name, organisation_id, roles, password_hash";

impl Store {
    /// Create the user if missing (by username); returns it. Idempotent.
    pub async fn ensure_user(
        &self,
        username: &str,
        display_name: &str,
        org_code: &str,
        roles: &[&str],
        password_hash: Option<&str>,
    ) -> Result<User> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let org = orgs::by_code(db, org_code)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("organisation {org_code}")))?;
        let sql = "INSERT INTO users (username, display_name, organisation_id, roles, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING";
        exec!(db, c => sqlx::query(sql)
            .bind(username)
            .bind(display_name)
            .bind(org.id)
            .bind(roles.join(","))
            .bind(password_hash)
            .bind(Ts(Utc::now()))
            .execute(c)
            .await?);
        tx.commit().await?;
        self.user(username).await?.ok_or_else(|| StoreError::NotFound(format!("user {username}")))
    }

    /// A user by name, as the primary has it (users are read just after they are written).
    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let mut c = self.current().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 AND disabled_at IS NULL");
        Ok(on!(&mut c.db(), c => sqlx::query_as(&sql).bind(username).fetch_optional(c).await?))
    }

    /// A new random token for the user, of `kind` `api` or `session`, optionally expiring.
    /// Returns the token; only its hash is kept.
    pub async fn issue_token(&self, username: &str, kind: &str, ttl_secs: Option<i64>) -> Result<String> {
        let user = self.user(username).await?.ok_or_else(|| StoreError::NotFound(format!("user '{username}'")))?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!("asb_{}", hex::encode(bytes));
        let now = Utc::now();
        let expires = ttl_secs.map(|s| Ts(now + chrono::Duration::seconds(s)));
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let sql =
            "INSERT INTO api_tokens (user_id, token_hash, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
        exec!(db, c => sqlx::query(sql)
            .bind(user.id)
            .bind(hash_token(&token))
            .bind(kind)
            .bind(Ts(now))
            .bind(expires)
            .execute(c)
            .await?);
        crate::audit::write(
            db,
            &crate::AuditEvent::new(
                Some(user.id),
                "collection",
                "token",
                Some(user.id.to_string()),
                &format!("{kind} token issued"),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The user a live token belongs to. Read from a replica; a token too new for the replica
    /// to hold yet is looked for on the primary.
    pub async fn user_for_token(&self, token: &str) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {} FROM users u JOIN api_tokens t ON t.user_id = u.id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)
               AND u.disabled_at IS NULL",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let (hash, now) = (hash_token(token), Ts(Utc::now()));
        let found: Option<User> = read_only!(self, |db| on!(db, c => sqlx::query_as(&sql)
            .bind(&hash)
            .bind(now)
            .fetch_optional(c)
            .await
            .map_err(StoreError::from)))?;
        if found.is_some() || !self.has_replicas() {
            return Ok(found);
        }
        let mut c = self.current().await?;
        Ok(on!(&mut c.db(), c => sqlx::query_as(&sql).bind(&hash).bind(now).fetch_optional(c).await?))
    }

    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2";
        exec!(&mut tx.db(), c => sqlx::query(sql).bind(Ts(Utc::now())).bind(hash_token(token)).execute(c).await?);
        tx.commit().await?;
        Ok(())
    }
}
