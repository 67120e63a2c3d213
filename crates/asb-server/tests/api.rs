//! The HTTP API against a real server on a random port with a fresh database.

mod common;

use chrono::Duration;
use common::{contact, t0, TestApp};
use serde_json::{json, Value};

fn refs(v: &Value) -> Vec<String> {
    v["earlier"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn healthz_and_readyz() {
    let app = TestApp::start().await;
    let r = reqwest::get(format!("{}/healthz", app.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = reqwest::get(format!("{}/readyz", app.url)).await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "ready");
    // The engine under test and the latest migration (10 on both engines: 0010 ASB-only indexes).
    assert_eq!(r["database"], app.store.engine().name(), "{r}");
    assert_eq!(r["schema_version"], 11, "{r}");
    assert_eq!(r["reads_from"], "primary", "no replicas configured: {r}");
}

#[tokio::test]
async fn one_caller_written_three_ways_is_one_person_and_the_third_is_a_repeat() {
    let app = TestApp::start().await;
    let (s1, r1) = app.post_contact(&contact("John Smith", "07700 900123")).await;
    assert_eq!(s1, 201, "{r1}");
    assert_eq!(r1["repeat_victim"]["flag"], false);
    assert!(r1["reference"].as_str().unwrap().starts_with("ASB-26-"));

    app.set_now(t0() + Duration::days(3));
    let (s2, r2) = app.post_contact(&contact("Jon Smyth", "+44 7700 900123")).await;
    assert_eq!(s2, 201, "{r2}");
    app.set_now(t0() + Duration::days(9));
    let mut third = contact("JOHN SMITH", "(07700) 900-123");
    third["caller"]["date_of_birth"] = json!("14/06/1975");
    let (s3, r3) = app.post_contact(&third).await;
    assert_eq!(s3, 201, "{r3}");

    assert_eq!(r1["person_id"], r2["person_id"]);
    assert_eq!(r2["person_id"], r3["person_id"]);
    let rv = &r3["repeat_victim"];
    assert_eq!(rv["flag"], true);
    assert_eq!(rv["rule"], "repeat-victim");
    assert_eq!(rv["version"], 1);
    assert_eq!(refs(rv), vec![r2["reference"].as_str().unwrap(), r1["reference"].as_str().unwrap()]);
    assert!(rv["reason"].as_str().unwrap().starts_with("3rd report by this caller in 12 months"), "{rv}");
    assert!(r3["qualifiers"].as_array().unwrap().contains(&json!(610)));
    // The repeat bonus (3) lifts 2+2 to 7: still standard. Case review: 3 of 3.
    assert_eq!(r3["risk"]["score"], 7);
    assert_eq!(r3["case_review"]["qualifying_complaints"], 3);
    assert_eq!(r3["case_review"]["met"], true);

    // The check finds the one person from any of the three spellings.
    for q in ["phone=07700%20900123", "phone=%2B447700900123", "name=Jon%20Smyth&date_of_birth=1975-06-14"] {
        let (s, c) = app.get(&format!("/api/v1/first-contact-check?{q}")).await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["people"].as_array().unwrap().len(), 1, "{q}: {c}");
        assert_eq!(c["people"][0]["history"]["total"], 3);
        assert_eq!(c["repeat_victim"]["flag"], true);
        assert_eq!(c["case_review"]["qualifying_complaints"], 3);
        assert_eq!(c["case_review"]["threshold"], 3);
    }
    // A name alone never matches.
    let (_, c) = app.get("/api/v1/first-contact-check?name=John%20Smith").await;
    assert_eq!(c["people"].as_array().unwrap().len(), 0, "{c}");
    assert_eq!(app.store.counts().await.unwrap().people, 1);
}

#[tokio::test]
async fn repeat_victim_window_is_twelve_months_to_the_day() {
    let app = TestApp::start().await;
    // Caller A reported 366 days ago; caller B exactly 365 days ago.
    let mut a = contact("Alice Brown", "07700 900001");
    a["received_at"] = json!((t0() - Duration::days(366)).to_rfc3339());
    let mut b = contact("Bola Adeyemi", "07700 900002");
    b["received_at"] = json!((t0() - Duration::days(365)).to_rfc3339());
    b["location"] = json!({"address": "4 Mill Lane", "postcode": "E8 1AA"});
    assert_eq!(app.post_contact(&a).await.0, 201);
    let (_, old_b) = app.post_contact(&b).await;

    let (_, ra) = app.post_contact(&contact("Alice Brown", "07700 900001")).await;
    assert_eq!(ra["repeat_victim"]["flag"], false, "366 days old does not count: {ra}");
    assert_eq!(
        ra["repeat_victim"]["reason"],
        "No earlier report by this caller in the last 12 months — repeat victim rule v1"
    );
    let mut b2 = contact("Bola Adeyemi", "07700 900002");
    b2["location"] = json!({"address": "4 Mill Lane", "postcode": "E8 1AA"});
    let (_, rb) = app.post_contact(&b2).await;
    assert_eq!(rb["repeat_victim"]["flag"], true, "365 days old counts: {rb}");
    assert_eq!(refs(&rb["repeat_victim"]), vec![old_b["reference"].as_str().unwrap()]);
}

#[tokio::test]
async fn a_report_to_the_council_makes_the_first_police_call_a_repeat() {
    let app = TestApp::start().await;
    let mut council = contact("Grace Okafor", "07700 900444");
    council["organisation"] = json!("LBC-E09000007");
    council["channel"] = json!("in_person");
    council["received_at"] = json!((t0() - Duration::days(20)).to_rfc3339());
    let (s, rc) = app.post_contact(&council).await;
    assert_eq!(s, 201, "{rc}");
    assert_eq!(rc["organisation"], "London Borough of Camden");

    // Before the call is recorded, the check already says so.
    let (_, c) = app.get("/api/v1/first-contact-check?phone=07700900444").await;
    assert_eq!(c["repeat_victim"]["flag"], true, "{c}");
    assert_eq!(c["people"][0]["history"]["by_partners"], 1);

    let (_, police) = app.post_contact(&contact("Grace Okafor", "07700 900444")).await;
    assert_eq!(police["organisation"], "Metropolitan Police Service");
    let rv = &police["repeat_victim"];
    assert_eq!(rv["flag"], true, "{police}");
    assert!(rv["reason"].as_str().unwrap().contains("London Borough of Camden"), "{rv}");
    assert_eq!(refs(rv), vec![rc["reference"].as_str().unwrap()]);
}

#[tokio::test]
async fn the_default_questionnaire_scores_as_documented() {
    let app = TestApp::start().await;
    let all_yes: serde_json::Map<String, Value> =
        asb_domain::Policies::defaults().risk.questions.iter().map(|q| (q.id.clone(), json!(true))).collect();
    let all_no: serde_json::Map<String, Value> = all_yes.keys().map(|k| (k.clone(), json!(false))).collect();
    let cases = [
        (json!(all_yes), "high", "07700 900101"),
        (json!({"threats_or_violence": true}), "high", "07700 900102"),
        (json!(all_no), "standard", "07700 900103"),
    ];
    for (answers, level, phone) in cases {
        let mut c = contact("Sam Lee", phone);
        c["caller"]["date_of_birth"] = Value::Null;
        c["location"] = json!({"postcode": "SE1 7PB"});
        c["risk_answers"] = answers.clone();
        let (s, r) = app.post_contact(&c).await;
        assert_eq!(s, 201, "{r}");
        assert_eq!(r["risk"]["level"], level, "{answers}: {r}");
        assert_eq!(r["risk"]["questionnaire"], "risk-questionnaire@1");
        let has_635 = r["qualifiers"].as_array().unwrap().contains(&json!(635));
        assert_eq!(has_635, level == "high", "635 at medium or high: {r}");
        assert!(r["next_steps"].as_str().unwrap().len() > 40);
    }
}

#[tokio::test]
async fn overrides_raise_with_a_reason_and_never_lower() {
    let app = TestApp::start().await;
    let mut up = contact("Priya Shah", "07700 900201");
    up["risk_override"] = json!({"level": "high", "reason": "Caller is housebound and very frightened"});
    let (s, r) = app.post_contact(&up).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["risk"]["level"].as_str(), r["risk"]["assessed_level"].as_str()), (Some("high"), Some("standard")));

    let before = app.store.counts().await.unwrap();
    let mut down = contact("Priya Shah", "07700 900201");
    down["risk_answers"] = json!({"threats_or_violence": true});
    down["risk_override"] = json!({"level": "standard", "reason": "seems fine"});
    let (s, r) = app.post_contact(&down).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "risk_override.level");
    assert_eq!(app.store.counts().await.unwrap(), before, "nothing written");
}

