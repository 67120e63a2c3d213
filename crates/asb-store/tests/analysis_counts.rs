//! The counts analysis reads are kept as incidents are written: after new reports (in several
//! months, boroughs and agencies), a place that gains its point, and reviews that move a report
//! between categories, the kept counts equal a recount from the incidents, and the trends,
//! hotspots and repeat locations read from them give the figures the reports make. Repeat
//! locations found from each month's busiest places equal a count of every place, ties included.
//! Engine-agnostic: ASB_TEST_DATABASE_URL runs them on PostgreSQL.

use asb_domain::analysis::Month;
use asb_domain::contact::ContactInput;
use asb_domain::hotspots;
use asb_domain::supervision::ReviewInput;
use asb_domain::Policies;
use asb_store::Store;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
    store.seed_organisations().await.unwrap();
    (store, dir)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

/// A report at `location` received at `at`, from a caller numbered `n`.
async fn report(
    store: &Store,
    at: DateTime<Utc>,
    n: usize,
    location: Value,
    category: &str,
    org: Option<&str>,
) -> String {
    let type_code = if category == "personal" { 204 } else { 211 };
    let input: ContactInput = serde_json::from_value(json!({
        "channel": "phone_101", "organisation": org,
        "caller": {"phone": format!("020 7946 {n:04}")}, "caller_is_victim": true,
        "location": location, "narrative": "Noise and shouting", "category": category, "type_code": type_code,
        "risk_answers": {}
    }))
    .unwrap();
    let mut c = input.validate(&Policies::defaults().risk, now()).unwrap();
    c.received_at = Some(at);
    store.record_contact(&Policies::defaults(), now(), &c, None).await.unwrap().reference
}

fn month_start(m: &str) -> DateTime<Utc> {
    m.parse::<Month>().unwrap().start() + Duration::hours(12)
}

#[tokio::test]
async fn kept_counts_equal_a_recount_and_give_the_reports_figures() {
    let (store, _d) = store().await;
    let p = Policies::defaults();
    let camden = json!({"address": "1 Camden High Street", "postcode": "NW1 7JE", "lat": 51.5390, "lon": -0.1426});
    let hackney = json!({"address": "5 Mare Street", "postcode": "E8 4RP", "lat": 51.5450, "lon": -0.0553});
    // An address first reported without a point (placed by its postcode district, in no cell).
    let pointless = json!({"address": "9 Acacia Road", "postcode": "W2 1JB"});
    let pointed = json!({"address": "9 Acacia Road", "postcode": "W2 1JB", "lat": 51.5150, "lon": -0.1800});

    let mut refs = Vec::new();
    for i in 0..4 {
        refs.push(
            report(&store, month_start("2026-10") + Duration::days(i), i as usize, camden.clone(), "personal", None)
                .await,
        );
    }
    report(&store, month_start("2026-09"), 10, camden.clone(), "nuisance", None).await;
    report(&store, month_start("2025-10"), 11, camden.clone(), "nuisance", None).await;
    report(&store, month_start("2026-10"), 12, hackney.clone(), "environmental", Some("LBC-E09000012")).await;
    report(&store, month_start("2026-08"), 13, pointless.clone(), "nuisance", None).await;
    report(&store, month_start("2026-10"), 14, pointless, "nuisance", None).await;
    // The same address with a point: its two earlier reports now count in its cell too.
    report(&store, month_start("2026-11"), 15, pointed, "nuisance", None).await;

    // A sergeant moves one Camden report from personal to nuisance, and back, then another.
    let sergeant = store.ensure_user("sgt", "sgt", "MPS-E09000007", &["sergeant"], None).await.unwrap();
    let change = |to: &str, code: u16| {
        serde_json::from_value::<ReviewInput>(
            json!({"category": to, "type_code": code, "reason": "Reclassified on review"}),
        )
        .unwrap()
        .validate()
        .unwrap()
    };
    let at = now();
    store.review_incident(&p, at, &refs[0], &sergeant, &change("nuisance", 211)).await.unwrap();
    store.review_incident(&p, at, &refs[0], &sergeant, &change("personal", 204)).await.unwrap();
    store.review_incident(&p, at, &refs[1], &sergeant, &change("nuisance", 211)).await.unwrap();

    let kept = store.analysis_counts().await.unwrap();
    store.recount_analysis().await.unwrap();
    let recounted = store.analysis_counts().await.unwrap();
    assert_eq!(kept, recounted, "the counts kept as reports were written equal a recount");
    assert!(kept.iter().any(|r| r.0 == "cell"), "cells were counted");

    // Trends: October 2026 has 3 personal and 1 nuisance in Camden (after the reviews), 1
    // nuisance at Acacia Road (W2: Westminster) and 1 environmental in Hackney; a year before,
    // 1 nuisance in Camden.
    let t = store.trends(now(), "2026-10".parse().unwrap(), "2026-11".parse().unwrap(), None).await.unwrap();
    let oct = t.months.iter().find(|m| m.month.to_string() == "2026-10").unwrap();
    assert_eq!((oct.own, oct.published, oct.total), (6, 0, 6));
    assert_eq!(oct.categories["personal"].total, 3);
    assert_eq!(oct.categories["nuisance"].total, 2);
    assert_eq!(oct.categories["environmental"].total, 1);
    assert_eq!(oct.categories["nuisance"].previous, 1);
    let camden_nuisance = t.rows.iter().find(|r| {
        r.month.to_string() == "2026-10" && r.area_code.as_deref() == Some("E09000007") && r.category == "nuisance"
    });
    assert_eq!(camden_nuisance.map(|r| (r.own, r.year_on_year.previous)), Some((1, 1)));
    let camden =
        store.trends(now(), "2026-10".parse().unwrap(), "2026-10".parse().unwrap(), Some("E09000007")).await.unwrap();
    assert_eq!(camden.months[0].total, 4, "Camden alone");

    // Hotspots at resolution 9 over Aug–Nov 2026: Camden's cell has 5 (Sep and Oct), Acacia
    // Road's 3 (two reports from before it had a point, one after), Hackney's 1.
    let h =
        store.hotspots(&p, now(), "2026-08".parse().unwrap(), "2026-11".parse().unwrap(), 9, None, 10).await.unwrap();
    let counts: Vec<(String, i64)> = h.cells.iter().map(|c| (c.cell.clone(), c.count)).collect();
    let cell = |lat: f64, lon: f64| {
        let r11 = asb_domain::matching::geo::to_i64(asb_domain::matching::GeoPoint::new(lat, lon).unwrap().cell());
        hotspots::cell_name(hotspots::parent(r11, 9).unwrap())
    };
    assert_eq!(counts, vec![(cell(51.5390, -0.1426), 5), (cell(51.5150, -0.1800), 3), (cell(51.5450, -0.0553), 1)]);

    // Repeat locations over the last 12 months: Camden 5, Acacia Road 3, Hackney 1.
    let r =
        store.repeat_locations(now(), "2025-12".parse().unwrap(), "2026-11".parse().unwrap(), None, 10).await.unwrap();
    let ranked: Vec<(Option<String>, i64)> = r.places.iter().map(|p| (p.address.clone(), p.count)).collect();
    assert_eq!(
        ranked,
        vec![
            (Some("1 Camden High Street".into()), 5),
            (Some("9 Acacia Road".into()), 3),
            (Some("5 Mare Street".into()), 1)
        ]
    );
    let westminster = store
        .repeat_locations(now(), "2025-12".parse().unwrap(), "2026-11".parse().unwrap(), Some("E09000033"), 10)
        .await
        .unwrap();
    assert_eq!(westminster.places.len(), 1);
    assert_eq!(westminster.places[0].count, 3);
}

