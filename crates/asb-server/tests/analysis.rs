//! Analysis over HTTP against a real server with a fresh database and a fixed clock (26 Nov
//! 2026): known contacts recorded through the API and published police.uk rows imported through
//! the store, then the trends (and their year-on-year change), hotspots (ranking, an emerging
//! cell and a steady one, GeoJSON and CSV), repeat locations, repeat and acute victims (who may
//! list them, and the audit event each list writes), the pages, and bad input named by field.

mod common;

use asb_domain::hotspots;
use asb_domain::matching::GeoPoint;
use asb_store::HistoricalRow;
use common::{contact, t0, TestApp};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};

const CAMDEN: &str = "E09000007";
const HACKNEY: &str = "E09000012";
/// Two points in Camden, in different resolution-8 cells.
const A: (f64, f64) = (51.5390, -0.1426);
const B: (f64, f64) = (51.5520, -0.1750);
const PASSWORD: &str = "analysis password";

async fn get_as(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.client.get(format!("{}{path}", app.url)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The response's status, content type and body as text.
async fn get_text(app: &TestApp, token: &str, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut r = app.client.get(format!("{}{path}", app.url)).bearer_auth(token);
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map_or(vec![], |e| e.iter().map(|e| e["field"].as_str().unwrap().to_string()).collect())
}

struct Report<'a> {
    /// Callers with the same name and date of birth are one person: victims need their own.
    name: &'a str,
    phone: &'a str,
    at: &'a str,
    address: &'a str,
    postcode: &'a str,
    point: (f64, f64),
    category: &'a str,
    high_risk: bool,
}

impl Default for Report<'_> {
    fn default() -> Self {
        Report {
            name: "Rita Patel",
            phone: "07700 900100",
            at: "2026-11-10T12:00:00Z",
            address: "12 Acacia Road",
            postcode: "NW1 2AB",
            point: A,
            category: "personal",
            high_risk: false,
        }
    }
}

/// Record a contact through the API (as the test's call handler); returns the outcome.
async fn report(app: &TestApp, r: Report<'_>) -> Value {
    let mut c = contact(r.name, r.phone);
    c["received_at"] = json!(r.at);
    c["location"] = json!({"address": r.address, "postcode": r.postcode, "lat": r.point.0, "lon": r.point.1});
    c["category"] = json!(r.category);
    if r.high_risk {
        c["risk_answers"] = json!({"threats_or_violence": true});
    }
    let (s, out) = app.post_contact(&c).await;
    assert_eq!(s, 201, "{out}");
    out
}

static KEY: AtomicI64 = AtomicI64::new(1);

/// A published police.uk ASB record (no category, as police.uk gives none).
fn published(month: &str, point: (f64, f64), area: &str, location: &str) -> HistoricalRow {
    let cell = GeoPoint::new(point.0, point.1).unwrap().cell() as i64;
    HistoricalRow {
        key: (KEY.fetch_add(1, Ordering::SeqCst), 7),
        month: month.into(),
        force: "Metropolitan Police Service".into(),
        reported_by: "Metropolitan Police Service".into(),
        crime_type: "Anti-social behaviour".into(),
        crime_id: None,
        category: None,
        lat: Some(point.0),
        lon: Some(point.1),
        location: Some(location.into()),
        lsoa_code: None,
        lsoa_name: None,
        outcome: None,
        context: None,
        h3: Some(cell),
        area_code: Some(area.into()),
    }
}

/// `n` published burglaries: in the published records, but not anti-social behaviour.
fn other_crime(month: &str, point: (f64, f64), area: &str, n: usize) -> Vec<HistoricalRow> {
    (0..n)
        .map(|_| HistoricalRow {
            crime_type: "Burglary".into(),
            ..published(month, point, area, "On or near Acacia Road")
        })
        .collect()
}

async fn import(app: &TestApp, rows: Vec<HistoricalRow>) {
    let n = rows.len() as i64;
    let done = app.store.import_police_uk_file("test.csv", &rows, &[], n, 0, t0()).await.unwrap();
    assert_eq!(done.imported, n);
}

