//! Connections to each engine, and where each piece of work goes. SQLite: one writer connection
//! (SQLite has one writer at a time, and queuing here beats SQLITE_BUSY) and a pool of readers.
//! PostgreSQL: two pools on the primary, one for writes and one for reads that must see a write
//! just made (or that have no replica to go to), and a pool per read replica for the rest. A replica that cannot be reached is marked
//! down and its reads go to the primary until a health check finds it back.

use crate::engine::{Engine, Pooled, Tx};
use crate::{Result, StoreError};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqlitePool};
use std::collections::VecDeque;
use std::ffi::c_int;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub(crate) enum Pools {
    Sqlite { write: SqlitePool, read: SqlitePool, checkpoints: Arc<Checkpoints> },
    Pg(Arc<Pg>),
}

pub(crate) struct Pg {
    /// Writes, in pools of their own on the primary (as on SQLite), so readers waiting for a
    /// connection can never starve the audit write a read is waiting on.
    write: PgPool,
    /// Consultations' audit events: one statement each, committed without waiting for the WAL
    /// flush (`synchronous_commit = off` on these connections). Every audit event takes the
    /// chain's head row until it commits; not waiting for a disk write keeps that hold to a
    /// round trip, so checks do not queue behind each other's fsyncs. The durability is that of
    /// SQLite's synchronous=NORMAL: a machine crash can lose the last moment's consultations,
    /// never corrupt the chain. Recordings commit synchronously on `write`.
    audit: PgPool,
    primary: PgPool,
    replicas: Vec<Replica>,
    next: AtomicUsize,
    primary_reads: AtomicU64,
    /// How far behind a replica may be before its reads go to the primary.
    max_lag: Duration,
    /// The primary's WAL position each second for the last `max_lag`, oldest first.
    wal: Mutex<VecDeque<(Instant, u64)>>,
}

/// How to connect: read replicas, the read pools' size, and the lag a replica may have.
#[derive(Debug, Clone)]
pub struct Options {
    /// PostgreSQL read replicas.
    pub replicas: Vec<String>,
    /// Connections in each read pool (the primary's, and each replica's); by default four per
    /// core, at least 8 and at most 32.
    pub read_pool_size: Option<u32>,
    /// A replica that has not replayed what the primary had written this long ago is treated as
    /// down: a call handler must not be told "not known" because a replica is behind.
    pub max_replica_lag: Duration,
}

/// The lag a replica may have by default.
pub const MAX_LAG: Duration = Duration::from_secs(5);

impl Default for Options {
    fn default() -> Options {
        Options { replicas: Vec::new(), read_pool_size: None, max_replica_lag: MAX_LAG }
    }
}

struct Replica {
    /// The URL without any password, safe to show.
    label: String,
    pool: PgPool,
    /// `UP`, or why it is down (`UNREACHABLE`, `LAGGING`): one value, read on every request.
    state: AtomicU8,
    reads: AtomicU64,
}

const UP: u8 = 0;
const UNREACHABLE: u8 = 1;
const LAGGING: u8 = 2;

impl Replica {
    fn up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    fn down_because(&self) -> Option<&'static str> {
        match self.state.load(Ordering::Relaxed) {
            UNREACHABLE => Some("unreachable"),
            LAGGING => Some("lagging"),
            _ => None,
        }
    }
}

/// What `/readyz` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub engine: Engine,
    pub schema_version: i64,
    /// `replicas` when read-only work is going to a replica, `primary` when it is not (no
    /// replica is configured, or none is up).
    pub reads_from: &'static str,
    /// Read-only requests served by the primary because no replica was up (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_reads: Option<u64>,
    pub replicas: Vec<ReplicaHealth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaHealth {
    pub url: String,
    pub up: bool,
    /// `unreachable` or `lagging`, when it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_because: Option<&'static str>,
    pub reads: u64,
}

fn cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32
}

/// A database URL fit to show in logs, errors and `/readyz`: a PostgreSQL URL without its
/// password or parameters (either could hold a secret); a SQLite URL as it is.
pub fn display_url(url: &str) -> String {
    if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return url.to_string();
    }
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "postgres://{}@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => "postgres://(unreadable URL)".to_string(),
    }
}

