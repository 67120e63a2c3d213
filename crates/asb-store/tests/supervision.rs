//! Supervision through the Store API: reviews scheduled at recording, the right supervisor's
//! queue with overdue marked, reviews that confirm or change (and keep the opening values), the
//! dip sample and the measures. Engine-agnostic: ASB_TEST_DATABASE_URL runs them on PostgreSQL.

use asb_domain::contact::ContactInput;
use asb_domain::supervision::{IsoWeek, ReviewInput};
use asb_domain::Policies;
use asb_store::{Store, StoreError, User};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
    store.seed_organisations().await.unwrap();
    (store, dir)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

const CAMDEN: &str = "MPS-E09000007";
const HACKNEY: &str = "MPS-E09000012";

async fn user(store: &Store, name: &str, org: &str, roles: &[&str]) -> User {
    store.ensure_user(name, name, org, roles, None).await.unwrap()
}

/// A contact in Camden (NW1) with the risk answers given; the caller's name follows the phone's
/// last digit (callers of one name at one address are one person).
fn contact(phone: &str, answers: Value, org: Option<&str>) -> asb_domain::ValidContact {
    const NAMES: [&str; 10] = [
        "Grace Hopper",
        "Ada Byron",
        "Mary Somerville",
        "Alan Turing",
        "Joan Clarke",
        "Tommy Flowers",
        "Hedy Lamarr",
        "Karen Jones",
        "Edsger Dijkstra",
        "Barbara Liskov",
    ];
    let name = NAMES[phone.bytes().last().map_or(0, |b| (b - b'0') as usize % 10)];
    let input: ContactInput = serde_json::from_value(json!({
        "channel": "phone_101", "organisation": org,
        "caller": {"name": name, "phone": phone}, "caller_is_victim": true,
        "location": {"address": "12 Acacia Road", "postcode": "NW1 2AB"}, "narrative": "Threats shouted at the door",
        "category": "personal", "type_code": 204, "risk_answers": answers
    }))
    .unwrap();
    input.validate(&Policies::defaults().risk, t0()).unwrap()
}

fn high() -> Value {
    json!({"threats_or_violence": true})
}

fn medium() -> Value {
    json!({"feel_targeted": true, "disability_or_illness": true, "happened_before": true})
}

async fn record(store: &Store, at: DateTime<Utc>, phone: &str, answers: Value) -> String {
    store.record_contact(&Policies::defaults(), at, &contact(phone, answers, None), None).await.unwrap().reference
}

fn review(v: Value) -> asb_domain::supervision::ValidReview {
    serde_json::from_value::<ReviewInput>(v).unwrap().validate().unwrap()
}

#[tokio::test]
async fn a_high_risk_incident_is_in_the_borough_sergeants_queue_due_in_24_hours() {
    let (store, _d) = store().await;
    // Received an hour before it was recorded: the 24 hours run from recording.
    let mut c = contact("020 7946 0001", high(), None);
    c.received_at = Some(t0() - Duration::hours(1));
    let reference = store.record_contact(&Policies::defaults(), t0(), &c, None).await.unwrap().reference;
    let standard = record(&store, t0(), "020 7946 0002", json!({})).await;
    let partner = store
        .record_contact(&Policies::defaults(), t0(), &contact("020 7946 0003", high(), Some("LBC-E09000007")), None)
        .await
        .unwrap()
        .reference;

    let sergeant = user(&store, "sgt-camden", CAMDEN, &["sergeant"]).await;
    let due = t0() + Duration::hours(24);
    let q = store.supervision_queue(due, &sergeant).await.unwrap();
    assert_eq!(q.items.len(), 1, "only the police's high-risk record: {q:?}");
    let item = &q.items[0];
    assert_eq!(item.reference, reference);
    assert_eq!(item.due_at, due);
    assert!(!item.overdue, "at exactly 24 hours it is not overdue");
    assert_eq!((q.overdue, q.due), (0, 1));
    assert_eq!(item.borough.as_deref(), Some("Camden (MPS)"));
    assert!(!q.items.iter().any(|i| i.reference == standard || i.reference == partner));

    let q = store.supervision_queue(due + Duration::seconds(1), &sergeant).await.unwrap();
    assert!(q.items[0].overdue, "one second later it is");
    assert_eq!((q.overdue, q.due), (1, 1));

    // Another borough's sergeant does not see it; a force-level one does; a call handler has none.
    let hackney = user(&store, "sgt-hackney", HACKNEY, &["sergeant"]).await;
    assert!(store.supervision_queue(due, &hackney).await.unwrap().items.is_empty());
    let force = user(&store, "sgt-force", "MPS", &["sergeant"]).await;
    assert_eq!(store.supervision_queue(due, &force).await.unwrap().items.len(), 1);
    let handler = user(&store, "handler", CAMDEN, &["call_handler"]).await;
    assert!(store.supervision_queue(due, &handler).await.unwrap().items.is_empty());
    // The inspector's and chief inspector's first reviews are weeks away: not in the 7-day view.
    let inspector = user(&store, "insp-camden", CAMDEN, &["inspector", "chief_inspector"]).await;
    let q = store.supervision_queue(due, &inspector).await.unwrap();
    assert!(q.items.is_empty());
    assert_eq!(q.later, 2);
    // Viewing the queue is logged.
    let log = store.audit_for("queue", "supervision").await.unwrap();
    assert!(log.iter().any(|e| e.action == "consultation" && e.user.as_deref() == Some("sgt-camden")));
}