fn cell8(point: (f64, f64)) -> String {
    let h = GeoPoint::new(point.0, point.1).unwrap().cell() as i64;
    hotspots::cell_name(hotspots::parent(h, 8).unwrap())
}

#[tokio::test]
async fn trends_count_both_sources_by_month_area_and_category_with_the_year_on_year_change() {
    let app = TestApp::start().await;
    let analyst = app.user("analyst1", "MPS", &["analyst"], None).await;
    // asb's own: two personal reports in Camden and one environmental in Hackney in November
    // 2026, one nuisance report in Camden in October 2026.
    report(&app, Report { phone: "07700 900101", ..Default::default() }).await;
    report(&app, Report { phone: "07700 900102", at: "2026-11-11T08:00:00Z", ..Default::default() }).await;
    report(
        &app,
        Report {
            phone: "07700 900103",
            at: "2026-11-12T09:00:00Z",
            address: "3 Mare Street",
            postcode: "E8 1AA",
            point: (51.5450, -0.0553),
            category: "environmental",
            ..Default::default()
        },
    )
    .await;
    report(
        &app,
        Report { phone: "07700 900104", at: "2026-10-05T09:00:00Z", category: "nuisance", ..Default::default() },
    )
    .await;
    // Published: Camden, three in November 2025, one in October 2025, two in November 2026.
    let mut rows: Vec<HistoricalRow> =
        (0..3).map(|_| published("2025-11", A, CAMDEN, "On or near Acacia Road")).collect();
    rows.push(published("2025-10", A, CAMDEN, "On or near Acacia Road"));
    rows.extend((0..2).map(|_| published("2026-11", A, CAMDEN, "On or near Acacia Road")));
    // Other crime types (kept by `import police-uk --all-crime`) are not ASB: never counted.
    rows.extend(other_crime("2026-11", A, CAMDEN, 4));
    import(&app, rows).await;

    let (s, t) = get_as(&app, &analyst, "/api/v1/analysis/trends?from=2026-10&to=2026-11").await;
    assert_eq!(s, 200, "{t}");
    assert_eq!((t["from"].as_str(), t["to"].as_str()), (Some("2026-10"), Some("2026-11")));
    let months = t["months"].as_array().unwrap();
    assert_eq!(months.len(), 2);
    let (oct, nov) = (&months[0], &months[1]);
    assert_eq!(nov["month"], "2026-11");
    assert_eq!((nov["own"].as_i64(), nov["published"].as_i64(), nov["total"].as_i64()), (Some(3), Some(2), Some(5)));
    assert_eq!((nov["previous"].as_i64(), nov["change"].as_i64()), (Some(3), Some(2)), "{nov}");
    assert_eq!(nov["change_pct"], 66.7);
    assert_eq!(nov["categories"]["personal"]["total"], 2);
    assert_eq!(nov["categories"]["environmental"]["total"], 1);
    assert_eq!(nov["categories"]["unknown"]["total"], 2);
    assert_eq!(nov["categories"]["unknown"]["previous"], 3);
    assert_eq!((oct["total"].as_i64(), oct["previous"].as_i64(), oct["change"].as_i64()), (Some(1), Some(1), Some(0)));
    assert_eq!(oct["change_pct"], 0.0);

    let row = |m: &str, area: &str, cat: &str| -> Value {
        t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["month"] == m && r["area_code"] == area && r["category"] == cat)
            .cloned()
            .unwrap_or_else(|| panic!("no row {m} {area} {cat}: {t}"))
    };
    let r = row("2026-11", CAMDEN, "personal");
    assert_eq!((r["own"].as_i64(), r["published"].as_i64(), r["previous"].as_i64()), (Some(2), Some(0), Some(0)));
    assert!(r["change_pct"].is_null(), "nothing a year earlier to compare with: {r}");
    assert_eq!(r["area_name"], "Camden");
    let r = row("2026-11", CAMDEN, "unknown");
    assert_eq!((r["total"].as_i64(), r["previous"].as_i64(), r["change"].as_i64()), (Some(2), Some(3), Some(-1)));
    assert_eq!(r["change_pct"], -33.3);
    assert_eq!(row("2026-11", HACKNEY, "environmental")["own"], 1);
    assert_eq!(row("2026-10", CAMDEN, "unknown")["total"], 0, "a fall to none is a row too");
    assert_eq!(row("2026-10", CAMDEN, "unknown")["previous"], 1);

    // One borough, by its ONS code or its organisation code.
    for b in [CAMDEN, "MPS-E09000007"] {
        let (s, t) =
            get_as(&app, &analyst, &format!("/api/v1/analysis/trends?from=2026-11&to=2026-11&borough={b}")).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["borough"]["name"], "Camden");
        assert_eq!((t["months"][0]["total"].as_i64(), t["months"][0]["previous"].as_i64()), (Some(4), Some(3)));
    }

    // CSV by ?format= or by Accept.
    let (s, ct, body) =
        get_text(&app, &analyst, "/api/v1/analysis/trends?from=2026-10&to=2026-11&format=csv", None).await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("month,area_code,area_name,category,own,published,total,same_month_last_year,change,change_pct")
    );
    assert!(body.contains("2026-11,E09000007,Camden,unknown,0,2,2,3,-1,-33.3"), "{body}");
    let (_, ct, _) = get_text(&app, &analyst, "/api/v1/analysis/trends", Some("text/csv")).await;
    assert!(ct.starts_with("text/csv"), "{ct}");

    // Bad input: 422 naming each field.
    let (s, p) = get_as(&app, &analyst, "/api/v1/analysis/trends?from=2026-13&to=November").await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(fields(&p), ["to", "from"]);
    let (s, p) = get_as(&app, &analyst, "/api/v1/analysis/trends?from=2026-11&to=2026-10").await;
    assert_eq!((s, fields(&p)), (422, vec!["from".to_string()]));
    for bad in ["E09999999", "Camden"] {
        let (s, p) = get_as(&app, &analyst, &format!("/api/v1/analysis/trends?borough={bad}")).await;
        assert_eq!((s, fields(&p)), (422, vec!["borough".to_string()]), "{p}");
    }
    let (s, p) = get_as(&app, &analyst, "/api/v1/analysis/trends?format=geojson").await;
    assert_eq!((s, fields(&p)), (422, vec!["format".to_string()]));
    // Call handlers do not do analysis.
    assert_eq!(get_as(&app, &app.token, "/api/v1/analysis/trends").await.0, 403);
}