impl Pools {
    pub(crate) async fn connect(url: &str, options: &Options) -> Result<Pools> {
        if options.read_pool_size == Some(0) {
            return Err(StoreError::Other("the read pool needs at least one connection".into()));
        }
        if url.starts_with("sqlite:") {
            if !options.replicas.is_empty() {
                return Err(StoreError::Other("read replicas need PostgreSQL; SQLite is a single file".into()));
            }
            connect_sqlite(url, read_pool_size(options)).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            connect_pg(url, options).await
        } else {
            Err(StoreError::Other(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://USER@HOST:PORT/DB",
                url.split('@').next_back().unwrap_or(url)
            )))
        }
    }

    /// Tell SQLite's checkpointer a bulk load has begun or ended.
    pub(crate) fn set_bulk(&self, on: bool) {
        if let Pools::Sqlite { checkpoints, .. } = self {
            checkpoints.bulk.store(on, Ordering::Relaxed);
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self {
            Pools::Sqlite { .. } => Engine::Sqlite,
            Pools::Pg(_) => Engine::Postgres,
        }
    }

    pub(crate) fn has_replicas(&self) -> bool {
        matches!(self, Pools::Pg(pg) if !pg.replicas.is_empty())
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Pools::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?),
            Pools::Pg(pg) => Tx::Pg(pg.write.begin().await?),
        })
    }

    pub(crate) async fn current(&self) -> Result<Pooled> {
        Ok(match self {
            Pools::Sqlite { read, .. } => Pooled::Sqlite(read.acquire().await?),
            Pools::Pg(pg) => Pooled::Pg(pg.primary.acquire().await?),
        })
    }

    /// The connection consultations' audit events are written on.
    pub(crate) async fn audit(&self) -> Result<Pooled> {
        Ok(match self {
            Pools::Sqlite { write, .. } => Pooled::Sqlite(write.acquire().await?),
            Pools::Pg(pg) => Pooled::Pg(pg.audit.acquire().await?),
        })
    }

    /// The writer itself, for statements outside a transaction (SQLite pragmas, say).
    pub(crate) async fn writer(&self) -> Result<Pooled> {
        Ok(match self {
            Pools::Sqlite { write, .. } => Pooled::Sqlite(write.acquire().await?),
            Pools::Pg(pg) => Pooled::Pg(pg.write.acquire().await?),
        })
    }

    /// A connection for read-only work, and which replica it is on (`None`: the primary).
    pub(crate) async fn reader(&self) -> Result<(Pooled, Option<usize>)> {
        let pg = match self {
            Pools::Sqlite { read, .. } => return Ok((Pooled::Sqlite(read.acquire().await?), None)),
            Pools::Pg(pg) => pg,
        };
        let n = pg.replicas.len();
        let start = pg.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            let i = (start + k) % n;
            let r = &pg.replicas[i];
            if !r.up() {
                continue;
            }
            match r.pool.acquire().await {
                Ok(c) => {
                    r.reads.fetch_add(1, Ordering::Relaxed);
                    return Ok((Pooled::Pg(c), Some(i)));
                }
                Err(e) => self.lost(i, &e),
            }
        }
        if n > 0 {
            pg.primary_reads.fetch_add(1, Ordering::Relaxed);
        }
        Ok((Pooled::Pg(pg.primary.acquire().await?), None))
    }

    /// A reader, after one was found dropped by its server (see `first_answering`).
    pub(crate) async fn reader_after_loss(&self) -> Result<(Pooled, Option<usize>)> {
        first_answering(|| self.reader()).await
    }

    /// The audit writer, after one was found dropped by its server (see `first_answering`).
    pub(crate) async fn audit_after_loss(&self) -> Result<Pooled> {
        Ok(first_answering(|| async { Ok((self.audit().await?, ())) }).await?.0)
    }

    /// Replica `i` failed a connection or a query on a connection: no more reads go to it until
    /// the health check finds it answering again.
    pub(crate) fn lost(&self, i: usize, error: &dyn std::fmt::Display) {
        let Pools::Pg(pg) = self else { return };
        let Some(r) = pg.replicas.get(i) else { return };
        tracing::warn!(replica = %r.label, error = %error, "replica unavailable; reads go to the primary");
        r.state.store(UNREACHABLE, Ordering::Relaxed);
    }

    pub(crate) fn health(&self, schema_version: i64) -> Health {
        match self {
            Pools::Sqlite { .. } => Health {
                engine: Engine::Sqlite,
                schema_version,
                reads_from: "primary",
                primary_reads: None,
                replicas: Vec::new(),
            },
            Pools::Pg(pg) => {
                let replicas: Vec<ReplicaHealth> = pg
                    .replicas
                    .iter()
                    .map(|r| ReplicaHealth {
                        url: r.label.clone(),
                        up: r.up(),
                        down_because: r.down_because(),
                        reads: r.reads.load(Ordering::Relaxed),
                    })
                    .collect();
                Health {
                    engine: Engine::Postgres,
                    schema_version,
                    reads_from: if replicas.iter().any(|r| r.up) { "replicas" } else { "primary" },
                    primary_reads: (!replicas.is_empty()).then(|| pg.primary_reads.load(Ordering::Relaxed)),
                    replicas,
                }
            }
        }
    }

    pub(crate) async fn optimise(&self) -> Result<()> {
        match self {
            Pools::Sqlite { write, .. } => {
                sqlx::query("ANALYZE").execute(write).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(write).await?;
            }
            // VACUUM cannot run in a transaction, so it goes by the simple-query protocol.
            Pools::Pg(pg) => {
                sqlx::raw_sql("VACUUM (ANALYZE)").execute(&pg.write).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn close(&self) {
        match self {
            Pools::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Pools::Pg(pg) => {
                for r in &pg.replicas {
                    r.pool.close().await;
                }
                pg.primary.close().await;
                pg.audit.close().await;
                pg.write.close().await;
            }
        }
    }
}

/// A connection from `acquire` that answers a ping. A restart drops every connection, and the
/// pools do not ping before each use (see `connect_pg`), so after one was found dropped each is
/// pinged and the dead closed until one answers: at most the pool's size.
async fn first_answering<T, F, Fut>(mut acquire: F) -> Result<(Pooled, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(Pooled, T)>>,
{
    for _ in 0..MAX_POOL {
        let (mut c, extra) = acquire().await?;
        if c.answers().await {
            return Ok((c, extra));
        }
        c.close_on_drop();
    }
    acquire().await
}

/// The most connections a pool is given by default.
const MAX_POOL: u32 = 32;

fn read_pool_size(options: &Options) -> u32 {
    options.read_pool_size.unwrap_or_else(|| (cores() * 4).clamp(8, MAX_POOL))
}

async fn connect_sqlite(url: &str, read_pool_size: u32) -> Result<Pools> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory");
    // Checkpoints run in the background (below), not inside whichever request commits the
    // 1000th WAL page: that fsync was the tail of the first-contact latency.
    // An SQLite connection is a file handle, not a socket: nothing to ping before each use.
    // A WAL that grew (a bulk load, a long read) is cut back to 64 MiB when it next restarts.
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(stable_plans(conn)))
        .connect_with(options.clone().pragma("wal_autocheckpoint", "0").pragma("journal_size_limit", "67108864"))
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&write).await?;
    let checkpoints = Arc::new(Checkpoints::default());
    spawn_checkpointer(options.clone(), write.clone(), Arc::downgrade(&checkpoints));
    // Readers wait on SQLite and the page cache more than on the CPU: a few per core.
    let read = SqlitePoolOptions::new()
        .max_connections(read_pool_size)
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(stable_plans(conn)))
        .min_connections(cores().min(read_pool_size))
        .connect_with(options.read_only(true))
        .await?;
    Ok(Pools::Sqlite { write, read, checkpoints })
}

