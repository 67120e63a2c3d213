//! People who use the system, and their bearer tokens (API tokens and browser sessions). Only a
//! SHA-256 of each token is stored, so a copy of the database cannot be used to sign in.

use crate::{orgs, Result, Store, StoreError};
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
        let mut tx = self.write.begin().await?;
        let org = orgs::by_code(&mut tx, org_code)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("organisation {org_code}")))?;
        sqlx::query(
            "INSERT INTO users (username, display_name, organisation_id, roles, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, unixepoch()) ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(display_name)
        .bind(org.id)
        .bind(roles.join(","))
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.user(username).await?.ok_or_else(|| StoreError::NotFound(format!("user {username}")))
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ? AND disabled_at IS NULL"))
            .bind(username)
            .fetch_optional(&self.read)
            .await?)
    }

    /// A new random token for the user, of `kind` `api` or `session`, optionally expiring.
    /// Returns the token; only its hash is kept.
    pub async fn issue_token(&self, username: &str, kind: &str, ttl_secs: Option<i64>) -> Result<String> {
        let user = self.user(username).await?.ok_or_else(|| StoreError::NotFound(format!("user '{username}'")))?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!("asb_{}", hex::encode(bytes));
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO api_tokens (user_id, token_hash, kind, created_at, expires_at) VALUES (?, ?, ?, unixepoch(), unixepoch() + ?)")
            .bind(user.id)
            .bind(hash_token(&token))
            .bind(kind)
            .bind(ttl_secs)
            .execute(&mut *tx)
            .await?;
        crate::audit::write(
            &mut tx,
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

    /// The user a live token belongs to.
    pub async fn user_for_token(&self, token: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM users u JOIN api_tokens t ON t.user_id = u.id
             WHERE t.token_hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > unixepoch())
               AND u.disabled_at IS NULL",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(hash_token(token))
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET revoked_at = unixepoch() WHERE token_hash = ?")
            .bind(hash_token(token))
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
