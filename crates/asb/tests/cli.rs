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
