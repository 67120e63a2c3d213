//! People who use the system, and their bearer tokens (API tokens and browser sessions). Only a
//! SHA-256 of each token is stored, so a copy of the database cannot be used to sign in.

use crate::engine::{exec, on, Db, Ts};
use crate::{audit, orgs, read_only, AuditEvent, Result, Store, StoreError};
use asb_domain::access::{self, Action, Role};
use asb_domain::FieldError;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub organisation_id: i64,
    /// Role names, comma-separated as stored; `role_list` reads them.
    pub roles: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// The base32 secret of the user's authenticator app, when they have one.
    #[serde(skip)]
    pub totp_secret: Option<String>,
}

impl User {
    pub fn role_list(&self) -> Vec<Role> {
        Role::parse_list(&self.roles)
    }

    /// Whether the permission table allows this user `action`.
    pub fn can(&self, action: Action) -> bool {
        access::allows(&self.role_list(), action)
    }
}

/// A user as an administrator sees them in the list.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub organisation: String,
    pub organisation_name: String,
    pub roles: Vec<Role>,
    pub second_factor: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A new account, as an administrator asks for it.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    /// Organisation code, e.g. `MPS` or `MPS-E09000007`.
    pub organisation: String,
    pub roles: Vec<Role>,
    pub password_hash: Option<String>,
}

/// What an administrator changes about an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub organisation: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

type SummaryRow = (i64, String, String, String, String, String, Option<String>, Option<Ts>, Ts);

const SUMMARY: &str = "SELECT u.id, u.username, u.display_name, o.code, o.name, u.roles, u.totp_secret, u.disabled_at,
        u.created_at FROM users u JOIN organisations o ON o.id = u.organisation_id";

fn summary(r: SummaryRow) -> UserSummary {
    let (id, username, display_name, organisation, organisation_name, roles, totp, disabled, created) = r;
    UserSummary {
        id,
        username,
        display_name,
        organisation,
        organisation_name,
        roles: Role::parse_list(&roles),
        second_factor: totp.is_some(),
        disabled: disabled.is_some(),
        created_at: created.0,
    }
}

async fn organisation_id(db: &mut Db<'_>, code: &str) -> Result<i64> {
    match orgs::by_code(db, code).await? {
        Some(o) => Ok(o.id),
        None => Err(StoreError::Invalid(vec![FieldError::new(
            "organisation",
            format!("'{code}' is not an organisation in this system"),
        )])),
    }
}

impl NewUser {
    /// Everything wrong with the request, by field (the organisation is checked on writing).
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(m) = access::check_username(&self.username) {
            errors.push(FieldError::new("username", m));
        }
        if self.display_name.trim().is_empty() {
            errors.push(FieldError::new("display_name", "Enter the person's name"));
        }
        if self.roles.is_empty() {
            errors.push(FieldError::new("roles", "Choose at least one role"));
        }
        errors
    }
}