#[tokio::test]
async fn hotspots_rank_cells_and_the_emerging_rule_flags_a_new_cell_but_not_a_steady_one() {
    let app = TestApp::start().await;
    let analyst = app.user("analyst1", "MPS", &["analyst"], None).await;
    // Cell A: nothing in the year before, then six published records and one own report in
    // September to November 2026. Cell B: two a month for the twelve months before, and two a
    // month since (steady).
    let mut rows = Vec::new();
    for m in ["2026-09", "2026-10", "2026-11"] {
        rows.extend((0..2).map(|_| published(m, A, CAMDEN, "On or near Acacia Road")));
        rows.extend((0..2).map(|_| published(m, B, CAMDEN, "On or near Fleet Road")));
    }
    for m in 0..12 {
        let month = format!("{}", asb_domain::analysis::Month::new(2025, 9).unwrap().plus(m));
        rows.extend((0..2).map(|_| published(&month, B, CAMDEN, "On or near Fleet Road")));
    }
    // Burglaries in cell B's recent months would make it emerge, and outrank A, were they counted.
    rows.extend(other_crime("2026-10", B, CAMDEN, 30));
    import(&app, rows).await;
    report(&app, Report { phone: "07700 900201", ..Default::default() }).await;

    let (s, h) = get_as(&app, &analyst, "/api/v1/analysis/hotspots?to=2026-11").await;
    assert_eq!(s, 200, "{h}");
    assert_eq!((h["from"].as_str(), h["resolution"].as_i64()), (Some("2026-09"), Some(8)), "the last 3 months at 8");
    assert_eq!((h["recent"]["from"].as_str(), h["baseline"]["from"].as_str()), (Some("2026-09"), Some("2025-09")));
    assert_eq!((h["rule"]["rule"].as_str(), h["rule"]["version"].as_i64()), (Some("emerging-hotspot"), Some(1)));
    assert!(h["rule"]["text"].as_str().unwrap().contains("Poisson"), "{}", h["rule"]);
    let cells = h["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{h}");
    let (a, b) = (&cells[0], &cells[1]);
    assert_eq!((a["rank"].as_i64(), a["cell"].as_str()), (Some(1), Some(cell8(A).as_str())));
    assert_eq!((a["count"].as_i64(), a["own"].as_i64(), a["published"].as_i64()), (Some(7), Some(1), Some(6)));
    assert_eq!(a["emerging"]["flag"], true, "{a}");
    assert_eq!((a["emerging"]["observed"].as_i64(), a["emerging"]["baseline"].as_i64()), (Some(7), Some(0)));
    assert_eq!(a["emerging"]["expected"], 0.5);
    assert!(a["emerging"]["reason"].as_str().unwrap().ends_with("emerging hotspot rule v1"), "{a}");
    assert_eq!(
        (b["rank"].as_i64(), b["cell"].as_str(), b["count"].as_i64()),
        (Some(2), Some(cell8(B).as_str()), Some(6))
    );
    assert_eq!(b["emerging"]["flag"], false, "steady: {b}");
    assert_eq!((b["emerging"]["baseline"].as_i64(), b["emerging"]["expected"].as_f64()), (Some(24), Some(6.0)));
    assert!(b["emerging"]["reason"].as_str().unwrap().contains("not below 0.01"), "{b}");
    let emerging: Vec<&str> = h["emerging"].as_array().unwrap().iter().map(|c| c["cell"].as_str().unwrap()).collect();
    assert_eq!(emerging, [cell8(A)]);

    // Coarser cells hold the same reports: each point's resolution-6 parent, as h3o has it.
    let (_, h6) = get_as(&app, &analyst, "/api/v1/analysis/hotspots?to=2026-11&resolution=6").await;
    let parent6 = |p: (f64, f64)| {
        hotspots::cell_name(hotspots::parent(GeoPoint::new(p.0, p.1).unwrap().cell() as i64, 6).unwrap())
    };
    let mut expected = vec![parent6(A), parent6(B)];
    expected.sort();
    expected.dedup();
    let mut got: Vec<String> =
        h6["cells"].as_array().unwrap().iter().map(|c| c["cell"].as_str().unwrap().to_string()).collect();
    got.sort();
    assert_eq!(got, expected, "{h6}");
    let total: i64 = h6["cells"].as_array().unwrap().iter().map(|c| c["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 13);
    // A limit keeps the busiest; the borough filter reads both sources.
    let (_, h1) = get_as(&app, &analyst, "/api/v1/analysis/hotspots?to=2026-11&limit=1&borough=E09000007").await;
    assert_eq!(h1["cells"].as_array().unwrap().len(), 1);
    assert_eq!(h1["cells"][0]["count"], 7);
    let (_, hh) = get_as(&app, &analyst, "/api/v1/analysis/hotspots?to=2026-11&borough=E09000012").await;
    assert!(hh["cells"].as_array().unwrap().is_empty(), "{hh}");

    // GeoJSON: a FeatureCollection of closed hexagons with the counts and the verdict.
    let (s, ct, body) = get_text(&app, &analyst, "/api/v1/analysis/hotspots?to=2026-11&format=geojson", None).await;
    assert_eq!(s, 200);
    assert_eq!(ct, "application/geo+json");
    let g: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    let f = &g["features"][0];
    assert_eq!((f["type"].as_str(), f["geometry"]["type"].as_str()), (Some("Feature"), Some("Polygon")));
    let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
    assert_eq!(ring.len(), 7, "six corners, closed");
    assert_eq!(ring[0], ring[6]);
    let (lon, lat) = (ring[0][0].as_f64().unwrap(), ring[0][1].as_f64().unwrap());
    assert!((lat - A.0).abs() < 0.02 && (lon - A.1).abs() < 0.02, "longitude first: {ring:?}");
    assert_eq!((f["properties"]["count"].as_i64(), f["properties"]["emerging"].as_bool()), (Some(7), Some(true)));
    let (_, ct, _) = get_text(&app, &analyst, "/api/v1/analysis/hotspots", Some("application/geo+json")).await;
    assert_eq!(ct, "application/geo+json");
    // CSV.
    let (_, ct, body) = get_text(&app, &analyst, "/api/v1/analysis/hotspots?to=2026-11&format=csv", None).await;
    assert!(ct.starts_with("text/csv"));
    assert_eq!(
        body.lines().next(),
        Some("rank,cell,resolution,lat,lon,own,published,count,recent,baseline,expected,p_value,emerging,reason")
    );
    assert!(body.lines().nth(1).unwrap().starts_with(&format!("1,{},8,", cell8(A))), "{body}");

    // Bad input.
    for (q, field) in [
        ("resolution=5", "resolution"),
        ("resolution=11", "resolution"),
        ("resolution=x", "resolution"),
        ("limit=0", "limit"),
        ("to=2026-1", "to"),
        ("borough=E09999999", "borough"),
        ("format=kml", "format"),
    ] {
        let (s, p) = get_as(&app, &analyst, &format!("/api/v1/analysis/hotspots?{q}")).await;
        assert_eq!((s, fields(&p)), (422, vec![field.to_string()]), "{q}: {p}");
    }
}

#[tokio::test]
async fn repeat_locations_rank_places_and_published_points() {
    let app = TestApp::start().await;
    let analyst = app.user("analyst1", "MPS", &["analyst"], None).await;
    for (i, phone) in ["07700 900301", "07700 900302", "07700 900303"].iter().enumerate() {
        report(&app, Report { phone, at: &format!("2026-11-1{i}T10:00:00Z"), ..Default::default() }).await;
    }
    report(
        &app,
        Report { phone: "07700 900304", address: "1 High Street", postcode: "NW1 7AA", point: B, ..Default::default() },
    )
    .await;
    // Outside the period: not counted.
    report(&app, Report { phone: "07700 900305", at: "2025-06-01T10:00:00Z", ..Default::default() }).await;
    let mut rows: Vec<HistoricalRow> =
        (0..4).map(|_| published("2026-10", (51.5395, -0.1420), CAMDEN, "On or near Acacia Road")).collect();
    rows.extend((0..2).map(|_| published("2026-10", B, CAMDEN, "On or near Fleet Road")));
    rows.extend(other_crime("2026-10", B, CAMDEN, 5));
    import(&app, rows).await;

    let (s, r) = get_as(&app, &analyst, "/api/v1/analysis/repeat-locations?from=2026-01&to=2026-11").await;
    assert_eq!(s, 200, "{r}");
    let places = r["places"].as_array().unwrap();
    assert_eq!(places.len(), 2, "{r}");
    assert_eq!((places[0]["rank"].as_i64(), places[0]["count"].as_i64()), (Some(1), Some(3)));
    // The analyst sees the street and a generalised point, not the address (it can name a victim).
    assert_eq!(places[0]["address"], "On or near Acacia Road");
    assert_eq!(places[0]["postcode"], "NW1");
    assert_ne!(places[0]["lat"], 51.5390, "{r}");
    assert_eq!(places[0]["borough"], "Camden (MPS)");
    assert_eq!((places[1]["address"].as_str(), places[1]["count"].as_i64()), (Some("On or near High Street"), Some(1)));
    // A sergeant, who may list victims by name, sees the address.
    let sergeant = app.user("sgt1", "MPS-E09000007", &["sergeant"], None).await;
    let (_, full) = get_as(&app, &sergeant, "/api/v1/analysis/repeat-locations?from=2026-01&to=2026-11").await;
    assert_eq!(
        (full["places"][0]["address"].as_str(), full["places"][0]["postcode"].as_str()),
        (Some("12 Acacia Road"), Some("NW1 2AB")),
        "{full}"
    );
    // That look is logged, naming the places shown; the analyst's looks (no addresses) are not.
    let looks = app.store.audit_for("analysis", "repeat-locations").await.unwrap();
    assert_eq!(looks.len(), 1, "{looks:?}");
    assert_eq!((looks[0].user.as_deref(), looks[0].action.as_str()), (Some("sgt1"), "consultation"));
    let shown: Vec<&Value> = full["places"].as_array().unwrap().iter().map(|p| &p["place_id"]).collect();
    assert_eq!(looks[0].detail["places"].as_array().unwrap().iter().collect::<Vec<_>>(), shown, "{looks:?}");
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(
        (points[0]["location"].as_str(), points[0]["count"].as_i64()),
        (Some("On or near Acacia Road"), Some(4))
    );
    assert_eq!(points[0]["lat"], 51.5395);
    assert_eq!((points[1]["location"].as_str(), points[1]["count"].as_i64()), (Some("On or near Fleet Road"), Some(2)));
    let (_, r) = get_as(&app, &analyst, "/api/v1/analysis/repeat-locations?from=2026-01&to=2026-11&limit=1").await;
    assert_eq!((r["places"].as_array().unwrap().len(), r["points"].as_array().unwrap().len()), (1, 1));
    let (_, r) =
        get_as(&app, &analyst, "/api/v1/analysis/repeat-locations?from=2026-01&to=2026-11&borough=E09000012").await;
    assert!(r["places"].as_array().unwrap().is_empty() && r["points"].as_array().unwrap().is_empty(), "{r}");

    let (_, ct, body) =
        get_text(&app, &analyst, "/api/v1/analysis/repeat-locations?from=2026-01&to=2026-11&format=csv", None).await;
    assert!(ct.starts_with("text/csv"));
    assert_eq!(body.lines().next(), Some("source,rank,place_id,location,postcode,lat,lon,area,count"));
    assert!(body.contains("published,1,,On or near Acacia Road,,51.5395,-0.142,E09000007,4"), "{body}");
    let (_, ct, body) =
        get_text(&app, &analyst, "/api/v1/analysis/repeat-locations?from=2026-01&to=2026-11&format=geojson", None)
            .await;
    assert_eq!(ct, "application/geo+json");
    let g: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(g["features"].as_array().unwrap().len(), 4);
    assert_eq!(g["features"][0]["geometry"]["type"], "Point");
}

#[tokio::test]
async fn repeat_and_acute_victims_counted_for_analysts_and_listed_only_to_those_who_act_with_each_look_logged() {
    let app = TestApp::start().await;
    let analyst = app.user("analyst1", "MPS", &["analyst"], Some(PASSWORD)).await;
    let sergeant = app.user("sergeant1", "MPS", &["sergeant"], Some(PASSWORD)).await;
    let hackney_sergeant = app.user("sergeant2", "MPS-E09000012", &["sergeant"], None).await;
    let admin = app.user("boss", "MPS", &["administrator"], None).await;
    let month = |i: u32| format!("2026-{:02}-15T10:00:00Z", 1 + i % 11);
    // Twice: a repeat victim.
    let mut twice = 0;
    for i in 0..2 {
        twice = report(&app, Report { name: "Sam Okafor", phone: "07700 900401", at: &month(i), ..Default::default() })
            .await["person_id"]
            .as_i64()
            .unwrap();
    }
    // Ten times, once at high risk (known vulnerable): acute.
    let mut acute = 0;
    for i in 0..10 {
        let out =
            report(&app, Report { phone: "07700 900402", at: &month(i), high_risk: i == 4, ..Default::default() })
                .await;
        acute = out["person_id"].as_i64().unwrap();
    }
    // Ten times at standard risk: a repeat victim, not acute.
    for i in 0..10 {
        report(&app, Report { name: "Lee Smith", phone: "07700 900403", at: &month(i), ..Default::default() }).await;
    }
    // Once, and twice but more than a year ago: neither.
    report(&app, Report { name: "Ann Brown", phone: "07700 900404", ..Default::default() }).await;
    for at in ["2025-01-10T10:00:00Z", "2025-02-10T10:00:00Z"] {
        report(&app, Report { name: "Joe Green", phone: "07700 900405", at, ..Default::default() }).await;
    }

    // Counts for the analyst; names refused.
    let (s, v) = get_as(&app, &analyst, "/api/v1/analysis/victims").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["repeat_victims"].as_i64(), v["vulnerable_repeat_victims"].as_i64(), v["acute_victims"].as_i64()),
        (Some(3), Some(1), Some(1)),
        "{v}"
    );
    let rules: Vec<&str> = v["rules"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["repeat-victim", "known-vulnerable", "acute-victim"]);
    assert!(v.to_string().find("Rita").is_none(), "no names in the counts");
    let (_, _, c) = get_text(&app, &analyst, "/api/v1/analysis/victims?format=csv", None).await;
    assert!(c.starts_with("measure,count") && c.contains("acute_victims,1"), "{c}");
    assert_eq!(get_as(&app, &analyst, "/api/v1/analysis/victims/people").await.0, 403, "analysts see counts only");
    assert_eq!(get_as(&app, &app.token, "/api/v1/analysis/victims").await.0, 403);
    assert_eq!(get_as(&app, &admin, "/api/v1/analysis/victims/people").await.0, 403);

    // The sergeant lists them: vulnerable first, each with the rules' reason.
    let (s, l) = get_as(&app, &sergeant, "/api/v1/analysis/victims/people").await;
    assert_eq!(s, 200, "{l}");
    let people = l["people"].as_array().unwrap();
    let ids: Vec<i64> = people.iter().map(|p| p["person_id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3, "{l}");
    assert_eq!(ids[0], acute);
    assert!(ids.contains(&twice));
    let first = &people[0];
    assert_eq!(
        (first["acute"].as_bool(), first["vulnerable"].as_bool(), first["reports"].as_i64()),
        (Some(true), Some(true), Some(10))
    );
    assert_eq!(first["name"], "Rita Patel");
    assert!(first["reason"].as_str().unwrap().contains("acute: vulnerable with 10 reports"), "{first}");
    assert_eq!(l["acute_victims"], 1);
    let (_, only) = get_as(&app, &sergeant, "/api/v1/analysis/victims/people?acute=yes").await;
    let ids: Vec<i64> = only["people"].as_array().unwrap().iter().map(|p| p["person_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [acute]);
    let (s, p) = get_as(&app, &sergeant, "/api/v1/analysis/victims/people?acute=perhaps&limit=5000").await;
    assert_eq!((s, fields(&p)), (422, vec!["limit".to_string(), "acute".to_string()]), "{p}");

    // A borough's sergeant lists their own borough only.
    let (s, p) = get_as(&app, &hackney_sergeant, "/api/v1/analysis/victims/people?borough=E09000007").await;
    assert_eq!((s, fields(&p)), (422, vec!["borough".to_string()]), "{p}");
    let (s, l) = get_as(&app, &hackney_sergeant, "/api/v1/analysis/victims/people").await;
    assert_eq!(s, 200);
    assert!(l["people"].as_array().unwrap().is_empty(), "nobody reported in Hackney: {l}");
    assert_eq!(l["borough"]["code"], HACKNEY);

    // Each list is in the audit trail of the people it showed, with who looked.
    let (s, events) = get_as(&app, &admin, &format!("/api/v1/audit?subject=person:{acute}")).await;
    assert_eq!(s, 200, "{events}");
    let looks: Vec<&Value> =
        events.as_array().unwrap().iter().filter(|e| e["purpose"] == "repeat and acute victims list").collect();
    assert_eq!(looks.len(), 2, "the full list and the acute list: {events}");
    assert!(looks.iter().all(|e| e["user"] == "sergeant1" && e["action"] == "consultation"), "{events}");
    let (_, events) = get_as(&app, &admin, &format!("/api/v1/audit?subject=person:{twice}")).await;
    let looks = events.as_array().unwrap().iter().filter(|e| e["purpose"] == "repeat and acute victims list").count();
    assert_eq!(looks, 1, "not on the acute-only list: {events}");

    // The pages: the analyst sees the counts and no link to names; the sergeant has the link,
    // and the list page (itself logged).
    let mut b = app.browser();
    b.sign_in("analyst1", PASSWORD).await;
    let page = b.get("/analysis/repeat").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"acute-victims\">1<"), "{}", page.body);
    assert!(!page.body.contains("victims-list"));
    assert_eq!(b.get("/analysis/victims").await.status, 403);
    let mut b = app.browser();
    b.sign_in("sergeant1", PASSWORD).await;
    assert!(b.get("/analysis/repeat").await.body.contains("id=\"victims-list\""));
    let page = b.get("/analysis/victims").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("id=\"person-{acute}\"")) && page.body.contains("Acute"), "{}", page.body);
    let (_, events) = get_as(&app, &admin, &format!("/api/v1/audit?subject=person:{acute}")).await;
    let looks = events.as_array().unwrap().iter().filter(|e| e["purpose"] == "repeat and acute victims list").count();
    assert_eq!(looks, 3, "the page's look too");
}