#[tokio::test]
async fn every_invalid_field_gets_422_naming_it_and_nothing_is_written() {
    let app = TestApp::start().await;
    let before = app.store.counts().await.unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("channel", json!({"channel": "carrier pigeon"})),
        ("channel", json!({"channel": null})),
        ("received_at", json!({"received_at": "yesterday"})),
        ("received_at", json!({"received_at": "2099-01-01T00:00:00Z"})),
        ("organisation", json!({"organisation": "NOT-AN-ORG"})),
        ("caller.name", json!({"caller": {"name": "R2D2", "phone": "07700 900123"}})),
        ("caller.phone", json!({"caller": {"phone": "12345"}})),
        ("caller.date_of_birth", json!({"caller": {"phone": "07700 900123", "date_of_birth": "1990-13-45"}})),
        ("caller.postcode", json!({"caller": {"phone": "07700 900123", "postcode": "NOPE"}})),
        ("caller_is_victim", json!({"caller_is_victim": null})),
        ("location", json!({"location": {}})),
        ("location.postcode", json!({"location": {"postcode": "XX1"}})),
        ("location.lat", json!({"location": {"lat": 91.0, "lon": 0.1}})),
        ("location.lon", json!({"location": {"lat": 51.5}})),
        ("narrative", json!({"narrative": "   "})),
        ("category", json!({"category": "crime"})),
        ("type_code", json!({"type_code": 325})),
        ("type_code", json!({"type_code": "noise"})),
        ("subjects[0]", json!({"subjects": [{}]})),
        ("qualifiers[0]", json!({"qualifiers": [999]})),
        ("risk_answers", json!({"risk_answers": null})),
        ("risk_answers.feeling_lucky", json!({"risk_answers": {"feeling_lucky": true}})),
        ("risk_override.reason", json!({"risk_override": {"level": "high"}})),
        ("risk_override.level", json!({"risk_override": {"level": "extreme", "reason": "x"}})),
    ];
    for (field, change) in cases {
        let mut body = contact("Test Caller", "07700 900999");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, r) = app.post_contact(&body).await;
        assert_eq!(s, 422, "{field}: {r}");
        let named: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(named.contains(&field), "{field} not named in {r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().len() > 5);
        assert_eq!(r["status"], 422);
    }
    // Several bad fields at once are all named.
    let mut many = contact("Test Caller", "123");
    many["category"] = json!("crime");
    many["type_code"] = json!(1);
    let (_, r) = app.post_contact(&many).await;
    assert_eq!(r["errors"].as_array().unwrap().len(), 3, "{r}");

    // Unreadable bodies are 400 problem+json naming what they can.
    let (s, ct, r) = app.post_raw("{not json").await;
    assert_eq!((s, ct.as_str()), (400, "application/problem+json"), "{r}");
    let (s, _, r) = app.post_raw(r#"{"channel": 5}"#).await;
    assert_eq!(s, 400);
    assert_eq!(r["errors"][0]["field"], "channel", "{r}");
    let (s, _, r) = app.post_raw(r#"{"chanel": "phone_101"}"#).await;
    assert_eq!(s, 400);
    assert_eq!(r["errors"][0]["field"], "chanel", "{r}");
    let (s, _, r) = app.post_raw(r#"{"caller_is_victim": "yes"}"#).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (400, Some("caller_is_victim")), "{r}");

    assert_eq!(app.store.counts().await.unwrap(), before, "nothing was written");
}

#[tokio::test]
async fn repeat_location_counts_reports_within_50_metres_in_90_days() {
    let app = TestApp::start().await;
    // Three earlier reports by different callers within ~30 m of each other, one 100 m away.
    let points = [(51.53900, -0.14250), (51.53920, -0.14260), (51.53890, -0.14220), (51.54000, -0.14300)];
    for (i, (lat, lon)) in points.iter().enumerate() {
        let mut c = contact("Neighbour", &format!("07700 90031{i}"));
        c["caller"]["name"] = json!(format!("Neighbour Number {}", ["One", "Two", "Three", "Four"][i]));
        c["location"] = json!({"lat": lat, "lon": lon});
        c["category"] = json!("nuisance");
        c["received_at"] = json!((t0() - Duration::days(10 + i as i64)).to_rfc3339());
        assert_eq!(app.post_contact(&c).await.0, 201);
    }
    // Two more at the first point: one 200 days ago (in the 12 months, not the 90 days) and one
    // 400 days ago (in neither).
    for (i, days) in [(5, 200), (6, 400)] {
        let mut c = contact("Neighbour", &format!("07700 90031{i}"));
        c["caller"]["name"] = json!(format!("Neighbour Number {}", ["Five", "Six"][i - 5]));
        c["location"] = json!({"lat": points[0].0, "lon": points[0].1});
        c["received_at"] = json!((t0() - Duration::days(days)).to_rfc3339());
        assert_eq!(app.post_contact(&c).await.0, 201);
    }
    let (_, c) = app.get("/api/v1/first-contact-check?lat=51.5391&lon=-0.1424").await;
    assert_eq!(c["repeat_location"]["flag"], true, "{c}");
    assert_eq!(c["repeat_location"]["earlier"].as_array().unwrap().len(), 3, "the 4th is over 50 m away: {c}");
    let place = &c["place"]["history"];
    assert_eq!((place["last_90_days"].as_u64(), place["last_12_months"].as_u64()), (Some(3), Some(4)), "{c}");
    assert_eq!(place["open"].as_array().unwrap().len(), 4, "open references in the 12 months: {c}");
    assert_eq!(c["place"]["incidents"].as_array().unwrap().len(), 3, "shown: the 90 days' reports: {c}");
    assert_eq!(c["place"]["incidents"][0]["reference"], c["repeat_location"]["earlier"][0], "newest first");
    let (_, far) = app.get("/api/v1/first-contact-check?lat=51.5450&lon=-0.1500").await;
    assert_eq!(far["repeat_location"]["flag"], false);
    assert!(
        far["repeat_location"]["reason"].as_str().unwrap().starts_with("0 earlier reports at or within 50 m"),
        "{far}"
    );
    // An address nobody has reported before is still a location: counted, not "not given".
    let (_, new) = app.get("/api/v1/first-contact-check?address=1%20Nowhere%20Lane&postcode=E1%206AN").await;
    assert!(new["repeat_location"]["reason"].as_str().unwrap().starts_with("0 earlier reports"), "{new}");
    let (_, none) = app.get("/api/v1/first-contact-check?phone=07700900310").await;
    assert!(none["repeat_location"]["reason"].as_str().unwrap().starts_with("No location given yet"), "{none}");
}

#[tokio::test]
async fn earlier_risk_marks_the_caller_known_vulnerable() {
    let app = TestApp::start().await;
    let mut first = contact("Mary Jones", "07700 900555");
    first["risk_answers"] = json!({"feel_targeted": true, "hate_motivated": true});
    first["received_at"] = json!((t0() - Duration::days(40)).to_rfc3339());
    let (_, r1) = app.post_contact(&first).await;
    assert_eq!(r1["risk"]["level"], "high");
    let (_, c) = app.get("/api/v1/first-contact-check?phone=07700900555").await;
    assert_eq!(c["vulnerable"]["flag"], true, "{c}");
    assert!(c["vulnerable"]["reason"].as_str().unwrap().contains(r1["reference"].as_str().unwrap()));
    assert_eq!(c["people"][0]["history"]["open"][0], r1["reference"]);
}

#[tokio::test]
async fn incidents_policies_and_openapi() {
    let app = TestApp::start().await;
    let mut c = contact("Tom Clark", "07700 900666");
    c["subjects"] = json!([{"name": "Dave Noisy"}, {"description": "two men in a white van"}]);
    c["qualifiers"] = json!([637]);
    let (_, r) = app.post_contact(&c).await;
    let reference = r["reference"].as_str().unwrap();
    let (s, i) = app.get(&format!("/api/v1/incidents/{reference}")).await;
    assert_eq!(s, 200, "{i}");
    assert_eq!(i["type_code"], 211);
    assert_eq!(i["opening_category"], "personal");
    assert_eq!(i["people"].as_array().unwrap().len(), 3);
    assert_eq!(i["qualifiers"][0]["code"], 637);
    assert_eq!(i["verdicts"]["repeat_victim"]["rule"], "repeat-victim");
    // Lower case and spaces, as read over the phone.
    let spoken = reference.to_lowercase().replace('-', "%20");
    assert_eq!(app.get(&format!("/api/v1/incidents/{spoken}")).await.0, 200);
    assert_eq!(app.get("/api/v1/incidents/ASB-26-0000001").await.0, 422, "wrong check digit");
    let missing = asb_domain::IncidentRef::new(2026, 999_999).to_string();
    assert_eq!(app.get(&format!("/api/v1/incidents/{missing}")).await.0, 404);
    // Recording is logged as collection, and each of the two views as a consultation by the user.
    let log = app.store.audit_for("incident", reference).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["collection", "consultation", "consultation"]
    );
    assert!(log.iter().all(|e| e.user.as_deref() == Some("handler")));

    let (_, p) = app.get("/api/v1/policies").await;
    assert_eq!(p["repeat_victim"]["window_days"], 365);
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in
        ["/contacts", "/first-contact-check", "/incidents/{reference}", "/policies", "/taxonomy", "/openapi.json"]
    {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
}

#[tokio::test]
async fn staff_calls_need_a_bearer_token() {
    let app = TestApp::start().await;
    let r = reqwest::get(format!("{}/api/v1/first-contact-check?phone=07700900123", app.url)).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = app.client.get(format!("{}/api/v1/policies", app.url)).bearer_auth("asb_wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The check with nothing to look up is a 422, and bad fields are named.
    let (s, r) = app.get("/api/v1/first-contact-check").await;
    assert_eq!(s, 422, "{r}");
    let (s, r) = app.get("/api/v1/first-contact-check?phone=abc&lat=x").await;
    assert_eq!(s, 422);
    let named: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(named, vec!["lat", "phone"]);
}

#[tokio::test]
async fn checks_are_logged_without_the_values_searched_for() {
    let app = TestApp::start().await;
    app.post_contact(&contact("Lucy Gray", "07700 900777")).await;
    app.get("/api/v1/first-contact-check?phone=07700900777&name=Lucy%20Gray").await;
    let latest = app.store.audit_recent(1).await.unwrap().remove(0);
    assert_eq!(
        (latest.action.as_str(), latest.subject_type.as_str(), latest.purpose.as_str()),
        ("consultation", "search", "first-contact check")
    );
    assert_eq!(latest.user.as_deref(), Some("handler"));
    assert_eq!(latest.detail["fields"], json!(["phone", "name"]));
    assert_eq!(latest.detail["people"].as_array().unwrap().len(), 1, "whose record was seen is logged");
    let text = latest.detail.to_string();
    assert!(!text.contains("900777") && !text.contains("Lucy"), "no searched-for values in the log: {text}");
    // A place alone is logged too (written while the search runs).
    app.get("/api/v1/first-contact-check?lat=51.5301&lon=-0.1201").await;
    let latest = app.store.audit_recent(1).await.unwrap().remove(0);
    assert_eq!((latest.action.as_str(), latest.detail["fields"].clone()), ("consultation", json!(["point"])));
    assert!(!latest.detail.to_string().contains("51.53"), "no coordinates in the log");
}

#[tokio::test]
async fn a_partner_caseworker_records_for_their_own_organisation() {
    let app = TestApp::start().await;
    app.store
        .ensure_user("caseworker", "Council caseworker", "LBC-E09000012", &["partner_caseworker"], None)
        .await
        .unwrap();
    let token = app.store.issue_token("caseworker", "api", None).await.unwrap();
    let r: Value = app
        .client
        .post(format!("{}/api/v1/contacts", app.url))
        .bearer_auth(token)
        .json(&contact("Femi Adebayo", "07700 900888"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["organisation"], "London Borough of Hackney", "{r}");
    // The police handler's first call then sees it.
    let (_, police) = app.post_contact(&contact("Femi Adebayo", "07700 900888")).await;
    assert_eq!(police["organisation"], "Metropolitan Police Service");
    assert_eq!(police["repeat_victim"]["flag"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_checks_all_answer() {
    // Far more checks at once than the read pool has connections: they queue, and all answer.
    let app = TestApp::start().await;
    app.post_contact(&contact("Omar Farouk", "07700 900999")).await;
    let checks = (0..96).map(|i| {
        let (client, url, token) = (app.client.clone(), app.url.clone(), app.token.clone());
        tokio::spawn(async move {
            let q = if i % 2 == 0 {
                "phone=07700900999"
            } else {
                "address=12%20Acacia%20Road&postcode=NW1%202AB&name=Omar%20Farouk"
            };
            client
                .get(format!("{url}/api/v1/first-contact-check?{q}"))
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    // Recordings at the same time: their audit events and the checks' share one hash chain.
    let recordings = (0..8).map(|i| {
        let (client, url, token) = (app.client.clone(), app.url.clone(), app.token.clone());
        let body = contact("Omar Farouk", &format!("07700 90{:04}", 1000 + i));
        tokio::spawn(async move {
            client
                .post(format!("{url}/api/v1/contacts"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let all = checks.chain(recordings).collect();
    let statuses =
        tokio::time::timeout(std::time::Duration::from_secs(30), futures_all(all)).await.expect("checks deadlocked");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 96, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 8, "{statuses:?}");
    // One event per check and per recording, plus the token and the first recording: one chain.
    let chain = app.store.verify_audit_chain().await.unwrap().expect("the chain holds");
    assert_eq!(chain.events, 96 + 8 + 2);
}

async fn futures_all(handles: Vec<tokio::task::JoinHandle<Result<u16, reqwest::Error>>>) -> Vec<u16> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}
