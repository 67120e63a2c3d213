//! New, empty databases: `migrate-data` targets, test databases and benchmark databases. A
//! PostgreSQL database is created on its server (from the server's `postgres` database); a
//! SQLite file is created when it is opened.

use crate::{Result, Store, StoreError};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::str::FromStr;

/// Create the PostgreSQL database `url` names, unless it exists. Returns whether it was created.
/// Does nothing (and returns false) for a SQLite URL.
pub async fn create_database(url: &str) -> Result<bool> {
    if url.starts_with("sqlite:") {
        return Ok(false);
    }
    let options = PgConnectOptions::from_str(url)?;
    // A database that exists is left alone, without needing access to the server's `postgres`.
    match options.connect().await {
        Ok(conn) => {
            conn.close().await?;
            return Ok(false);
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {}
        Err(e) => return Err(e.into()),
    }
    let name = options
        .get_database()
        .ok_or_else(|| StoreError::Other("the PostgreSQL URL names no database (…/DBNAME)".into()))?
        .to_string();
    let mut conn = options.database("postgres").connect().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""))).execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(!exists)
}

/// The same server URL naming another database.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = match base.find("://") {
        Some(i) => match base[i + 3..].find('/') {
            Some(j) => &base[..i + 3 + j],
            None => base,
        },
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// The URL of a fresh, empty database for a test: a new database on the PostgreSQL server that
/// `ASB_TEST_DATABASE_URL` names when it is set, else `NAME.db` in `dir`.
pub async fn fresh_url(dir: &Path, name: &str) -> Result<String> {
    match std::env::var("ASB_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let db = format!("asb_test_{name}_{}", hex::encode(rand::random::<[u8; 6]>()));
            let url = with_database(&server, &db);
            create_database(&url).await?;
            Ok(url)
        }
        _ => Ok(format!("sqlite://{}", dir.join(format!("{name}.db")).display())),
    }
}

/// A fresh, empty store for a test (see `fresh_url`).
pub async fn fresh_store(dir: &Path) -> Result<Store> {
    Store::connect(&fresh_url(dir, "asb").await?).await
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn another_database_on_the_same_server() {
        assert_eq!(with_database("postgres://a@h:5432/postgres", "x"), "postgres://a@h:5432/x");
        assert_eq!(with_database("postgres://a@h:5432", "x"), "postgres://a@h:5432/x");
        assert_eq!(with_database("postgres://a:p@h/db?sslmode=disable", "x"), "postgres://a:p@h/x?sslmode=disable");
    }
}