/// One plan per statement, whatever values are bound. SQLite as sqlx bundles it (with STAT4)
/// otherwise plans a statement on its bound values, and so prepares it again each time they
/// change: every statement of every check was parsed and planned anew. At 200 checks/s that was
/// 0.5–0.7 ms of an address check's 1.9–2.1 ms median. Plans then come from the indexes'
/// `sqlite_stat1` figures alone, with which each first-contact statement still reads the index
/// it was written for.
async fn stable_plans(conn: &mut sqlx::SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    match plan_stability(conn, 1).await? {
        1 => Ok(()),
        _ => Err(sqlx::Error::Configuration("SQLite refused stable query plans".into())),
    }
}

/// SQLite's query-planner stability guarantee on `conn`: `set` 1 turns it on, 0 off, -1 leaves
/// it; the setting after the call is returned.
async fn plan_stability(conn: &mut sqlx::SqliteConnection, set: c_int) -> std::result::Result<c_int, sqlx::Error> {
    use libsqlite3_sys::{sqlite3_db_config, SQLITE_DBCONFIG_ENABLE_QPSG};
    let mut handle = conn.lock_handle().await?;
    let mut now: c_int = -1;
    // SAFETY: this connection's open handle, locked for the call; the option takes an int and a
    // pointer to an int, into which it writes the setting.
    unsafe { sqlite3_db_config(handle.as_raw_handle().as_ptr(), SQLITE_DBCONFIG_ENABLE_QPSG, set, &mut now) };
    Ok(now)
}

