//! A real streaming replica (pg_basebackup -R) of the test server: first-contact checks are
//! served from it while it is up, and from the primary, with /readyz saying so, once it stops.
//!
//! Needs what `scripts/test` (via `scripts/pg-throwaway`) provides: `ASB_TEST_DATABASE_URL`
//! naming a PostgreSQL server that allows replication from 127.0.0.1, `ASB_TEST_PG_BIN` (its
//! bin folder), `ASB_TEST_PG_RUNAS` (who runs server programs; empty for yourself) and
//! `ASB_TEST_PG_TMP` (a folder that user can write in). Skipped on SQLite, unless
//! `ASB_REQUIRE_POSTGRES=1`.

mod common;

use asb_store::scratch::fresh_url;
use asb_store::{Options, Store};
use chrono::Duration as Days;
use common::{contact, t0, TestApp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How far behind the replica may fall in this test before its reads go to the primary.
const MAX_LAG: Duration = Duration::from_secs(3);

const PHONE: &str = "07700 900777";
const CHECK: &str = "/api/v1/first-contact-check?phone=07700900777";
/// How long any one wait may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// The PostgreSQL programs, and who runs them (initdb/postgres refuse root).
struct PgTools {
    bin: PathBuf,
    runas: Option<String>,
}

impl PgTools {
    fn from_env() -> PgTools {
        let bin = std::env::var("ASB_TEST_PG_BIN").map(PathBuf::from).unwrap_or_else(|_| {
            let out = Command::new("pg_config")
                .arg("--bindir")
                .output()
                .expect("ASB_TEST_PG_BIN is not set and there is no pg_config");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        });
        let runas = match std::env::var("ASB_TEST_PG_RUNAS") {
            Ok(user) => Some(user).filter(|u| !u.is_empty()),
            // Not set: `postgres` when we are root, as scripts/pg-throwaway decides.
            Err(_) => {
                let uid = Command::new("id").arg("-u").output().expect("id -u");
                (String::from_utf8_lossy(&uid.stdout).trim() == "0").then(|| "postgres".to_string())
            }
        };
        PgTools { bin, runas }
    }

    /// A program, run as the user that runs the server.
    fn as_user(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.runas {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// A server program (pg_ctl, pg_basebackup), run as that user.
    fn server_cmd(&self, program: &str) -> Command {
        self.as_user(self.bin.join(program))
    }

    /// SQL on `url`; the output unaligned, without headers.
    fn psql(&self, url: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

fn check(what: &str, out: std::io::Result<Output>) {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A standby server in a folder of its own. Dropping it stops it and deletes the folder.
struct Replica<'a> {
    tools: &'a PgTools,
    dir: PathBuf,
    port: u16,
}

impl Replica<'_> {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Copy the primary server (`server_url`) with pg_basebackup, and start the copy as a
    /// streaming standby on a free port of its own.
    fn start<'a>(tools: &'a PgTools, server_url: &str, under: &Path) -> Replica<'a> {
        let dir = under.join(format!("replica-{}", unique()));
        let mut replica = Replica { tools, dir, port: 0 };
        let sock = replica.dir.join("sock");
        check("mkdir", tools.as_user("mkdir").arg("-p").arg(&sock).output());
        // -R writes primary_conninfo and standby.signal; -c fast: no waiting for a checkpoint.
        check(
            "pg_basebackup",
            tools
                .server_cmd("pg_basebackup")
                .args(["-d", server_url, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-D"])
                .arg(replica.data())
                .output(),
        );
        // A hot standby allows at least as many connections as its primary.
        let max_connections = tools.psql(server_url, "SHOW max_connections").expect("SHOW max_connections");
        // Another process may take the port between our asking and the server binding it.
        for attempt in 1..=5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c hot_standby=on -c max_connections={max_connections}",
                sock.display()
            );
            let out = tools
                .server_cmd("pg_ctl")
                .arg("-D")
                .arg(replica.data())
                .arg("-l")
                .arg(replica.dir.join("server.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .output()
                .expect("pg_ctl start");
            if out.status.success() {
                replica.port = port;
                return replica;
            }
            let log = std::fs::read_to_string(replica.dir.join("server.log")).unwrap_or_default();
            assert!(attempt < 5 && log.contains("already in use"), "the replica did not start:\n{log}");
        }
        unreachable!()
    }

    /// Stop at once, as a crash would.
    fn stop(&self) {
        check("pg_ctl stop", self.stop_cmd().output());
    }

    fn stop_cmd(&self) -> Command {
        let mut c = self.tools.server_cmd("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        c
    }
}

impl Drop for Replica<'_> {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self.stop_cmd().output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A folder the server's user can write in: ASB_TEST_PG_TMP, else a temporary one of our own.
fn scratch_dir(tools: &PgTools) -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(dir) = std::env::var_os("ASB_TEST_PG_TMP").filter(|d| !d.is_empty()) {
        return (PathBuf::from(dir), None);
    }
    let dir = tempfile::tempdir().unwrap();
    if let Some(user) = &tools.runas {
        check("chown", Command::new("chown").arg(format!("{user}:")).arg(dir.path()).output());
    }
    (dir.path().to_path_buf(), Some(dir))
}

/// A name no other test run uses.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// Ask `probe` until it says yes, for up to PATIENCE.
async fn wait_until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = probe().await;
        if last == Ok(true) {
            return;
        }
        assert!(Instant::now() < deadline, "gave up after {PATIENCE:?} waiting for {what}; last: {last:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many earlier reports the check found for the caller.
async fn reports_seen(app: &TestApp) -> i64 {
    let (status, c) = app.get(CHECK).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["people"].as_array().map(Vec::len), Some(1), "{c}");
    c["people"][0]["history"]["total"].as_i64().unwrap_or_else(|| panic!("no history total: {c}"))
}

async fn readyz(app: &TestApp) -> Value {
    reqwest::get(format!("{}/readyz", app.url)).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_come_from_a_streaming_replica_and_fall_back_to_the_primary_when_it_stops() {
    let server = std::env::var("ASB_TEST_DATABASE_URL").unwrap_or_default();
    if !server.starts_with("postgres:") && !server.starts_with("postgresql:") {
        let required = std::env::var("ASB_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        assert!(!required, "ASB_REQUIRE_POSTGRES=1 but ASB_TEST_DATABASE_URL names no PostgreSQL server");
        eprintln!("SKIPPED: a replica needs PostgreSQL (set ASB_TEST_DATABASE_URL to a server, or run scripts/test)");
        return;
    }
    let tools = PgTools::from_env();
    let primary = fresh_url(&std::env::temp_dir(), "replica").await.unwrap();

    // The database, migrated, with the organisations and the API user, before the copy: the
    // replica starts with them.
    let store = Store::connect(&primary).await.unwrap();
    store.seed_organisations().await.unwrap();
    store.ensure_user("handler", "Test handler", "MPS", &["call_handler"], None).await.unwrap();
    store.close().await;

    let (under, _scratch) = scratch_dir(&tools);
    let replica = Replica::start(&tools, &server, &under);
    let replica_url = on_local_port(&primary, replica.port);

    // It accepts connections once it has reached a consistent state.
    wait_until("the replica to accept connections", || async {
        tools.psql(&replica_url, "SELECT pg_is_in_recovery()").map(|r| r == "t")
    })
    .await;

    // A replica 3 s behind counts as down (`--replica-max-lag 3`; the default is 5 s).
    let options = Options { replicas: vec![replica_url.clone()], max_replica_lag: MAX_LAG, ..Options::default() };
    let store = Store::connect_with(&primary, &options).await.unwrap();
    let app = TestApp::start_with(store).await;
    let r: Value = readyz(&app).await;
    assert_eq!(r["reads_from"], "replicas", "{r}");
    assert_eq!(r["replicas"][0]["up"], true, "{r}");

    // The first report, on the primary; the check reads it from the replica once replayed.
    let (status, first) = app.post_contact(&contact("Maya Okafor", PHONE)).await;
    assert_eq!(status, 201, "{first}");
    let sql = format!("SELECT count(*) FROM incidents WHERE reference = '{}'", first["reference"].as_str().unwrap());
    wait_until("the replica to replay the first report", || async { tools.psql(&replica_url, &sql).map(|n| n == "1") })
        .await;
    let before = readyz(&app).await["replicas"][0]["reads"].as_u64().unwrap();
    assert_eq!(reports_seen(&app).await, 1);
    let r = readyz(&app).await;
    assert_eq!(r["reads_from"], "replicas", "{r}");
    assert_eq!(r["replicas"][0]["up"], true, "{r}");
    assert!(r["replicas"][0]["reads"].as_u64().unwrap() > before, "the check did not read from the replica: {r}");

    // Proof the answer comes from the replica: with its replay paused, a second report is on the
    // primary but not yet in the check (for now: a replica more than MAX_LAG behind counts as down).
    tools.psql(&replica_url, "SELECT pg_wal_replay_pause()").unwrap();
    wait_until("the replica's replay to pause", || async {
        tools.psql(&replica_url, "SELECT pg_get_wal_replay_pause_state()").map(|s| s == "paused")
    })
    .await;
    app.set_now(t0() + Days::days(2));
    let (status, second) = app.post_contact(&contact("Maya Okafor", PHONE)).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(tools.psql(&primary, "SELECT count(*) FROM incidents").unwrap(), "2", "the primary has both reports");
    let seen = reports_seen(&app).await;
    assert_eq!(seen, 1, "the paused replica should answer with the first report only: {}", readyz(&app).await);

    // Left behind for more than MAX_LAG, the replica counts as down ("lagging") and the check reads
    // the primary: a call handler is not told a caller is new because a replica is behind.
    wait_until("/readyz to show the paused replica lagging", || async {
        Ok(readyz(&app).await["replicas"][0]["down_because"] == "lagging")
    })
    .await;
    assert_eq!(reports_seen(&app).await, 2, "a lagging replica's reads go to the primary");
    assert_eq!(readyz(&app).await["reads_from"], "primary");
    tools.psql(&replica_url, "SELECT pg_wal_replay_resume()").unwrap();
    wait_until("the replica to catch up and count as up again", || async {
        Ok(readyz(&app).await["replicas"][0]["up"] == true)
    })
    .await;
    let before = readyz(&app).await["replicas"][0]["reads"].as_u64().unwrap();
    assert_eq!(reports_seen(&app).await, 2, "caught up, the replica has both reports");
    assert!(readyz(&app).await["replicas"][0]["reads"].as_u64().unwrap() > before, "reads went back to the replica");

    // The replica drops every connection asb holds to it (as a restart would): the next check's
    // query fails on the replica and is done again on the primary, so the caller sees no error;
    // the replica is marked down, then found answering and used again.
    let dropped = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'asb'";
    let primary_reads = readyz(&app).await["primary_reads"].as_u64().unwrap();
    assert_ne!(tools.psql(&replica_url, dropped).unwrap(), "0", "asb had connections to the replica");
    assert_eq!(reports_seen(&app).await, 2, "a check whose replica connection was dropped is retried");
    let r = readyz(&app).await;
    assert!(r["primary_reads"].as_u64().unwrap() > primary_reads, "the retry went to the primary: {r}");
    wait_until("the replica to serve reads again after dropping asb's connections", || async {
        let before = readyz(&app).await["replicas"][0]["reads"].as_u64().unwrap();
        Ok(reports_seen(&app).await == 2 && readyz(&app).await["replicas"][0]["reads"].as_u64().unwrap() > before)
    })
    .await;

    // The replica goes away: checks still answer, in full, from the primary.
    replica.stop();
    for _ in 0..3 {
        assert_eq!(reports_seen(&app).await, 2);
    }
    wait_until("/readyz to show the replica down", || async {
        let r = readyz(&app).await;
        Ok(r["replicas"][0]["up"] == false)
    })
    .await;
    assert_eq!(reports_seen(&app).await, 2);
    let r = readyz(&app).await;
    assert_eq!(r["status"], "ready", "{r}");
    assert_eq!(r["reads_from"], "primary", "{r}");
    assert_eq!(r["replicas"][0]["down_because"], "unreachable", "{r}");
    assert!(r["primary_reads"].as_u64().unwrap() > 0, "reads should have gone to the primary: {r}");
}

/// The server URL with 127.0.0.1:`port` (where the replica listens) for its host and port.
fn on_local_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let user = rest[..end].rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{user}127.0.0.1:{port}{}", &rest[end..])
}