#[tokio::test]
async fn a_review_keeps_the_opening_values_and_schedules_the_next_on_the_cadence() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let reference = record(&store, t0(), "020 7946 0011", high()).await;
    let sergeant = user(&store, "sgt", CAMDEN, &["sergeant"]).await;
    let at = t0() + Duration::hours(30);

    // Lowering without a reason is refused, naming the field; nothing changes.
    let err = store.review_incident(&p, at, &reference, &sergeant, &review(json!({"risk_level": "medium"}))).await;
    match err {
        Err(StoreError::Invalid(e)) => assert_eq!(e[0].field, "reason", "{e:?}"),
        other => panic!("{other:?}"),
    }
    // A call handler cannot review at all, reason or not.
    let handler = user(&store, "handler", CAMDEN, &["call_handler"]).await;
    let lower = review(
        json!({"risk_level": "medium", "category": "nuisance", "type_code": 211, "reason": "Threat was a misheard remark; music noise"}),
    );
    match store.review_incident(&p, at, &reference, &handler, &lower).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e[0].field, "role"),
        other => panic!("{other:?}"),
    }
    let s = store.supervision(at, &reference, &sergeant).await.unwrap();
    assert_eq!(s.current.risk_level.as_deref(), Some("high"));
    assert!(s.reviews.is_empty() && s.changes.is_empty());

    // The sergeant lowers it with a reason, 6 hours late.
    let out = store.review_incident(&p, at, &reference, &sergeant, &lower).await.unwrap();
    assert_eq!(out.outcome, "changed");
    assert_eq!(out.on_time, Some(false));
    assert_eq!(out.due_at, Some(t0() + Duration::hours(24)));
    let fields: Vec<&str> = out.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, vec!["category", "type_code", "risk_level"]);
    // Medium now: the sergeant next in 28 days, the inspector keeps 28 days from recording
    // (sooner than 56 from now), the chief inspector drops out.
    let next: Vec<(String, DateTime<Utc>)> = out.next.iter().map(|d| (d.role.to_string(), d.due_at)).collect();
    assert_eq!(
        next,
        vec![("inspector".into(), t0() + Duration::days(28)), ("sergeant".into(), at + Duration::days(28))]
    );

    let s = store.supervision(at, &reference, &sergeant).await.unwrap();
    assert_eq!((s.opening.category.as_str(), s.opening.type_code), ("personal", 204));
    assert_eq!((s.current.category.as_str(), s.current.type_code), ("nuisance", 211));
    assert_eq!(s.opening.risk_level.as_deref(), Some("high"));
    assert_eq!(s.current.risk_level.as_deref(), Some("medium"));
    assert_eq!(s.risk_assessed_level.as_deref(), Some("high"));
    assert_eq!(s.changes.len(), 3);
    assert!(s.changes.iter().all(|c| c.reason.contains("misheard") && c.by.as_deref() == Some("sgt")));
    assert_eq!(s.reviews.len(), 1);
    assert_eq!(s.due.len(), 2);
    // The incident view keeps the opening code beside the current one.
    let d = store.incident(&reference, None, "test").await.unwrap().unwrap();
    assert_eq!((d.opening_category.as_str(), d.category.as_str()), ("personal", "nuisance"));
    // The review is in the audit log as an alteration.
    let log = store.audit_for("incident", &reference).await.unwrap();
    assert!(log.iter().any(|e| e.action == "alteration" && e.purpose == "supervisor review"));

    // A confirming review on time: the next falls 28 days after it.
    let later = at + Duration::days(10);
    let out = store.review_incident(&p, later, &reference, &sergeant, &review(json!({}))).await.unwrap();
    assert_eq!((out.outcome.as_str(), out.on_time), ("confirmed", Some(true)));
    assert!(out.next.iter().any(|d| d.role.as_str() == "sergeant" && d.due_at == later + Duration::days(28)));

    // Lowered to standard by an inspector: no further reviews.
    let inspector = user(&store, "insp", CAMDEN, &["inspector"]).await;
    let std = review(json!({"risk_level": "standard", "reason": "No further incidents in a month"}));
    let out = store.review_incident(&p, later, &reference, &inspector, &std).await.unwrap();
    assert!(out.next.is_empty());
    assert!(store.supervision_queue(later + Duration::days(60), &sergeant).await.unwrap().items.is_empty());

    // Another borough's supervisor cannot review it.
    let hackney = user(&store, "sgt-hackney", HACKNEY, &["sergeant"]).await;
    assert!(matches!(
        store.review_incident(&p, later, &reference, &hackney, &review(json!({}))).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn qualifiers_changed_in_review_are_kept_before_and_after() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let reference = record(&store, t0(), "020 7946 0021", medium()).await;
    let sergeant = user(&store, "sgt", CAMDEN, &["sergeant"]).await;
    let before = store.supervision(t0(), &reference, &sergeant).await.unwrap().current.qualifiers;
    assert_eq!(before, vec![635]);
    let r = review(json!({"qualifiers": [610, 635, 636], "reason": "Caller has reported twice to the council"}));
    store.review_incident(&p, t0() + Duration::hours(3), &reference, &sergeant, &r).await.unwrap();
    let s = store.supervision(t0(), &reference, &sergeant).await.unwrap();
    assert_eq!(s.opening.qualifiers, vec![635]);
    assert_eq!(s.current.qualifiers, vec![610, 635, 636]);
    let d = store.incident(&reference, None, "test").await.unwrap().unwrap();
    let repeat = d.qualifiers.iter().find(|q| q.code == 610).unwrap();
    assert_eq!(repeat.applied_by, "review", "flagged later, not at first contact");
}

#[tokio::test]
async fn the_dip_sample_is_drawn_once_per_week_and_borough_and_checked_against_the_checklist() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let week = IsoWeek::of(t0() - Duration::days(7));
    let (start, _) = week.bounds();
    let mut refs = Vec::new();
    for i in 0..8 {
        let mut c = contact(&format!("020 7946 01{i:02}"), json!({}), None);
        c.received_at = Some(start + Duration::hours(6 + 12 * i));
        refs.push(store.record_contact(&p, start + Duration::hours(7 + 12 * i), &c, None).await.unwrap().reference);
    }
    let sergeant = user(&store, "sgt", CAMDEN, &["sergeant"]).await;
    // While the week runs nothing is drawn.
    let running = store.dip_sample(&p, start + Duration::days(3), &sergeant, week).await.unwrap();
    assert!(!running.drawn && running.items.is_empty());

    let a = store.dip_sample(&p, t0(), &sergeant, week).await.unwrap();
    assert!(a.drawn);
    assert_eq!(a.items.len(), 5, "five a borough a week");
    assert!(a.items.iter().all(|i| refs.contains(&i.reference) && i.borough_code == CAMDEN));
    let b = store.dip_sample(&p, t0() + Duration::hours(1), &sergeant, week).await.unwrap();
    let ids = |s: &asb_store::DipSample| s.items.iter().map(|i| (i.id, i.reference.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b), "the same sample on every look");
    let hackney = user(&store, "sgt-hackney", HACKNEY, &["sergeant"]).await;
    assert!(store.dip_sample(&p, t0(), &hackney, week).await.unwrap().items.is_empty());

    let items = &p.supervision.dip_sample.checklist;
    let mut answers: BTreeMap<String, bool> = items.iter().map(|c| (c.id.clone(), true)).collect();
    let passed = store.record_dip_check(&p, t0(), &sergeant, a.items[0].id, &answers, None).await.unwrap();
    assert_eq!(passed.passed, Some(true));
    assert_eq!(passed.checked_by.as_deref(), Some("sgt"));
    answers.insert("told_next_steps".into(), false);
    let failed = store
        .record_dip_check(&p, t0(), &sergeant, a.items[1].id, &answers, Some("No next steps given"))
        .await
        .unwrap();
    assert_eq!(failed.passed, Some(false));
    answers.remove("risk_assessed");
    match store.record_dip_check(&p, t0(), &sergeant, a.items[2].id, &answers, None).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e[0].field, "answers.risk_assessed"),
        other => panic!("{other:?}"),
    }
    // Another borough's record is not found for this supervisor.
    answers.insert("risk_assessed".into(), true);
    assert!(matches!(
        store.record_dip_check(&p, t0(), &hackney, a.items[2].id, &answers, None).await,
        Err(StoreError::NotFound(_))
    ));
    let c = store.dip_sample(&p, t0(), &sergeant, week).await.unwrap();
    assert_eq!((c.checked, c.passed), (2, 1));
}