/// The background checkpointer's state: alive while the pools are, and told of bulk loads.
#[derive(Default)]
pub(crate) struct Checkpoints {
    bulk: AtomicBool,
}

/// How long an SQLite connection waits for another's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The WAL is restarted once it holds this many frames (64 MiB of 4 KiB pages, the size it is
/// cut back to): each restart holds the writer while it copies the frames written since the last
/// checkpoint and syncs the database (up to 9 ms at 200 checks/s), so at 16 MiB it did that
/// every 5 s.
const RESTART_FROM_FRAMES: i64 = 16_384;

/// How often one tick asks for a restart while readers hold the WAL, a millisecond apart.
const RESTART_TRIES: u32 = 20;

/// Checkpoint the WAL every second, and keep it small under steady load.
///
/// SQLite starts the WAL from the beginning again only when a write begins after a checkpoint
/// has copied all of it and no reader holds a snapshot in it. Under steady load a write or a read
/// always comes between, so the WAL grew without end (4 MB/s at 200 checks/s), and a TRUNCATE at
/// 400 MB held every writer back for up to a second while it waited for readers.
///
/// So each second a PASSIVE checkpoint, from a connection of its own, copies the WAL into the
/// database and blocks nobody; then, if the WAL has grown past `RESTART_FROM_FRAMES`,
/// `restart_wal` asks for a RESTART without waiting. Not during a bulk load (`end_bulk`
/// truncates).
fn spawn_checkpointer(options: SqliteConnectOptions, write: SqlitePool, state: Weak<Checkpoints>) {
    tokio::spawn(async move {
        let Ok(mut conn) = options.connect().await else { return };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(bulk) = state.upgrade().map(|s| s.bulk.load(Ordering::Relaxed)) else { break };
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await {
                Ok((_, frames, _)) if frames > RESTART_FROM_FRAMES && !bulk => {
                    restart_wal(&write).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            }
        }
    });
}

/// Restart the WAL, on the pool's one writer: while it is held, the process's writes queue in
/// the pool (and wake as soon as it is back) rather than in SQLite's busy handler, which sleeps
/// in steps of up to 100 ms. With a busy timeout of 0 the RESTART copies the few frames written
/// since the PASSIVE checkpoint and either finds no reader in the WAL, and the next write starts
/// it afresh, or answers busy at once; then the writer is given back, and asked for again a
/// millisecond later. Returns whether the WAL was restarted.
async fn restart_wal(write: &SqlitePool) -> bool {
    for _ in 0..RESTART_TRIES {
        let Ok(mut w) = write.acquire().await else { return false };
        let restarted = async {
            sqlx::query("PRAGMA busy_timeout = 0").execute(&mut *w).await?;
            let (busy, _, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *w).await?;
            let restore = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
            sqlx::query(&restore).execute(&mut *w).await?;
            Ok::<_, sqlx::Error>(busy == 0)
        }
        .await;
        match restarted {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => {
                // Never back into the pool without its busy timeout.
                w.close_on_drop();
                tracing::warn!(error = %e, "WAL restart failed");
                return false;
            }
        }
        drop(w);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

/// Generic plans: every statement is prepared once per connection, and planning a custom plan
/// for each execution over a year-partitioned table cost more than running it (2 ms against
/// 0.6 ms for a place's history); partitions are still pruned when the statement starts.
fn pg_options(url: &str) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)?.application_name("asb").options([("plan_cache_mode", "force_generic_plan")]))
}

