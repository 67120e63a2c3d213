//! The Store API, written against the API only so the same tests run on every engine
//! (ASB_TEST_DATABASE_URL names a PostgreSQL server to run them there; the default is SQLite).

use asb_domain::contact::{CheckInput, ContactInput};
use asb_domain::Policies;
use asb_store::{Batch, IncidentRow, PersonRow, Store, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // ASB_TEST_DATABASE_URL (a PostgreSQL server) runs the same tests on that engine.
    let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
    store.seed_organisations().await.unwrap();
    (store, dir)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

fn contact(org: Option<&str>) -> asb_domain::ValidContact {
    let input: ContactInput = serde_json::from_value(json!({
        "channel": "phone_101", "organisation": org,
        "caller": {"name": "Ada Lovelace", "phone": "020 7946 0001"}, "caller_is_victim": true,
        "location": {"address": "1 Test Street", "postcode": "N1 9GU"}, "narrative": "Noise",
        "category": "nuisance", "type_code": 211, "risk_answers": {}
    }))
    .unwrap();
    input.validate(&Policies::defaults().risk, now()).unwrap()
}

#[tokio::test]
async fn seeding_is_idempotent_and_holds_the_force_its_boroughs_and_partners() {
    let (store, _d) = store().await;
    store.seed_organisations().await.unwrap();
    let orgs = store.organisations().await.unwrap();
    assert_eq!(orgs.iter().filter(|o| o.kind == "force").count(), 1);
    assert_eq!(orgs.iter().filter(|o| o.kind == "borough").count(), 32);
    assert_eq!(orgs.iter().filter(|o| o.kind == "council").count(), 32);
    // Each borough has its neighbourhood team, under it.
    let camden = orgs.iter().find(|o| o.code == "MPS-E09000007").unwrap();
    let teams: Vec<_> = orgs.iter().filter(|o| o.kind == "neighbourhood_team").collect();
    assert_eq!(teams.len(), 32);
    assert!(teams.iter().any(|t| t.code == "MPS-E09000007-SNT" && t.parent_id == Some(camden.id)));
    assert!(store.schema_version().await.unwrap() >= 1);
}

#[tokio::test]
async fn a_failed_recording_writes_nothing() {
    let (store, _d) = store().await;
    let before = store.counts().await.unwrap();
    let err =
        store.record_contact(&Policies::defaults(), now(), &contact(Some("NO-SUCH-ORG")), None).await.unwrap_err();
    match err {
        StoreError::Invalid(e) => assert_eq!(e[0].field, "organisation"),
        other => panic!("{other}"),
    }
    assert_eq!(store.counts().await.unwrap(), before);
}

#[tokio::test]
async fn references_are_sequential_within_the_year_and_readable() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let a = store.record_contact(&p, now(), &contact(None), None).await.unwrap();
    let b = store.record_contact(&p, now(), &contact(Some("mps")), None).await.unwrap();
    let (ra, rb): (asb_domain::IncidentRef, asb_domain::IncidentRef) =
        (a.reference.parse().unwrap(), b.reference.parse().unwrap());
    assert_eq!((ra.sequence(), rb.sequence()), (1, 2));
    assert_eq!(a.person_id, b.person_id, "same phone, same person");
    assert_eq!(a.place_id, b.place_id, "same address, same place");
    let c = store.counts().await.unwrap();
    assert_eq!((c.incidents, c.contacts, c.people, c.places), (2, 2, 1, 1));
}

#[tokio::test]
async fn bulk_loaded_history_is_found_by_the_check() {
    let (store, _d) = store().await;
    let ids = store.organisation_ids().await.unwrap();
    let council = ids.iter().find(|(c, _)| c == "LBC-E09000019").unwrap().1;
    let name = asb_domain::matching::PersonName::parse("Kwame Mensah").unwrap();
    let batch = Batch {
        places: vec![],
        people: vec![PersonRow {
            id: 1,
            name: Some(name.display().into()),
            name_norm: Some(name.normalised().into()),
            name_key: Some(name.phonetic_key().into()),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1960, 1, 2),
            phone: Some("+447700900900".into()),
            address: None,
            postcode: None,
            home_place_id: None,
            created_at: 0,
        }],
        incidents: (1..=2)
            .map(|i| IncidentRow {
                id: i,
                reference: asb_domain::IncidentRef::new(2026, i as u64).to_string(),
                organisation_id: council,
                received_at: (now() - chrono::Duration::days(10 * i)).timestamp(),
                place_id: None,
                category: "personal".into(),
                type_code: 204,
                narrative: "Loud arguments".into(),
                status: "open".into(),
                risk_score: Some(9),
                risk_level: Some("medium".into()),
                risk_questionnaire: Some("risk-questionnaire@1".into()),
                qualifiers: vec![635],
                people: vec![(1, "victim")],
                channel: "phone_101",
                contact_person: Some(1),
                closing: None,
            })
            .collect(),
        ..Default::default()
    };
    store.load_batch(&batch).await.unwrap();
    let check =
        CheckInput { name: Some("kwame mensa".into()), date_of_birth: Some("02/01/1960".into()), ..Default::default() }
            .validate(now().date_naive())
            .unwrap();
    let r = store.first_contact_check(&Policies::defaults(), now(), &check, None).await.unwrap();
    assert_eq!(r.people.len(), 1);
    assert_eq!(r.people[0].matched_on, vec!["similar-sounding name and same date of birth"]);
    assert_eq!(r.people[0].history.by_partners, 2);
    assert!(r.repeat_victim.flag && r.vulnerable.flag);
    assert_eq!(r.case_review.qualifying_complaints, 2);
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_can_be_revoked() {
    let (store, _d) = store().await;
    store.ensure_user("u1", "User One", "MPS", &["call_handler"], None).await.unwrap();
    let t = store.issue_token("u1", "api", None).await.unwrap();
    assert_eq!(store.user_for_token(&t).await.unwrap().unwrap().username, "u1");
    assert!(store.user_for_token("asb_not_a_token").await.unwrap().is_none());
    store.revoke_token(&t).await.unwrap();
    assert!(store.user_for_token(&t).await.unwrap().is_none());
    let expired = store.issue_token("u1", "session", Some(-1)).await.unwrap();
    assert!(store.user_for_token(&expired).await.unwrap().is_none(), "expired sessions do not sign in");
}

