//! Persistence for asb: one `Store` API the server and the CLI use. SQLite is the embedded engine
//! (one file, WAL, a single writer connection and a pool of readers); PostgreSQL arrives behind
//! the same API. Every change and its audit event are written in one transaction.

mod audit;
mod bulk;
mod first_contact;
mod history;
mod incidents;
mod matching;
mod orgs;
mod users;

pub use audit::{AuditEvent, AuditRecord};
pub use bulk::{Batch, IncidentRow, PersonRow, PlaceRow};
pub use first_contact::{CheckResult, MatchedPerson, PlaceSummary, RecordOutcome, RiskOutcome};
pub use incidents::{IncidentDetail, IncidentPerson};
pub use orgs::Organisation;
pub use users::User;

use asb_domain::FieldError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input that only the database can judge (an unknown organisation, say), by field.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database, opened for use. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// One connection: SQLite has one writer at a time, and queuing here beats SQLITE_BUSY.
    write: SqlitePool,
    read: SqlitePool,
    /// The background checkpointer stops when the last clone of the store is dropped.
    _alive: Arc<()>,
}

/// Checkpoint the WAL every second from a connection of its own. PASSIVE never blocks readers
/// or the writer; TRUNCATE when the WAL has grown large keeps the file from growing unbounded.
fn spawn_checkpointer(options: SqliteConnectOptions, alive: Weak<()>) {
    tokio::spawn(async move {
        let Ok(mut conn) = options.connect().await else { return };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while alive.upgrade().is_some() {
            tick.tick().await;
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await {
                Ok((_, wal_pages, _)) if wal_pages > 100_000 => {
                    let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            }
        }
    });
}

impl Store {
    /// Open (creating if missing) `DIR/asb.db` and bring its schema up to date.
    pub async fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Other(format!("cannot create data directory {}: {e}", dir.display())))?;
        Store::connect(&format!("sqlite://{}", dir.join("asb.db").display())).await
    }

    /// Open a database by URL. Only `sqlite://PATH` for now.
    pub async fn connect(url: &str) -> Result<Store> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Other(format!("unsupported database URL '{url}': use sqlite://PATH")));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        // Checkpoints run in the background (below), not inside whichever request commits the
        // 1000th WAL page: that fsync was the tail of the first-contact latency.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let alive = Arc::new(());
        spawn_checkpointer(options.clone(), Arc::downgrade(&alive));
        // Readers wait on SQLite and the page cache more than on the CPU: a few per core.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
        let read = SqlitePoolOptions::new()
            .max_connections((cores * 4).clamp(8, 32))
            .min_connections(cores)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Store { write, read, _alive: alive })
    }

    /// The schema version (the latest migration applied).
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.read).await?;
        Ok(v.unwrap_or(0))
    }

    /// Row counts of the main tables, for the demo banner and tests.
    pub async fn counts(&self) -> Result<Counts> {
        let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.read);
        Ok(Counts {
            organisations: one("SELECT COUNT(*) FROM organisations").await?,
            people: one("SELECT COUNT(*) FROM people").await?,
            places: one("SELECT COUNT(*) FROM places").await?,
            incidents: one("SELECT COUNT(*) FROM incidents").await?,
            contacts: one("SELECT COUNT(*) FROM contacts").await?,
            audit_events: one("SELECT COUNT(*) FROM audit_events").await?,
        })
    }

    /// Flush the WAL into the main file and refresh the planner's statistics (after bulk loads).
    pub async fn optimise(&self) -> Result<()> {
        sqlx::query("ANALYZE").execute(&self.write).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub organisations: i64,
    pub people: i64,
    pub places: i64,
    pub incidents: i64,
    pub contacts: i64,
    pub audit_events: i64,
}

pub(crate) fn ts(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn from_ts(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}
