//! Persistence for asb: one `Store` API the server and the CLI use, on SQLite (the embedded
//! engine: one file, WAL, a single writer connection and a pool of readers) or PostgreSQL (a
//! primary and any number of streaming replicas). Every change and its audit event are written
//! in one transaction.

mod analysis;
mod analysis_counts;
mod areas;
mod audit;
mod bulk;
mod copy;
mod dip_sample;
mod engine;
mod first_contact;
mod history;
mod incidents;
mod matching;
mod measures;
mod orgs;
mod police_uk;
mod pools;
pub mod scratch;
mod supervision;
mod users;

pub use analysis::{
    AreaRef, CategoryCount, HotspotCell, Hotspots, ListedVictim, MonthSpan, RepeatLocations, RepeatPlace, RepeatPoint,
    TrendMonth, TrendRow, Trends, VictimList, VictimSummary, TREND_DEFINITIONS,
};
pub use audit::{AuditEvent, AuditRecord, ChainBreak, ChainReport};
pub use bulk::{
    Batch, ChangeRow, Closing, DipRow, IncidentRow, PersonRow, PlaceRow, ReviewRow, ScheduleRow, UpdateRow,
};
pub use copy::CopyReport;
pub use dip_sample::{DipSample, DipSampleItem};
pub use engine::Engine;
pub use first_contact::{CheckResult, MatchedPerson, PlaceSummary, RecordOutcome, RiskOutcome};
pub use incidents::{IncidentDetail, IncidentPerson, Reader, Shown};
pub use measures::{AreaMeasures, Figures, Measures, MonthFigures, DEFINITIONS as MEASURE_DEFINITIONS};
pub use orgs::Organisation;
pub use police_uk::{BadRow, FileImport, HistoricalRow, LsoaArea, OwnRecord, Quarantined};
pub use pools::{display_url, Health, Options, ReplicaHealth};
pub use supervision::{
    ChangeRecord, DueItem, Queue, QueueItem, ReviewOutcome, ReviewRecord, Scope, Supervision, Values, VictimUpdate,
    QUEUE_DAYS_AHEAD, UPDATE_CHANNELS,
};
pub use users::{NewUser, User, UserChange, UserSummary};

use asb_domain::FieldError;
use engine::{on, Pooled, Tx};
use pools::Pools;
use std::path::Path;

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

impl StoreError {
    /// The connection went away (the server stopped, restarted or dropped it), as opposed to a
    /// query the database refused: the same work may succeed on another server.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // 08: connection exception; 57P: the server shutting down or terminating us.
            StoreError::Database(sqlx::Error::Database(d)) => {
                d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
            }
            _ => false,
        }
    }

    /// A read that failed on a replica for the replica's sake, not the query's: its connection
    /// was lost, or recovery on the replica cancelled the query (SQLSTATE 40001).
    pub fn is_replica_failure(&self) -> bool {
        self.is_connection_lost()
            || matches!(self, StoreError::Database(sqlx::Error::Database(d)) if d.code().as_deref() == Some("40001"))
    }
}

/// Read-only work on a replica when one is up: `$body` runs with `$db` bound to the connection.
/// If the replica fails it (its connection is lost, or recovery cancels the query), the replica
/// is marked down and `$body` runs again on another replica or the primary, so a replica dying
/// costs a retry, not an error. The primary's readers are not pinged before each use (a round
/// trip on every read): a connection the primary dropped fails its query, and `$body` runs once
/// more on a fresh one. `$body` evaluates to a
/// `Result` without `?` on the way (a `?` would return before the retry).
macro_rules! read_only {
    ($store:expr, |$db:ident| $body:expr) => {{
        let (mut conn, replica) = $store.pools.reader().await?;
        let first: $crate::Result<_> = {
            let $db = &mut conn.db();
            $body
        };
        match (first, replica) {
            (Err(e), replica) if replica.map_or(e.is_connection_lost(), |_| e.is_replica_failure()) => {
                match replica {
                    Some(i) => $store.pools.lost(i, &e),
                    None => conn.close_on_drop(),
                }
                drop(conn);
                // Another replica that is up, else the primary.
                let (mut conn, _) = $store.pools.reader_after_loss().await?;
                let $db = &mut conn.db();
                $body
            }
            (result, _) => result,
        }
    }};
}
pub(crate) use read_only;