/// Readers and the audit writer are not pinged before each use (a round trip on every check):
/// when PostgreSQL drops their connections (a restart, a pooler's idle timeout), the next check
/// is still answered, in full, and logged, on fresh connections. SQLite has no connections to
/// drop: there the test only runs the check twice.
#[tokio::test]
async fn a_check_is_answered_and_logged_after_the_server_drops_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let url = asb_store::scratch::fresh_url(dir.path(), "asb").await.unwrap();
    let store = Store::connect(&url).await.unwrap();
    store.seed_organisations().await.unwrap();
    let p = Policies::defaults();
    let recorded = store.record_contact(&p, now(), &contact(None), None).await.unwrap();
    let person = recorded.person_id.unwrap().to_string();
    let check = CheckInput {
        phone: Some("020 7946 0001".into()),
        address: Some("1 Test Street".into()),
        postcode: Some("N1 9GU".into()),
        ..Default::default()
    }
    .validate(now().date_naive())
    .unwrap();
    let before = store.first_contact_check(&p, now(), &check, None).await.unwrap();
    assert_eq!((before.people.len(), before.place.history.last_12_months), (1, 1));

    if url.starts_with("postgres") {
        use sqlx::Connection;
        let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
        let dropped: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut other)
        .await
        .unwrap();
        assert!(dropped >= 2, "the store's readers and audit writer were connected: {dropped}");
    }
    let after = store.first_contact_check(&p, now(), &check, None).await.unwrap();
    assert_eq!(serde_json::to_value(&after.people).unwrap(), serde_json::to_value(&before.people).unwrap());
    assert_eq!(after.place.history.last_12_months, 1);
    let looks = store.audit_for("person", &person).await.unwrap();
    let checks = looks.iter().filter(|e| e.purpose == "first-contact check").count();
    assert_eq!(checks, 2, "both checks are in the person's audit trail: {looks:?}");
    assert!(store.verify_audit_chain().await.unwrap().is_ok());
}

/// A place's counts at the edges of their windows: reports either side of the start of the 12
/// months and of the repeat-location window, at one place and then with 70 more places nearby,
/// give the counts their dates make, and the open list its ten newest.
#[tokio::test]
async fn a_places_counts_are_exact_at_each_windows_edge_for_few_places_and_for_many() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let (since, recent) =
        (now() - chrono::Duration::days(365), now() - chrono::Duration::days(p.repeat_location.window_days));
    let report = |at: DateTime<Utc>, address: String, lat: f64| {
        let input: ContactInput = serde_json::from_value(json!({
            "channel": "phone_101", "received_at": at.to_rfc3339(),
            "caller": {"name": "Ada Lovelace"}, "caller_is_victim": true,
            "location": {"address": address, "postcode": "N1 9GU", "lat": lat, "lon": -0.1},
            "narrative": "Noise", "category": "nuisance", "type_code": 211, "risk_answers": {}
        }))
        .unwrap();
        input.validate(&p.risk, now()).unwrap()
    };
    let hour = chrono::Duration::hours(1);
    let day = chrono::Duration::days(1);
    let times = [
        since - day,                                           // before the 12 months
        since + hour,                                          // the rest of the first month
        Utc.with_ymd_and_hms(2025, 12, 15, 12, 0, 0).unwrap(), // whole months
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        recent - hour, // just outside the repeat window
        recent + hour, // inside it
        now() - hour,
    ];
    for t in times {
        store.record_contact(&p, now(), &report(t, "1 Test Street".into(), 51.5), None).await.unwrap();
    }
    let check =
        CheckInput { address: Some("1 Test Street".into()), postcode: Some("N1 9GU".into()), ..Default::default() }
            .validate(now().date_naive())
            .unwrap();
    let place = store.first_contact_check(&p, now(), &check, None).await.unwrap().place;
    assert_eq!((place.places_matched, place.history.last_12_months, place.history.last_90_days), (1, 6, 2));
    assert_eq!(place.history.open.len(), 6, "every report in the 12 months is open: {:?}", place.history.open);

    // 70 more places within the radius (about a metre apart), each with a report last week.
    for k in 0..70 {
        let t = now() - chrono::Duration::days(7);
        store
            .record_contact(
                &p,
                now(),
                &report(t, format!("{} Other Street", k + 2), 51.5 + 1e-5 * f64::from(k % 30)),
                None,
            )
            .await
            .unwrap();
    }
    let place = store.first_contact_check(&p, now(), &check, None).await.unwrap().place;
    assert_eq!((place.places_matched, place.history.last_12_months, place.history.last_90_days), (71, 76, 72));
    assert_eq!(place.history.open.len(), 10, "the ten newest open");
}
