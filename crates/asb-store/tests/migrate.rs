//! Moving a deployment between engines (`asb migrate-data`) and the audit chain that proves
//! nothing was altered on the way. With ASB_TEST_DATABASE_URL naming a PostgreSQL server the copy
//! goes SQLite → PostgreSQL → SQLite; without it, SQLite → SQLite → SQLite.

use asb_domain::contact::{CheckInput, ContactInput};
use asb_domain::Policies;
use asb_store::scratch::fresh_url;
use asb_store::Store;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::Connection;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

fn contact(name: &str, phone: &str, days_ago: i64, subject: Option<&str>) -> asb_domain::ValidContact {
    let input: ContactInput = serde_json::from_value(json!({
        "channel": "phone_101",
        "caller": {"name": name, "phone": phone, "date_of_birth": "1980-03-04"}, "caller_is_victim": true,
        "location": {"address": "7 Elm Row", "postcode": "NW3 1SY", "lat": 51.5563, "lon": -0.1780},
        "narrative": "Shouting and threats on the landing.\nSaid \"you will regret it\" \\ left at 3am\tthen back", "category": "personal", "type_code": 204,
        "received_at": (now() - Duration::days(days_ago)).to_rfc3339(),
        "subjects": subject.map(|s| json!([{"name": s}])).unwrap_or(json!([])),
        "risk_answers": {"happened_before": true, "threats_or_violence": days_ago < 10}
    }))
    .unwrap();
    input.validate(&Policies::defaults().risk, now()).unwrap()
}

/// A store with history from two callers, a named subject, a token and checks: every table and
/// every kind of audit event has rows.
async fn populated(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.seed_organisations().await.unwrap();
    let user = store.ensure_user("handler", "Handler", "MPS", &["call_handler"], None).await.unwrap();
    store.issue_token("handler", "api", None).await.unwrap();
    let p = Policies::defaults();
    for (i, days) in [200, 60, 20, 3].into_iter().enumerate() {
        let (name, phone) = if i % 2 == 0 { ("Grace Hopper", "07700 900321") } else { ("Alan Turing", "07700 900654") };
        let subject = (i > 1).then_some("Jay Doe");
        store.record_contact(&p, now(), &contact(name, phone, days, subject), Some(user.id)).await.unwrap();
    }
    store.first_contact_check(&p, now(), &check(), Some(user.id)).await.unwrap();
    store
}

fn check() -> asb_domain::contact::ValidCheck {
    CheckInput {
        phone: Some("07700900321".into()),
        address: Some("7 Elm Row".into()),
        postcode: Some("NW3 1SY".into()),
        subject: Some("Jay Doe".into()),
        ..Default::default()
    }
    .validate(now().date_naive())
    .unwrap()
}

/// What a call handler would be shown, without the moment it was asked.
async fn answers(store: &Store) -> serde_json::Value {
    let r = store.first_contact_check(&Policies::defaults(), now(), &check(), None).await.unwrap();
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("checked_at");
    v
}

async fn raw(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}

#[tokio::test]
async fn a_deployment_moves_between_engines_and_back_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let source_url = format!("sqlite://{}", dir.path().join("source.db").display());
    let source = populated(&source_url).await;
    let before = answers(&source).await;
    assert!(before["repeat_victim"]["flag"].as_bool().unwrap(), "the fixture has a repeat victim");

    let middle = Store::connect(&fresh_url(dir.path(), "middle").await.unwrap()).await.unwrap();
    let back = Store::connect(&format!("sqlite://{}", dir.path().join("back.db").display())).await.unwrap();
    let mut pages = 0;
    let there = source.copy_into(&middle, &mut |_, _| pages += 1).await.unwrap();
    let home = middle.copy_into(&back, &mut |_, _| {}).await.unwrap();
    assert!(pages >= there.tables.iter().filter(|t| t.rows > 0).count());

    // Every table arrives whole, and the audit chain holds and ends at the same hash.
    let chain = source.verify_audit_chain().await.unwrap().unwrap();
    assert!(chain.events >= 7, "collections, a token and a consultation: {chain:?}");
    for (report, store) in [(&there, &middle), (&home, &back)] {
        assert_eq!(report.audit_chain, chain);
        assert_eq!(store.verify_audit_chain().await.unwrap().unwrap(), chain);
        assert_eq!(store.counts().await.unwrap(), source.counts().await.unwrap());
        let rows = |name: &str| report.tables.iter().find(|t| t.table == name).unwrap().rows;
        assert_eq!((rows("incidents"), rows("incident_people"), rows("audit_events")), (4, 6, chain.events));
    }

    // The same check gives the same answers on every copy, and every incident reads the same
    // (narratives with tabs, newlines and backslashes, risk answers, verdicts, times)…
    for store in [&source, &middle, &back] {
        assert_eq!(answers(store).await, before);
    }
    for n in 1..=4 {
        let reference = asb_domain::IncidentRef::new(2026, n).to_string();
        let read = |s: &Store| {
            let (s, r) = (s.clone(), reference.clone());
            async move { serde_json::to_value(s.incident(&r, None, "test").await.unwrap()).unwrap() }
        };
        let original = read(&source).await;
        assert!(original["narrative"].as_str().unwrap().contains("\\ left at 3am\tthen"), "{original}");
        assert_eq!(read(&middle).await, original);
        assert_eq!(read(&back).await, original);
    }
    // …and recording carries on where the source left off: the next reference, the same person.
    let p = Policies::defaults();
    let next = contact("Grace Hopper", "07700 900321", 0, None);
    let expected = source.record_contact(&p, now(), &next, None).await.unwrap();
    for store in [&middle, &back] {
        let got = store.record_contact(&p, now(), &next, None).await.unwrap();
        assert_eq!(
            (&got.reference, got.person_id, got.place_id, &got.qualifiers),
            (&expected.reference, expected.person_id, expected.place_id, &expected.qualifiers)
        );
        assert_eq!(
            serde_json::to_value(&got.repeat_victim).unwrap(),
            serde_json::to_value(&expected.repeat_victim).unwrap()
        );
    }
}