async fn connect_pg(url: &str, options: &Options) -> Result<Pools> {
    // PostgreSQL serves each connection with a process of its own (the default server allows
    // 100): readers as on SQLite, a few per core, and writers two per core.
    let size = read_pool_size(options);
    let write = PgPoolOptions::new()
        .max_connections(cores() * 2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(pg_options(url)?)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&write).await?;
    // No ping before each use on the pools every check uses (readers, audit): each ping is a
    // round trip, 0.15 ms of a 1.4 ms check. A connection the server dropped fails its
    // statement, which is run again on one that answers (`read_only!`, `Store::audit`); the
    // pool itself tests each connection as it comes back.
    let audit = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .connect_with(pg_options(url)?.options([("synchronous_commit", "off")]))
        .await?;
    let primary = PgPoolOptions::new()
        .max_connections(size)
        .min_connections(cores().min(size))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .connect_with(pg_options(url)?)
        .await?;
    // The migration made partitions through 2035; make sure next year's exists as time passes.
    let next_year = chrono::Datelike::year(&chrono::Utc::now()) + 1;
    if let Err(e) = sqlx::query("SELECT asb_incident_partition($1)").bind(next_year).execute(&write).await {
        tracing::warn!(error = %e, year = next_year, "could not create next year's incident partition");
    }
    let mut replicas = Vec::new();
    for u in &options.replicas {
        // Lazy, so a replica that is down at start-up does not stop the service starting.
        // A short wait: a refused connection is retried until the timeout, and every read
        // waits that long for the first failure before going to the primary. No ping before
        // each use: a connection the replica dropped fails its query, and the read is done
        // again on the primary (`read_only!`).
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_millis(500))
            .test_before_acquire(false)
            .connect_lazy_with(pg_options(u)?);
        replicas.push(Replica {
            label: display_url(u),
            pool,
            state: AtomicU8::new(UNREACHABLE),
            reads: AtomicU64::new(0),
        });
    }
    let pg = Arc::new(Pg {
        write,
        audit,
        primary,
        replicas,
        next: AtomicUsize::new(0),
        max_lag: options.max_replica_lag,
        primary_reads: AtomicU64::new(0),
        wal: Mutex::new(VecDeque::new()),
    });
    if !pg.replicas.is_empty() {
        check_replicas(&pg).await;
        spawn_replica_checker(Arc::downgrade(&pg));
    }
    Ok(Pools::Pg(pg))
}

/// A WAL position (`16/B374D848`) as a number.
fn lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Mark each replica up, or down when it does not answer within two seconds or has not yet
/// replayed what the primary had written `max_lag` ago.
async fn check_replicas(pg: &Pg) {
    let now = Instant::now();
    let current = sqlx::query_scalar::<_, String>("SELECT pg_current_wal_lsn()::text").fetch_one(&pg.primary).await;
    // The newest position at least max_lag old: every replica should have replayed it.
    let due = {
        let mut wal = pg.wal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = current.ok().as_deref().and_then(lsn) {
            wal.push_back((now, p));
        }
        while wal.len() > 1 && wal.get(1).is_some_and(|(t, _)| now.duration_since(*t) >= pg.max_lag) {
            wal.pop_front();
        }
        wal.front().filter(|(t, _)| now.duration_since(*t) >= pg.max_lag).map(|(_, p)| *p)
    };
    for r in &pg.replicas {
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query_scalar::<_, Option<String>>("SELECT pg_last_wal_replay_lsn()::text").fetch_one(&r.pool),
        )
        .await;
        let state = match answer {
            Ok(Ok(replayed)) => match (replayed.as_deref().and_then(lsn), due) {
                (Some(at), Some(due)) if at < due => LAGGING,
                // Not replaying (promoted, or not a replica at all): what it holds is current.
                _ => UP,
            },
            _ => UNREACHABLE,
        };
        let was = r.state.swap(state, Ordering::Relaxed);
        if (state == UP) != (was == UP) {
            if state == UP {
                tracing::info!(replica = %r.label, "replica up; read-only work goes to it");
            } else {
                tracing::warn!(replica = %r.label, why = r.down_because(), "replica down; its reads go to the primary");
            }
        }
    }
}