/// The database, opened for use. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
    audit_head: audit::HeadCache,
    areas: areas::AreaCache,
}

impl Store {
    /// Open (creating if missing) `DIR/asb.db` and bring its schema up to date.
    pub async fn open_dir(dir: &Path) -> Result<Store> {
        Store::open_dir_with(dir, &Options::default()).await
    }

    /// `open_dir`, with a read pool's size as given (SQLite has no replicas).
    pub async fn open_dir_with(dir: &Path, options: &Options) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Other(format!("cannot create data directory {}: {e}", dir.display())))?;
        Store::connect_with(&format!("sqlite://{}", dir.join("asb.db").display()), options).await
    }

    /// Open a database by URL (`sqlite://PATH` or `postgres://USER@HOST:PORT/DB`) and bring its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, &Options::default()).await
    }

    /// Open a PostgreSQL primary with read replicas: read-only work goes to a replica that is
    /// up, everything else (and every read when none is) to the primary.
    pub async fn connect_with_replicas(url: &str, replicas: &[String]) -> Result<Store> {
        Store::connect_with(url, &Options { replicas: replicas.to_vec(), ..Options::default() }).await
    }

    /// Open with replicas, pool size and lag limit as given.
    pub async fn connect_with(url: &str, options: &Options) -> Result<Store> {
        let pools = Pools::connect(url, options).await?;
        let store = Store { pools, audit_head: Default::default(), areas: Default::default() };
        store.seal_audit_chain().await?;
        store.ensure_analysis_counted().await?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.pools.engine()
    }

    /// Whether reads may come from a replica (and so may lag a moment behind a write).
    pub(crate) fn has_replicas(&self) -> bool {
        self.pools.has_replicas()
    }

    /// A transaction on the primary (the only place anything is written).
    pub(crate) async fn begin(&self) -> Result<Tx> {
        self.pools.begin().await
    }

    /// A connection that sees every committed write: the primary (or SQLite's reader pool,
    /// which reads the WAL and so sees every commit).
    pub(crate) async fn current(&self) -> Result<Pooled> {
        self.pools.current().await
    }

    /// The schema version (the latest migration applied).
    pub async fn schema_version(&self) -> Result<i64> {
        let mut c = self.current().await?;
        let sql = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
        let v: Option<i64> = on!(&mut c.db(), c => sqlx::query_scalar(sql).fetch_one(c).await?);
        Ok(v.unwrap_or(0))
    }

    /// The engine, the schema version and each replica's state, for `/readyz`.
    pub async fn health(&self) -> Result<Health> {
        let schema_version = self.schema_version().await?;
        Ok(self.pools.health(schema_version))
    }

    /// Row counts of the main tables, for the demo banner and tests.
    pub async fn counts(&self) -> Result<Counts> {
        let mut c = self.current().await?;
        let sql = "SELECT (SELECT COUNT(*) FROM organisations), (SELECT COUNT(*) FROM people),
            (SELECT COUNT(*) FROM places), (SELECT COUNT(*) FROM incidents), (SELECT COUNT(*) FROM contacts),
            (SELECT COUNT(*) FROM audit_events)";
        let (organisations, people, places, incidents, contacts, audit_events) =
            on!(&mut c.db(), c => sqlx::query_as(sql).fetch_one(c).await?);
        Ok(Counts { organisations, people, places, incidents, contacts, audit_events })
    }

    /// Refresh the planner's statistics after bulk loads (and on SQLite flush the WAL into the
    /// main file; on PostgreSQL set the visibility map, so the counts stay index-only).
    pub async fn optimise(&self) -> Result<()> {
        self.pools.optimise().await
    }

    pub async fn close(&self) {
        self.pools.close().await
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