#[tokio::test]
async fn measures_from_known_inputs() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let sergeant = user(&store, "sgt", CAMDEN, &["sergeant"]).await;
    let month = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    // Four reports in October: the same caller twice (the second flagged as a repeat), one
    // assessed high, and one whose answers were left partly unasked (the API allows it).
    let at = |d: i64| month + Duration::days(d);
    let all_no: Value =
        p.risk.questions.iter().map(|q| (q.id.clone(), json!(false))).collect::<serde_json::Map<_, _>>().into();
    let complete = |phone: &str, d: i64, answers: &Value| {
        let mut c = contact(phone, answers.clone(), None);
        c.received_at = Some(at(d));
        c
    };
    let r1 = store.record_contact(&p, at(1), &complete("020 7946 0201", 1, &all_no), None).await.unwrap();
    let r2 = store.record_contact(&p, at(5), &complete("020 7946 0201", 5, &all_no), None).await.unwrap();
    assert!(r2.repeat_victim.flag);
    let mut high_all = all_no.clone();
    high_all["threats_or_violence"] = json!(true);
    let r3 = store.record_contact(&p, at(9), &complete("020 7946 0203", 9, &high_all), None).await.unwrap();
    let r4 = store
        .record_contact(&p, at(12), &complete("020 7946 0204", 12, &json!({"happened_before": false})), None)
        .await
        .unwrap();
    let _ = (r1, r4);

    // The high-risk one: reviewed 2 hours after its 24 hours, reclassified.
    let r = review(json!({"category": "nuisance", "reason": "Aimed at the street"}));
    store.review_incident(&p, at(9) + Duration::hours(26), &r3.reference, &sergeant, &r).await.unwrap();
    // Victim updates: 3 hours and 30 hours after the report (first ones), and a later one.
    store
        .record_victim_update(at(9) + Duration::hours(3), &r3.reference, &sergeant, "phone", None, None)
        .await
        .unwrap();
    store
        .record_victim_update(at(9) + Duration::hours(40), &r3.reference, &sergeant, "visit", None, None)
        .await
        .unwrap();
    store
        .record_victim_update(at(5) + Duration::hours(6), &r2.reference, &sergeant, "email", Some("Told of SPOC"), None)
        .await
        .unwrap();
    let bad = store.record_victim_update(at(9), &r3.reference, &sergeant, "pigeon", None, Some(at(8))).await;
    match bad {
        Err(StoreError::Invalid(e)) => {
            assert_eq!(e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["channel", "at"])
        }
        other => panic!("{other:?}"),
    }

    let now = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let from = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let m = store.measures(&p, now, from, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), None).await.unwrap();
    assert_eq!(m.months, vec!["2026-10", "2026-11"]);
    let f = &m.force.total;
    assert_eq!(f.contacts, 4);
    assert_eq!(f.risk_completed, 3, "the fourth left questions unasked");
    assert_eq!(f.risk_completed_share, Some(0.75));
    assert_eq!((f.repeat_victims, f.repeat_flagged_at_first_contact, f.repeat_not_flagged), (1, 1, 0));
    assert_eq!(f.repeat_flagged_at_first_contact_share, Some(1.0));
    // The high-risk incident's first review, done late; then the sergeant's 14-day review (due
    // 25 October) and the inspector's 28-day one (7 November), overdue and not done. The chief
    // inspector's falls due in December.
    assert_eq!((f.reviews_due, f.reviews_on_time), (3, 0));
    assert_eq!(f.reviews_on_time_share, Some(0.0));
    assert_eq!(f.reclassified, 1);
    assert_eq!(f.code_disagreement_share, Some(0.25));
    assert_eq!(f.victims_updated, 2);
    assert_eq!(f.first_update_median_hours, Some(4.5), "median of 3 h and 6 h");
    let camden = m.boroughs.iter().find(|b| b.code == CAMDEN).unwrap();
    assert_eq!(camden.total, *f, "all in Camden");
    let oct = &camden.months[0];
    assert_eq!((oct.month.as_str(), oct.figures.contacts), ("2026-10", 4));
    assert_eq!(camden.months[1].figures.contacts, 0);
    let hackney = m.boroughs.iter().find(|b| b.code == HACKNEY).unwrap();
    assert_eq!(hackney.total.contacts, 0);
    assert_eq!(hackney.total.risk_completed_share, None);

    // One borough only; an unknown one is refused by name.
    let one = store.measures(&p, now, from, from, Some(CAMDEN)).await.unwrap();
    assert_eq!(one.boroughs.len(), 1);
    assert_eq!(one.force.total.contacts, 4);
    match store.measures(&p, now, from, from, Some("MPS-NOPE")).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e[0].field, "borough"),
        other => panic!("{other:?}"),
    }
    // Once December has passed, the chief inspector's review is overdue too.
    let to = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let m = store.measures(&p, now + Duration::days(40), from, to, None).await.unwrap();
    assert_eq!((m.force.total.reviews_due, m.force.total.reviews_on_time), (4, 0));
    assert_eq!(m.force.months[2].figures.reviews_due, 1);
}

