//! Supervision over HTTP against a real server with a fresh database and a fixed clock: the
//! queue and its overdue boundary, reviews (who may, what needs a reason, what is kept), victim
//! updates, the dip sample and the measures.

mod common;

use chrono::Duration;
use common::{contact, t0, TestApp};
use serde_json::{json, Value};

const CAMDEN: &str = "MPS-E09000007";

async fn get_as(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.client.get(format!("{}{path}", app.url)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = app.client.post(format!("{}{path}", app.url)).bearer_auth(token).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A high-risk report in Camden, recorded now by the test's call handler.
async fn high_risk(app: &TestApp, phone: &str) -> String {
    let mut c = contact("Rita Patel", phone);
    c["risk_answers"] = json!({"threats_or_violence": true});
    let (s, r) = app.post_contact(&c).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["risk"]["level"], "high");
    r["reference"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_new_high_risk_incident_is_due_for_the_borough_sergeant_24_hours_after_recording() {
    let app = TestApp::start().await;
    let sergeant = app.user("sergeant1", CAMDEN, &["sergeant"], None).await;
    let reference = high_risk(&app, "07700 900201").await;

    app.set_now(t0() + Duration::hours(24));
    let (s, q) = get_as(&app, &sergeant, "/api/v1/supervision/queue").await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["items"].as_array().unwrap().len(), 1, "{q}");
    let item = &q["items"][0];
    assert_eq!(item["reference"], reference.as_str());
    assert_eq!(item["role"], "sergeant");
    assert_eq!(item["kind"], "first");
    assert_eq!(item["due_at"], json!(t0() + Duration::hours(24)));
    assert_eq!(item["overdue"], false, "at exactly 24 hours: not yet overdue");
    assert_eq!((q["overdue"].as_i64(), q["due"].as_i64()), (Some(0), Some(1)));

    app.set_now(t0() + Duration::hours(24) + Duration::seconds(1));
    let (_, q) = get_as(&app, &sergeant, "/api/v1/supervision/queue").await;
    assert_eq!(q["items"][0]["overdue"], true, "24 hours and a second: overdue");
    assert_eq!(q["overdue"], 1);

    // Reviewed a second late: recorded as late, and the next falls due 14 days on (high risk).
    let path = format!("/api/v1/incidents/{reference}/reviews");
    let (s, out) = post_as(&app, &sergeant, &path, &json!({})).await;
    assert_eq!(s, 201, "{out}");
    assert_eq!(out["outcome"], "confirmed");
    assert_eq!(out["on_time"], false);
    let reviewed = t0() + Duration::hours(24) + Duration::seconds(1);
    let next: Vec<(String, Value)> = out["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["role"].as_str().unwrap().to_string(), d["due_at"].clone()))
        .collect();
    assert_eq!(
        next,
        vec![
            ("sergeant".to_string(), json!(reviewed + Duration::days(14))),
            ("inspector".to_string(), json!(t0() + Duration::days(28))),
            ("chief_inspector".to_string(), json!(t0() + Duration::days(56))),
        ]
    );
    let (_, q) = get_as(&app, &sergeant, "/api/v1/supervision/queue").await;
    assert!(q["items"].as_array().unwrap().is_empty(), "nothing due this week now: {q}");
    assert_eq!(q["later"], 1);
}

#[tokio::test]
async fn only_a_supervisor_reviews_and_lowering_needs_a_reason() {
    let app = TestApp::start().await;
    let sergeant = app.user("sergeant1", CAMDEN, &["sergeant"], None).await;
    let reference = high_risk(&app, "07700 900202").await;
    let path = format!("/api/v1/incidents/{reference}/reviews");
    let lower = json!({"risk_level": "standard", "reason": "Caller withdrew the account of threats"});

    // The call handler cannot: the permission table refuses the route.
    let (s, body) = post_as(&app, &app.token, &path, &lower).await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = get_as(&app, &app.token, "/api/v1/supervision/queue").await;
    assert_eq!(s, 403);

    // A sergeant without a reason: 422 naming the field, nothing changed.
    let (s, body) = post_as(&app, &sergeant, &path, &json!({"risk_level": "medium"})).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "reason", "{body}");
    let (_, d) = app.get(&format!("/api/v1/incidents/{reference}")).await;
    assert_eq!(d["risk"]["level"], "high");

    // Bad values are named too.
    let (s, body) = post_as(&app, &sergeant, &path, &json!({"risk_level": "severe", "type_code": 999})).await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["type_code", "risk_level"]);

    // With a reason: lowered and recategorised; the opening values are kept beside the new.
    app.set_now(t0() + Duration::hours(5));
    let change = json!({"risk_level": "medium", "category": "nuisance", "type_code": 202, "reason": "Shouting at passers-by, not aimed at the caller"});
    let (s, out) = post_as(&app, &sergeant, &path, &change).await;
    assert_eq!(s, 201, "{out}");
    assert_eq!(out["outcome"], "changed");
    assert_eq!(out["on_time"], true);
    let (s, sup) = get_as(&app, &sergeant, &path).await;
    assert_eq!(s, 200, "{sup}");
    assert_eq!(sup["opening"]["risk_level"], "high");
    assert_eq!(sup["current"]["risk_level"], "medium");
    assert_eq!(sup["opening"]["category"], "personal");
    assert_eq!(sup["current"]["category"], "nuisance");
    assert_eq!(sup["changes"].as_array().unwrap().len(), 3);
    assert_eq!(sup["changes"][0]["reason"], "Shouting at passers-by, not aimed at the caller");
    let (_, d) = app.get(&format!("/api/v1/incidents/{reference}")).await;
    assert_eq!((d["opening_category"].as_str(), d["category"].as_str()), (Some("personal"), Some("nuisance")));
    assert_eq!((d["opening_type_code"].as_i64(), d["type_code"].as_i64()), (Some(211), Some(202)));
    assert_eq!(d["risk"]["assessed_level"], "high");

    // A supervisor in another borough is refused the record.
    let hackney = app.user("sergeant2", "MPS-E09000012", &["sergeant"], None).await;
    let (s, body) = post_as(&app, &hackney, &path, &json!({})).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "reference");
}