#[tokio::test]
async fn the_pages_draw_charts_and_a_borough_map_and_name_bad_fields() {
    let app = TestApp::start().await;
    app.user("analyst1", "MPS", &["analyst"], Some(PASSWORD)).await;
    app.user("clerk", "MPS", &["call_handler"], Some(PASSWORD)).await;
    report(&app, Report { phone: "07700 900501", ..Default::default() }).await;
    import(&app, (0..5).map(|_| published("2026-10", B, CAMDEN, "On or near Fleet Road")).collect()).await;
    // Camden's boundary, imported: a square round both points.
    let square = json!({"type": "Polygon", "coordinates": [[[-0.20, 51.52], [-0.10, 51.52], [-0.10, 51.57], [-0.20, 51.57], [-0.20, 51.52]]]});
    app.store.import_boundaries(&[(CAMDEN.into(), "Camden".into(), square)]).await.unwrap();

    let mut b = app.browser();
    b.sign_in("analyst1", PASSWORD).await;
    let home = b.get("/").await;
    assert!(home.body.contains("href=\"/analysis\""), "linked from the start page: {}", home.body);
    let t = b.get("/analysis?from=2026-09&to=2026-11").await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert!(t.body.contains("<svg") && t.body.contains("id=\"trend-table\""), "{}", t.body);
    assert!(t.body.contains("Nov 2026") && t.body.contains("(none a year earlier)"), "{}", t.body);
    assert!(t.body.contains("url(#categories-p0)"), "categories are patterns: {}", t.body);

    let h = b.get("/analysis/hotspots?to=2026-11&borough=E09000007").await;
    assert_eq!(h.status, 200, "{}", h.body);
    assert!(
        h.body.contains("class=\"asb-map\"") && h.body.contains("fill-rule=\"evenodd\""),
        "the map with the boundary: {}",
        h.body
    );
    assert!(h.body.contains(&cell8(B)) && h.body.contains("Reports in each cell"), "{}", h.body);
    assert!(h.body.contains("one-sided"), "the rule in words: {}", h.body);
    let h = b.get("/analysis/hotspots?to=2026-11").await;
    assert!(h.body.contains("Choose a borough to see its map"), "{}", h.body);

    for (path, field) in [
        ("/analysis?from=2026-13", "from"),
        ("/analysis?borough=E09999999", "borough"),
        ("/analysis/hotspots?resolution=12", "resolution"),
        ("/analysis/repeat?to=soon", "to"),
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, 422, "{path}: {}", page.body);
        assert!(
            page.body.contains("govuk-error-summary") && page.body.contains(&format!("href=\"#{field}\"")),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains(&format!("id=\"{field}-error\"")), "{path}: the message beside the field");
    }

    let mut clerk = app.browser();
    clerk.sign_in("clerk", PASSWORD).await;
    assert!(!clerk.get("/").await.body.contains("href=\"/analysis\""));
    assert_eq!(clerk.get("/analysis").await.status, 403);

    let (_, doc) = app.get("/api/v1/openapi.json").await;
    for path in [
        "/analysis/trends",
        "/analysis/hotspots",
        "/analysis/repeat-locations",
        "/analysis/victims",
        "/analysis/victims/people",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
}