fn spawn_replica_checker(pg: Weak<Pg>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(pg) = pg.upgrade() else { return };
            check_replicas(&pg).await;
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn wal_positions_read_as_numbers() {
        assert_eq!(super::lsn("0/0"), Some(0));
        assert_eq!(super::lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert!(super::lsn("16/B374D848").unwrap() > super::lsn("15/FFFFFFFF").unwrap());
        assert_eq!(super::lsn("nonsense"), None);
    }

    /// Whether SQLite keeps one plan per statement on this connection.
    async fn stable(conn: &mut sqlx::SqliteConnection) -> bool {
        super::plan_stability(conn, -1).await.unwrap() == 1
    }

    /// SQLite pools on a new file in a temporary folder (kept while the pools are in use).
    async fn temp_sqlite(readers: u32) -> (tempfile::TempDir, super::Pools) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("asb.db").display());
        let pools = super::connect_sqlite(&url, readers).await.unwrap();
        (dir, pools)
    }

    /// Every connection the store opens plans a statement once, whatever values are later bound
    /// to it (a connection opened without the setting does not).
    #[tokio::test]
    async fn every_sqlite_connection_keeps_one_plan_per_statement() {
        use super::*;
        use sqlx::Connection;
        let (dir, pools) = temp_sqlite(3).await;
        let Pools::Sqlite { write, read, .. } = &pools else { unreachable!() };
        assert!(stable(&mut write.acquire().await.unwrap()).await, "the writer");
        let readers = [read.acquire().await.unwrap(), read.acquire().await.unwrap(), read.acquire().await.unwrap()];
        for mut r in readers {
            assert!(stable(&mut r).await, "a reader");
        }
        let url = format!("sqlite://{}", dir.path().join("asb.db").display());
        let mut plain = sqlx::SqliteConnection::connect(&url).await.unwrap();
        assert!(!stable(&mut plain).await, "SQLite's own default");
    }

    /// A restart never waits on a reader: while one holds a snapshot in the WAL it answers no at
    /// once (and writes go on, growing the WAL); once none does, it answers yes, and the next write
    /// starts the WAL from its beginning.
    #[tokio::test]
    async fn the_wal_restarts_when_no_reader_holds_it_and_never_waits_for_one() {
        use super::*;
        let (_dir, pools) = temp_sqlite(2).await;
        let Pools::Sqlite { write, read, .. } = &pools else { unreachable!() };
        let insert = |x: i64| async move {
            sqlx::query("INSERT INTO t VALUES ($1)").bind(x).execute(write).await.unwrap();
        };
        let frames = || async {
            let (_, frames, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(write).await.unwrap();
            frames
        };
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(write).await.unwrap();
        insert(0).await;
        // A reader whose snapshot is in the WAL, and writes after it.
        let mut reader = read.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *reader).await.unwrap();
        for x in 1..=50 {
            insert(x).await;
        }
        let asked = std::time::Instant::now();
        assert!(!restart_wal(write).await, "a reader holds a snapshot in the WAL");
        assert!(asked.elapsed() < Duration::from_secs(1), "each try answered at once: {:?}", asked.elapsed());
        insert(51).await;
        let grown = frames().await;
        assert!(grown > 50, "the WAL goes on growing while the reader holds it: {grown} frames");

        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        drop(reader);
        assert!(restart_wal(write).await);
        insert(52).await;
        let restarted = frames().await;
        assert!(restarted <= 2, "the write after the restart starts the WAL again: {restarted} frames");
        let kept: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(write).await.unwrap();
        assert_eq!(kept, 10_000, "the writer keeps its busy timeout");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(read).await.unwrap();
        assert_eq!(rows, 53);
    }

    #[test]
    fn urls_are_shown_without_secrets() {
        use super::display_url;
        assert_eq!(display_url("postgres://asb:s3cret@db.example:6543/asb"), "postgres://asb@db.example:6543/asb");
        assert_eq!(
            display_url("postgres://asb@db/asb?password=s3cret&sslmode=verify-full"),
            "postgres://asb@db:5432/asb"
        );
        assert_eq!(display_url("sqlite://asb-data/asb.db"), "sqlite://asb-data/asb.db");
    }
}