#[tokio::test]
async fn victim_updates_dip_samples_and_measures() {
    let app = TestApp::start().await;
    let sergeant = app.user("sergeant1", CAMDEN, &["sergeant"], None).await;
    let officer = app.user("officer1", CAMDEN, &["neighbourhood_officer"], None).await;
    let analyst = app.user("analyst1", "MPS", &["analyst"], None).await;
    // Two reports on 26 November: one high risk (reviewed late, its victim updated after 5
    // hours), one standard (its victim updated after 20 hours).
    let high = high_risk(&app, "07700 900203").await;
    let (_, standard) = app.post_contact(&contact("Sam Okafor", "07700 900204")).await;
    let standard = standard["reference"].as_str().unwrap().to_string();

    app.set_now(t0() + Duration::hours(5));
    let (s, u) = post_as(
        &app,
        &officer,
        &format!("/api/v1/incidents/{high}/updates"),
        &json!({"channel": "phone", "note": "Told of the SPOC"}),
    )
    .await;
    assert_eq!(s, 201, "{u}");
    assert_eq!(u["hours_after_report"], 5);
    let (s, bad) =
        post_as(&app, &officer, &format!("/api/v1/incidents/{high}/updates"), &json!({"channel": "carrier pigeon"}))
            .await;
    assert_eq!(s, 422);
    assert_eq!(bad["errors"][0]["field"], "channel");
    let (s, _) =
        post_as(&app, &officer, "/api/v1/incidents/ASB-26-0000000/updates", &json!({"channel": "phone"})).await;
    assert!(s == 404 || s == 422, "{s}");
    app.set_now(t0() + Duration::hours(20));
    post_as(&app, &officer, &format!("/api/v1/incidents/{standard}/updates"), &json!({"channel": "email"})).await;
    app.set_now(t0() + Duration::hours(30));
    let (s, _) = post_as(&app, &sergeant, &format!("/api/v1/incidents/{high}/reviews"), &json!({})).await;
    assert_eq!(s, 201);

    // The dip sample of the week (23–29 Nov), looked at the week after.
    app.set_now(t0() + Duration::days(7));
    let (s, d) = get_as(&app, &sergeant, "/api/v1/dip-samples").await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["week"], "2026-W48");
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "both records: fewer than five that week");
    let checklist: Vec<String> =
        d["checklist"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    let mut answers: serde_json::Map<String, Value> = checklist.iter().map(|c| (c.clone(), json!(true))).collect();
    let (s, c) =
        post_as(&app, &sergeant, &format!("/api/v1/dip-samples/{}", items[0]["id"]), &json!({"answers": answers}))
            .await;
    assert_eq!((s, c["passed"].as_bool()), (200, Some(true)), "{c}");
    answers.insert("right_category".into(), json!(false));
    let (s, c) =
        post_as(&app, &sergeant, &format!("/api/v1/dip-samples/{}", items[1]["id"]), &json!({"answers": answers}))
            .await;
    assert_eq!((s, c["passed"].as_bool()), (200, Some(false)), "{c}");
    answers.remove("right_category");
    let (s, c) =
        post_as(&app, &sergeant, &format!("/api/v1/dip-samples/{}", items[1]["id"]), &json!({"answers": answers}))
            .await;
    assert_eq!(s, 422);
    assert_eq!(c["errors"][0]["field"], "answers.right_category");
    let (s, _) = get_as(&app, &app.token, "/api/v1/dip-samples").await;
    assert_eq!(s, 403, "call handlers do not dip-sample");

    // The measures, as an analyst sees them.
    let (s, m) = get_as(&app, &analyst, "/api/v1/measures?from=2026-11&to=2026-11").await;
    assert_eq!(s, 200, "{m}");
    let f = &m["force"]["total"];
    assert_eq!(f["contacts"], 2);
    assert_eq!(f["risk_completed"], 0, "the API contacts left questions unasked");
    assert_eq!(f["reviews_due"], 1);
    assert_eq!(f["reviews_on_time"], 0);
    assert_eq!(f["reviews_on_time_share"], 0.0);
    assert_eq!(f["dip_checked"], 2);
    assert_eq!(f["dip_pass_rate"], 0.5);
    assert_eq!(f["code_disagreement_share"], 0.0);
    assert_eq!(f["victims_updated"], 2);
    assert_eq!(f["first_update_median_hours"], 12.5, "median of 5 h and 20 h");
    let camden = m["boroughs"].as_array().unwrap().iter().find(|b| b["code"] == CAMDEN).unwrap();
    assert_eq!(camden["months"][0]["month"], "2026-11");
    assert_eq!(camden["months"][0]["contacts"], 2);
    assert!(m["definitions"]["reviews_on_time_share"].as_str().unwrap().contains("due"));
    let (s, e) = get_as(&app, &analyst, "/api/v1/measures?from=2026-13").await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["errors"][0]["field"], "from");
    let (s, _) = get_as(&app, &app.token, "/api/v1/measures").await;
    assert_eq!(s, 403, "call handlers do not see the measures");
}