#[tokio::test]
async fn migrate_data_refuses_a_target_that_is_not_empty_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let source = populated(&format!("sqlite://{}", dir.path().join("source.db").display())).await;
    let target = populated(&fresh_url(dir.path(), "target").await.unwrap()).await;
    let before = target.counts().await.unwrap();
    let err = source.copy_into(&target, &mut |_, _| {}).await.unwrap_err().to_string();
    assert!(err.contains("not empty") && err.contains("organisations"), "{err}");
    assert_eq!(target.counts().await.unwrap(), before);
    // A target with only organisations is still not empty.
    let seeded = Store::connect(&fresh_url(dir.path(), "seeded").await.unwrap()).await.unwrap();
    seeded.seed_organisations().await.unwrap();
    assert!(source.copy_into(&seeded, &mut |_, _| {}).await.is_err());
    assert_eq!(seeded.counts().await.unwrap().incidents, 0);
}

/// A populated store's URL and its intact chain's length.
async fn chained(dir: &std::path::Path, name: &str) -> (String, Store, i64) {
    let url = fresh_url(dir, name).await.unwrap();
    let store = populated(&url).await;
    let events = store.verify_audit_chain().await.unwrap().expect("intact before tampering").events;
    (url, store, events)
}

#[tokio::test]
async fn the_audit_chain_names_the_first_event_altered_removed_or_reordered() {
    let dir = tempfile::tempdir().unwrap();

    let (url, store, _) = chained(dir.path(), "altered").await;
    raw(&url, "UPDATE audit_events SET purpose = 'nothing to see' WHERE id = 3").await;
    let broken = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert_eq!(broken.event, 3, "{broken}");
    assert!(broken.reason.contains("altered"), "{broken}");

    let (url, store, _) = chained(dir.path(), "removed").await;
    raw(&url, "DELETE FROM audit_events WHERE id = 2").await;
    let broken = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert_eq!(broken.event, 2, "{broken}");
    assert!(broken.reason.contains("missing"), "{broken}");

    let (url, store, _) = chained(dir.path(), "reordered").await;
    raw(&url, "UPDATE audit_events SET id = -1 WHERE id = 4").await;
    raw(&url, "UPDATE audit_events SET id = 4 WHERE id = 5").await;
    raw(&url, "UPDATE audit_events SET id = 5 WHERE id = -1").await;
    assert_eq!(store.verify_audit_chain().await.unwrap().unwrap_err().event, 4);

    // Removing the newest events leaves a chain that is intact as far as it goes: the head,
    // which counts every event written, says some are missing.
    let (url, store, events) = chained(dir.path(), "truncated").await;
    raw(&url, &format!("DELETE FROM audit_events WHERE id = {events}")).await;
    let broken = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert_eq!(broken.event, events, "{broken}");
    assert!(broken.reason.contains("missing"), "{broken}");
}

#[tokio::test]
async fn two_instances_on_one_database_keep_one_chain() {
    // Each instance caches the chain's head; an event from the other moves it, and the next
    // append finds that out, re-reads the head and carries on from there.
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_url(dir.path(), "shared").await.unwrap();
    let (a, b) = (populated(&url).await, Store::connect(&url).await.unwrap());
    let before = a.verify_audit_chain().await.unwrap().unwrap().events;
    let event = |n: i64| asb_store::AuditEvent::new(None, "consultation", "search", None, &format!("check {n}"));
    let mut writes = Vec::new();
    for n in 0..40 {
        let store = if n % 3 == 0 { b.clone() } else { a.clone() };
        writes.push(tokio::spawn(async move { store.audit(&event(n)).await }));
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let p = Policies::defaults();
    b.record_contact(&p, now(), &contact("Grace Hopper", "07700 900321", 0, None), None).await.unwrap();
    a.audit(&event(99)).await.unwrap();
    let chain = b.verify_audit_chain().await.unwrap().expect("one unbroken chain");
    assert_eq!(chain.events, before + 42);
}

#[tokio::test]
async fn a_source_whose_audit_chain_is_broken_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("source.db").display());
    let source = populated(&url).await;
    raw(&url, "UPDATE audit_events SET purpose = 'nothing to see' WHERE id = 2").await;
    let target = Store::connect(&fresh_url(dir.path(), "target").await.unwrap()).await.unwrap();
    let err = source.copy_into(&target, &mut |_, _| {}).await.unwrap_err().to_string();
    assert!(err.contains("audit chain is broken") && err.contains("audit event 2"), "{err}");
    assert_eq!(target.counts().await.unwrap().organisations, 0, "nothing copied");
}

#[tokio::test]
async fn a_database_url_of_another_kind_is_refused_by_name() {
    let err = Store::connect("mysql://asb:secret@db/asb").await.err().expect("refused").to_string();
    assert!(err.contains("use sqlite://PATH or postgres://USER@HOST:PORT/DB"), "{err}");
    assert!(!err.contains("secret"), "no password in the message: {err}");
}