fn check_roles(roles: &[Role]) -> Result<()> {
    if roles.is_empty() {
        return Err(StoreError::Invalid(vec![FieldError::new("roles", "Choose at least one role")]));
    }
    Ok(())
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const USER_COLUMNS: &str = "id, username, display_name, organisation_id, roles, password_hash, totp_secret";

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
             WHERE t.token_hash = $1 AND t.kind IN ('api', 'session') AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)
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

    /// The user half-way through signing in with this token (`kind` `sign_in`: password right,
    /// second factor still to come), on the primary. Such a token is no session.
    pub async fn user_signing_in(&self, token: &str) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {} FROM users u JOIN api_tokens t ON t.user_id = u.id
             WHERE t.token_hash = $1 AND t.kind = 'sign_in' AND t.revoked_at IS NULL AND t.expires_at > $2
               AND u.disabled_at IS NULL",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let mut c = self.current().await?;
        Ok(
            on!(&mut c.db(), c => sqlx::query_as(&sql).bind(hash_token(token)).bind(Ts(Utc::now())).fetch_optional(c).await?),
        )
    }

    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2";
        exec!(&mut tx.db(), c => sqlx::query(sql).bind(Ts(Utc::now())).bind(hash_token(token)).execute(c).await?);
        tx.commit().await?;
        Ok(())
    }

    /// Create an account, as an administrator (`by`) asks; the event is in the audit log.
    pub async fn create_user(&self, new: &NewUser, by: Option<i64>) -> Result<User> {
        let problems = new.problems();
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let username = new.username.trim().to_lowercase();
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let org = organisation_id(db, &new.organisation).await?;
        let sql = "INSERT INTO users (username, display_name, organisation_id, roles, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING RETURNING id";
        let id: Option<i64> = on!(db, c => sqlx::query_scalar(sql)
            .bind(&username)
            .bind(new.display_name.trim())
            .bind(org)
            .bind(Role::join(&new.roles))
            .bind(&new.password_hash)
            .bind(Ts(Utc::now()))
            .fetch_optional(c)
            .await?);
        let Some(id) = id else {
            return Err(StoreError::Invalid(vec![FieldError::new(
                "username",
                format!("There is already a user called '{username}'"),
            )]));
        };
        let detail = serde_json::json!({"roles": new.roles, "organisation": new.organisation});
        audit::write(
            db,
            &AuditEvent::new(by, "collection", "user", Some(id.to_string()), "creating a user account")
                .with_detail(detail),
        )
        .await?;
        tx.commit().await?;
        self.user(&username).await?.ok_or_else(|| StoreError::NotFound(format!("user {username}")))
    }

    /// Every account, enabled or not, by username.
    pub async fn users(&self) -> Result<Vec<UserSummary>> {
        let sql = format!("{SUMMARY} ORDER BY u.username");
        let mut c = self.current().await?;
        let rows: Vec<SummaryRow> = on!(&mut c.db(), c => sqlx::query_as(&sql).fetch_all(c).await?);
        Ok(rows.into_iter().map(summary).collect())
    }

    /// One account, enabled or not.
    pub async fn user_summary(&self, username: &str) -> Result<Option<UserSummary>> {
        let sql = format!("{SUMMARY} WHERE u.username = $1");
        let mut c = self.current().await?;
        let row: Option<SummaryRow> =
            on!(&mut c.db(), c => sqlx::query_as(&sql).bind(username).fetch_optional(c).await?);
        Ok(row.map(summary))
    }

    /// Change an account, as an administrator (`by`) asks. Disabling it ends its sessions and
    /// API tokens at once (they are looked up with the account).
    pub async fn update_user(&self, username: &str, change: &UserChange, by: Option<i64>) -> Result<()> {
        if let Some(roles) = &change.roles {
            check_roles(roles)?;
        }
        if change.display_name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            return Err(StoreError::Invalid(vec![FieldError::new("display_name", "Enter the person's name")]));
        }
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let sql = "SELECT id FROM users WHERE username = $1";
        let id: i64 = on!(db, c => sqlx::query_scalar(sql).bind(username).fetch_optional(c).await?)
            .ok_or_else(|| StoreError::NotFound(format!("user '{username}'")))?;
        let org = match &change.organisation {
            Some(code) => Some(organisation_id(db, code).await?),
            None => None,
        };
        let now = Ts(Utc::now());
        let sql = "UPDATE users SET display_name = COALESCE($1, display_name), organisation_id = COALESCE($2, organisation_id),
               roles = COALESCE($3, roles), password_hash = COALESCE($4, password_hash),
               disabled_at = CASE WHEN $5 THEN COALESCE(disabled_at, $6) WHEN NOT $5 THEN NULL ELSE disabled_at END
             WHERE id = $7";
        exec!(db, c => sqlx::query(sql)
            .bind(change.display_name.as_deref().map(str::trim))
            .bind(org)
            .bind(change.roles.as_deref().map(Role::join))
            .bind(&change.password_hash)
            .bind(change.disabled)
            .bind(now)
            .bind(id)
            .execute(c)
            .await?);
        let mut changed = Vec::new();
        for (field, set) in [
            ("display_name", change.display_name.is_some()),
            ("organisation", change.organisation.is_some()),
            ("roles", change.roles.is_some()),
            ("disabled", change.disabled.is_some()),
            ("password", change.password_hash.is_some()),
        ] {
            if set {
                changed.push(field);
            }
        }
        let detail = serde_json::json!({"changed": changed, "roles": change.roles, "organisation": change.organisation,
            "disabled": change.disabled});
        audit::write(
            db,
            &AuditEvent::new(by, "alteration", "user", Some(id.to_string()), "changing a user account")
                .with_detail(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Set (or with `None`, remove) the account's authenticator secret.
    pub async fn set_second_factor(&self, username: &str, secret: Option<&str>, by: Option<i64>) -> Result<()> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        let sql = "UPDATE users SET totp_secret = $1 WHERE username = $2 RETURNING id";
        let id: i64 = on!(db, c => sqlx::query_scalar(sql).bind(secret).bind(username).fetch_optional(c).await?)
            .ok_or_else(|| StoreError::NotFound(format!("user '{username}'")))?;
        let purpose = if secret.is_some() { "setting up a second factor" } else { "removing a second factor" };
        audit::write(db, &AuditEvent::new(by, "alteration", "user", Some(id.to_string()), purpose)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Failed sign-ins for `username` since `since` (for the lock-out), on the primary.
    pub async fn sign_in_failures(&self, username: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        let sql = "SELECT at FROM login_attempts WHERE username = $1 AND at >= $2 AND NOT succeeded ORDER BY at";
        let mut c = self.current().await?;
        let rows: Vec<Ts> =
            on!(&mut c.db(), c => sqlx::query_scalar(sql).bind(username).bind(Ts(since)).fetch_all(c).await?);
        Ok(rows.into_iter().map(|t| t.0).collect())
    }

    /// Note a sign-in attempt. A success clears the count of earlier failures.
    pub async fn record_sign_in(&self, username: &str, succeeded: bool, at: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        if succeeded {
            let sql = "DELETE FROM login_attempts WHERE username = $1 AND NOT succeeded";
            exec!(db, c => sqlx::query(sql).bind(username).execute(c).await?);
        }
        let sql = "INSERT INTO login_attempts (username, at, succeeded) VALUES ($1, $2, $3)";
        exec!(db, c => sqlx::query(sql).bind(username).bind(Ts(at)).bind(succeeded).execute(c).await?);
        tx.commit().await?;
        Ok(())
    }
}