#[tokio::test]
async fn the_pages_show_the_queue_the_review_form_and_the_measures() {
    let app = TestApp::start().await;
    app.user("sgt", CAMDEN, &["sergeant"], Some("sergeant-password")).await;
    let reference = high_risk(&app, "07700 900205").await;
    app.set_now(t0() + Duration::hours(25));
    let mut b = app.browser();
    b.sign_in("sgt", "sergeant-password").await;
    let q = b.get("/supervision").await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert!(q.body.contains(&reference) && q.body.contains("1 overdue") && q.body.contains(">Overdue<"), "{}", q.body);

    let page = format!("/supervision/incidents/{reference}");
    let form = b.get(&page).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"csrf\""));
    // Lowering without a reason: the form again, with an error summary linking to the reason.
    let lower = [
        ("decision", "change"),
        ("category", "personal"),
        ("type_code", "211"),
        ("qualifiers", "635"),
        ("risk_level", "medium"),
        ("reason", ""),
    ];
    let r = b.post(&page, &lower).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("govuk-error-summary") && r.body.contains("href=\"#reason\""), "{}", r.body);
    let mut with_reason = lower.to_vec();
    with_reason[5] = ("reason", "Threats not repeated; victim content with SPOC contact");
    let r = b.post(&page, &with_reason).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some(format!("/supervision?reviewed={reference}").as_str()));
    let after = b.get(&page).await;
    assert!(after.body.contains("Threats not repeated"), "{}", after.body);

    let m = b.get("/measures?from=2026-11&to=2026-11").await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(m.body.contains("<svg") && m.body.contains("Supervisory reviews on time"), "{}", m.body);
    let d = b.get("/supervision/dip-sample").await;
    assert_eq!(d.status, 200, "{}", d.body);
}

#[tokio::test]
async fn a_neighbourhood_teams_sergeant_supervises_its_borough_and_its_reports_are_police_reports() {
    let app = TestApp::start().await;
    let team = "MPS-E09000007-SNT";
    let sergeant = app.user("team_sergeant", team, &["sergeant"], None).await;
    let officer = app.user("team_officer", team, &["neighbourhood_officer"], None).await;
    // A report the team's officer takes is a police report, so it is reviewed.
    let mut c = contact("Rita Patel", "07700 900299");
    c["risk_answers"] = json!({"threats_or_violence": true});
    let (s, r) = post_as(&app, &officer, "/api/v1/contacts", &c).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["organisation"], "Camden Safer Neighbourhoods Team (MPS)");
    let (s, q) = get_as(&app, &sergeant, "/api/v1/supervision/queue").await;
    assert_eq!(s, 200, "{q}");
    let refs: Vec<&str> = q["items"].as_array().unwrap().iter().map(|i| i["reference"].as_str().unwrap()).collect();
    assert_eq!(refs, [r["reference"].as_str().unwrap()], "{q}");
    // And the team reads the borough's police records as its own work (no reason asked).
    let (s, _) = get_as(&app, &officer, &format!("/api/v1/incidents/{}", high_risk(&app, "07700 900298").await)).await;
    assert_eq!(s, 200);
}