#[tokio::test]
async fn the_busiest_places_over_several_months_are_exact_when_no_month_shows_them() {
    let (store, _d) = store().await;
    let place = |i: usize| json!({"address": format!("{i} Long Lane"), "postcode": "SE1 4PU"});
    // 110 places with one report in September, 110 others with one in October, then one place
    // with a report in each: it is the busiest over the two months, though in neither month's
    // first hundred (ties are broken by place, and it is the newest).
    for i in 0..110 {
        report(&store, month_start("2026-09"), i, place(i), "nuisance", None).await;
    }
    for i in 110..220 {
        report(&store, month_start("2026-10"), i, place(i), "nuisance", None).await;
    }
    report(&store, month_start("2026-09"), 900, place(900), "nuisance", None).await;
    report(&store, month_start("2026-10"), 901, place(900), "nuisance", None).await;

    let r =
        store.repeat_locations(now(), "2026-09".parse().unwrap(), "2026-10".parse().unwrap(), None, 3).await.unwrap();
    let ranked: Vec<(Option<String>, i64)> = r.places.iter().map(|p| (p.address.clone(), p.count)).collect();
    assert_eq!(
        ranked,
        vec![(Some("900 Long Lane".into()), 2), (Some("0 Long Lane".into()), 1), (Some("1 Long Lane".into()), 1)]
    );
    // One month alone: the first three places by id, each with one.
    let r =
        store.repeat_locations(now(), "2026-10".parse().unwrap(), "2026-10".parse().unwrap(), None, 3).await.unwrap();
    let ranked: Vec<(Option<String>, i64)> = r.places.iter().map(|p| (p.address.clone(), p.count)).collect();
    assert_eq!(
        ranked,
        vec![(Some("110 Long Lane".into()), 1), (Some("111 Long Lane".into()), 1), (Some("112 Long Lane".into()), 1)]
    );
}