#[tokio::test]
async fn imported_boundaries_place_a_new_report_in_the_borough_it_falls_in() {
    let (store, _d) = store().await;
    // A point near Camden's centre, given without a postcode: the nearest centre says Camden.
    let at_point = |phone: &str| {
        let mut c = contact(phone, high(), None);
        c.location.address = None;
        c.location.postcode = None;
        c.location.point = Some(asb_domain::matching::GeoPoint::new(51.5290, -0.1250).unwrap());
        c
    };
    let camden = user(&store, "sgt-camden", CAMDEN, &["sergeant"]).await;
    let hackney = user(&store, "sgt-hackney", HACKNEY, &["sergeant"]).await;
    let due = t0() + Duration::hours(24);
    let first = store.record_contact(&Policies::defaults(), t0(), &at_point("020 7946 0011"), None).await.unwrap();
    assert!(store.supervision_queue(due, &camden).await.unwrap().items.iter().any(|i| i.reference == first.reference));

    // A boundary (drawn here round the point) labelled Hackney: the next report there is Hackney's.
    let square = json!({"type": "Polygon", "coordinates": [[[-0.13, 51.52], [-0.12, 51.52], [-0.12, 51.535], [-0.13, 51.535], [-0.13, 51.52]]]});
    store.import_boundaries(&[("E09000012".into(), "Hackney".into(), square)]).await.unwrap();
    let second = store.record_contact(&Policies::defaults(), t0(), &at_point("020 7946 0012"), None).await.unwrap();
    let in_queue = |q: &asb_store::Queue, r: &str| q.items.iter().any(|i| i.reference == r);
    assert!(in_queue(&store.supervision_queue(due, &hackney).await.unwrap(), &second.reference));
    assert!(!in_queue(&store.supervision_queue(due, &camden).await.unwrap(), &second.reference));
}
