//! The commands outside tools and operators rely on, run as the binary: `asb migrate-data` and
//! `asb audit verify`. With ASB_TEST_DATABASE_URL naming a PostgreSQL server the copy goes into a
//! new database there (which `migrate-data` creates); otherwise into another SQLite file.

use sqlx::Connection;
use std::process::{Command, Output};

fn asb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asb"))
        .args(args)
        .env_remove("ASB_DATABASE_URL")
        .env_remove("ASB_DATA_DIR")
        .env("ASB_LOG", "error")
        .output()
        .expect("asb runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn migrate_data_copies_a_deployment_and_audit_verify_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", dir.path().join("source.db").display());
    let target = match std::env::var("ASB_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            asb_store::scratch::with_database(&server, &format!("asb_test_cli_{}", std::process::id()))
        }
        _ => format!("sqlite://{}", dir.path().join("target.db").display()),
    };

    let out = asb(&["generate", "--database", &source, "--people", "300", "--incidents", "900", "--seed", "3"]);
    assert!(out.status.success(), "generate: {}", text(&out.stderr));
    // Issuing a token writes an audit event, so the chain has something in it.
    let out = asb(&["token", "issue", "--user", "callhandler", "--database", &source]);
    assert!(out.status.success(), "token: {}", text(&out.stderr));

    let out = asb(&["migrate-data", "--from", &source, "--to", &target, "--json"]);
    assert!(out.status.success(), "migrate-data: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    let rows = |table: &str| {
        report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()["rows"].as_i64().unwrap()
    };
    assert_eq!((rows("people"), rows("incidents"), rows("contacts")), (300, 900, 900));
    assert_eq!(report["audit_chain"]["events"], 1, "{report}");

    // A target that already holds data is refused, and named.
    let out = asb(&["migrate-data", "--from", &source, "--to", &target]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not empty"), "{}", text(&out.stderr));

    let out = asb(&["audit", "verify", "--database", &target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("audit chain intact: 1 events"), "{}", text(&out.stdout));

    // Alter the only event in the source: verify exits non-zero and names it.
    let mut c = sqlx::SqliteConnection::connect(&source).await.unwrap();
    sqlx::query("UPDATE audit_events SET purpose = 'nothing happened' WHERE id = 1").execute(&mut c).await.unwrap();
    c.close().await.unwrap();
    let out = asb(&["audit", "verify", "--database", &source]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("audit event 1: altered"), "{}", text(&out.stderr));
}

fn asb_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_asb"))
        .args(args)
        .env_remove("ASB_DATABASE_URL")
        .env_remove("ASB_DATA_DIR")
        .env("ASB_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("asb runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn administrators_manage_users_and_roles_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = match std::env::var("ASB_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            asb_store::scratch::with_database(&server, &format!("asb_test_users_{}", std::process::id()))
        }
        _ => format!("sqlite://{}", dir.path().join("users.db").display()),
    };
    let out = asb(&["migrate", "--database", &db]);
    assert!(out.status.success(), "migrate: {}", text(&out.stderr));

    let add = ["user", "add", "--username", "sgt.khan", "--display-name", "Sergeant Khan", "--organisation"];
    let out = asb_with_stdin(
        &[&add[..], &["MPS-E09000007", "--role", "sergeant", "--password-stdin", "--database", &db]].concat(),
        "a long enough passphrase\n",
    );
    assert!(out.status.success(), "user add: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("roles sergeant"), "{}", text(&out.stdout));

    // Bad input is named and nothing is written.
    let out = asb(&[&add[..], &["MPS", "--role", "superuser", "--database", &db]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("'superuser' is not a role"), "{}", text(&out.stderr));
    let out = asb_with_stdin(&[&add[..], &["MPS", "--password-stdin", "--database", &db]].concat(), "short\n");
    assert!(text(&out.stderr).contains("at least 12 characters"), "{}", text(&out.stderr));
    let out = asb(&[&add[..], &["Nowhere", "--database", &db]].concat());
    assert!(text(&out.stderr).contains("'Nowhere' is not an organisation"), "{}", text(&out.stderr));

    let out = asb(&["user", "set", "sgt.khan", "--role", "sergeant", "--role", "inspector", "--database", &db]);
    assert!(out.status.success(), "user set: {}", text(&out.stderr));
    let out = asb(&["user", "set", "sgt.khan", "--disable", "--database", &db]);
    assert!(text(&out.stdout).contains("disabled"), "{}", text(&out.stdout));
    let out = asb(&["user", "list", "--database", &db]);
    let line = text(&out.stdout).lines().find(|l| l.starts_with("sgt.khan")).unwrap_or_default().to_string();
    assert!(line.contains("disabled") && line.contains("sergeant,inspector"), "{}", text(&out.stdout));

    let out = asb(&["user", "second-factor", "sgt.khan", "--database", &db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("otpauth://totp/asb:sgt.khan"), "{}", text(&out.stdout));
    let out = asb(&["user", "list", "--database", &db]);
    assert!(
        text(&out.stdout).lines().any(|l| l.starts_with("sgt.khan") && l.contains(" yes ")),
        "{}",
        text(&out.stdout)
    );
    // Every change is in the audit trail, which is intact.
    let out = asb(&["audit", "verify", "--database", &db]);
    assert!(text(&out.stdout).starts_with("audit chain intact: 4 events"), "{}", text(&out.stdout));
}
