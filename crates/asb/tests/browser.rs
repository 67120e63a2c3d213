//! The call-handler journey in real headless Chromium, from sign-in to the reference number, by
//! keyboard. Screenshots are kept in `test-artifacts/`. Needs Debian's `chromium` and
//! `chromium-driver`; skipped when they are absent unless ASB_REQUIRE_BROWSER=1 (as in CI).

use asb_domain::contact::ContactInput;
use asb_domain::Policies;
use asb_server::AppState;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ENTER: &str = "\u{E007}";

struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_for_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("'{needle}' did not appear in {css}; last text: {last}");
}

async fn key(c: &Client, css: &str, keys: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(keys)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_handler_journey_from_sign_in_to_reference() {
    let Some((c, _driver, _profile)) = start_chromium().await else { return };

    // The app, in process, with a caller who has reported twice before.
    let dir = tempfile::tempdir().unwrap();
    // On PostgreSQL when ASB_TEST_DATABASE_URL names a server, as the other integration tests.
    let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
    store.seed_organisations().await.unwrap();
    let hash = asb_server::hash_password("demo-callhandler").unwrap();
    store.ensure_user("callhandler", "Call handler (demo)", "MPS", &["call_handler"], Some(&hash)).await.unwrap();
    let policies = Policies::defaults();
    for days in [30, 5] {
        let input: ContactInput = serde_json::from_value(json!({
            "channel": "phone_101", "caller": {"name": "Rita Patel", "phone": "07700 900123"}, "caller_is_victim": true,
            "received_at": (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339(),
            "location": {"address": "27 Station Road", "postcode": "NW1 2AB"}, "narrative": "Stones thrown at the window",
            "category": "personal", "type_code": 204, "risk_answers": {"feel_targeted": true}, "organisation": if days == 30 { "LBC-E09000007" } else { "MPS" }
        }))
        .unwrap();
        let c = input.validate(&policies.risk, chrono::Utc::now()).unwrap();
        store.record_contact(&policies, chrono::Utc::now(), &c, None).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(asb_server::serve(AppState::new(store.clone(), policies), listener));

    // Signing in: the report page sends strangers to the login page.
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    key(&c, "#username", "callhandler").await;
    key(&c, "#password", &format!("wrong{ENTER}")).await;
    wait_for_text(&c, ".govuk-error-summary", "Enter a correct username and password").await;
    key(&c, "#password", &format!("demo-callhandler{ENTER}")).await;
    // The start page offers the work the role allows; a call handler takes reports.
    let work = wait_for_text(&c, "#work", "Take a report").await;
    assert!(!work.contains("Users") && !work.contains("Review queue"), "a call handler's start page: {work}");
    c.find(Locator::LinkText("Take a report")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, "h1", "Record an ASB report").await;

    // Submitting too early re-renders the form with a GOV.UK error summary naming each gap.
    key(&c, "#caller_phone", ENTER).await;
    let summary = wait_for_text(&c, ".govuk-error-summary", "There is a problem").await;
    for expected in ["Describe what happened", "Choose a category", "Ask: Has anyone threatened you or used violence?"]
    {
        assert!(summary.contains(expected), "{expected} missing from the error summary: {summary}");
    }
    let link = c.find(Locator::Css(".govuk-error-summary__list a[href='#narrative']")).await.unwrap();
    assert_eq!(link.text().await.unwrap(), "Describe what happened");
    assert_eq!(store.counts().await.unwrap().incidents, 2, "nothing recorded");

    // The live panel answers while the caller is still speaking.
    key(&c, "#caller_phone", "(07700) 900-123").await;
    let panel = wait_for_text(&c, "#history-panel", "Repeat victim").await;
    assert!(panel.contains("3rd report by this caller in 12 months"), "{panel}");
    assert!(panel.contains("London Borough of Camden"), "partner reports count: {panel}");
    assert!(panel.contains("Case review: 2 of 3"), "{panel}");
    key(&c, "#caller_name", "Rita Patel").await;
    key(&c, "#caller_is_victim", " ").await;
    key(&c, "#location_address", "27 Station Road").await;
    key(&c, "#location_postcode", "nw1 2ab").await;
    wait_for_text(&c, "#history-panel", "The place").await;
    c.screenshot().await.map(|png| std::fs::write(artifacts().join("call-handler-panel.png"), png).unwrap()).unwrap();

    // Risk questions, by keyboard: space selects a radio.
    for q in Policies::defaults().risk.questions {
        let id = if ["happened_before", "feel_targeted", "unsafe_at_home"].contains(&q.id.as_str()) {
            q.id.clone()
        } else {
            format!("{}-no", q.id)
        };
        key(&c, &format!("#{id}"), " ").await;
    }
    key(&c, "#narrative", "Youths throwing stones at the front window again, third time this month").await;
    key(&c, "#category", " ").await; // personal
    key(&c, "#type_code-204", " ").await;
    // Enter in a text field submits the form.
    key(&c, "#subject_description", &format!("Three teenagers on bikes{ENTER}")).await;

    let reference = wait_for_text(&c, "#reference", "ASB-").await;
    assert!(reference.parse::<asb_domain::IncidentRef>().is_ok(), "{reference}");
    let steps = c.find(Locator::Css("#next-steps")).await.unwrap().text().await.unwrap();
    assert!(steps.contains(&format!("Your reference is {reference}")), "{steps}");
    assert!(steps.contains("case review"), "3rd complaint: tell the caller about the case review: {steps}");
    // 2+3+3 = 8, +3 repeat = 11: medium, and the system applied 610 and 635.
    let risk = c.find(Locator::Css("#risk-level")).await.unwrap().text().await.unwrap();
    assert!(risk.starts_with("medium (score 11)"), "{risk}");
    let page = c.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(page.contains("610 Repeat caller") && page.contains("635 Vulnerable"), "{page}");
    c.screenshot().await.map(|png| std::fs::write(artifacts().join("call-handler-journey.png"), png).unwrap()).unwrap();

    // The record is there, recorded by the signed-in handler.
    let log = store.audit_for("incident", &reference).await.unwrap();
    assert_eq!(log[0].action, "collection");
    assert_eq!(log[0].user.as_deref(), Some("callhandler"));
    c.close().await.unwrap();
}

/// chromedriver and a headless Chromium, or `None` (skipped) when they are not installed.
async fn start_chromium() -> Option<(Client, Driver, tempfile::TempDir)> {
    let required = std::env::var("ASB_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(driver_bin), Some(chromium)) =
        (find_binary(&["chromedriver"]), find_binary(&["chromium", "chromium-browser"]))
    else {
        assert!(!required, "ASB_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed");
        eprintln!("SKIPPED: chromium/chromedriver not installed (set ASB_REQUIRE_BROWSER=1 to require them)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Driver(
        Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1800",
            format!("--user-data-dir={}", profile.path().display())]}),
    );
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return Some((c, driver, profile)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("chromedriver did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sergeant_works_the_review_queue() {
    let Some((c, _driver, _profile)) = start_chromium().await else { return };

    // Camden: a high-risk report recorded 25 hours ago (its first review overdue by an hour) and
    // a medium-risk one recorded an hour ago; a sergeant in the borough.
    let dir = tempfile::tempdir().unwrap();
    let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
    store.seed_organisations().await.unwrap();
    let hash = asb_server::hash_password("demo-sergeant").unwrap();
    store.ensure_user("sergeant", "Sergeant (demo)", "MPS-E09000007", &["sergeant"], Some(&hash)).await.unwrap();
    let policies = Policies::defaults();
    let now = chrono::Utc::now();
    let mut references = Vec::new();
    for (hours, phone, answers) in [
        (25, "07700 900301", json!({"threats_or_violence": true})),
        (1, "07700 900302", json!({"feel_targeted": true, "unsafe_at_home": true, "happened_before": true})),
    ] {
        let at = now - chrono::Duration::hours(hours);
        let input: ContactInput = serde_json::from_value(json!({
            "channel": "phone_101", "caller": {"name": if hours == 25 { "Amina Yusuf" } else { "Tom Baker" }, "phone": phone}, "caller_is_victim": true,
            "received_at": at.to_rfc3339(), "organisation": "MPS",
            "location": {"address": "14 Camden Street", "postcode": "NW1 0HE"}, "narrative": "Threats shouted through the letterbox",
            "category": "personal", "type_code": 204, "risk_answers": answers
        }))
        .unwrap();
        let contact = input.validate(&policies.risk, at).unwrap();
        references.push(store.record_contact(&policies, at, &contact, None).await.unwrap().reference);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(asb_server::serve(AppState::new(store.clone(), policies), listener));

    // Sign in; the start page offers the review queue.
    c.goto(&format!("{base}/supervision")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    key(&c, "#username", "sergeant").await;
    key(&c, "#password", &format!("demo-sergeant{ENTER}")).await;
    wait_for_text(&c, "body", "Review queue").await;
    c.goto(&format!("{base}/supervision")).await.unwrap();

    // The queue: the overdue review first, marked and counted.
    let counts = wait_for_text(&c, "#queue-counts", "1 overdue").await;
    assert!(counts.contains("2 due"), "{counts}");
    let first = c.find(Locator::Css("#queue tbody tr")).await.unwrap().text().await.unwrap();
    assert!(first.contains(&references[0]) && first.contains("Overdue"), "overdue first: {first}");
    let second = c.find(Locator::Css(&format!("#queue-{}", references[1]))).await.unwrap().text().await.unwrap();
    assert!(!second.contains("Overdue"), "{second}");
    c.screenshot().await.map(|png| std::fs::write(artifacts().join("supervisor-queue.png"), png).unwrap()).unwrap();

    // Open the overdue one and lower its risk without a reason: refused, the reason named.
    c.find(Locator::LinkText(&references[0])).await.unwrap().click().await.unwrap();
    wait_for_text(&c, "h1", &format!("Review {}", references[0])).await;
    assert_eq!(
        c.find(Locator::Css("#opening-risk")).await.unwrap().text().await.unwrap(),
        "high (questionnaire: high)"
    );
    key(&c, "#risk_level-medium", " ").await;
    c.find(Locator::Css("#record-review")).await.unwrap().click().await.unwrap();
    let summary =
        wait_for_text(&c, ".govuk-error-summary", "Give a reason for lowering the risk level from high to medium")
            .await;
    assert!(summary.contains("There is a problem"), "{summary}");
    let link = c.find(Locator::Css(".govuk-error-summary__list a[href='#reason']")).await.unwrap();
    link.click().await.unwrap();

    // With a reason it is recorded: late, and the queue says so.
    key(&c, "#reason", "Spoke to the victim: the threat was a one-off and the subject has moved away").await;
    c.find(Locator::Css("#record-review")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, "#review-done", &format!("Review of {} recorded", references[0])).await;
    let counts = wait_for_text(&c, "#queue-counts", "0 overdue").await;
    assert!(counts.contains("1 due"), "{counts}");

    // The record keeps both values and the reason.
    c.goto(&format!("{base}/supervision/incidents/{}", references[0])).await.unwrap();
    assert_eq!(wait_for_text(&c, "#current-risk", "medium").await, "medium");
    assert!(c.find(Locator::Css("#opening-risk")).await.unwrap().text().await.unwrap().starts_with("high"));
    let reviews = c.find(Locator::Css("#reviews")).await.unwrap().text().await.unwrap();
    assert!(reviews.contains("changed (Late)") && reviews.contains("one-off"), "{reviews}");
    let changes = c.find(Locator::Css("#changes")).await.unwrap().text().await.unwrap();
    assert!(changes.contains("risk level") && changes.contains("high") && changes.contains("medium"), "{changes}");
    c.screenshot().await.map(|png| std::fs::write(artifacts().join("supervisor-review.png"), png).unwrap()).unwrap();

    // The medium one, confirmed as recorded.
    c.goto(&format!("{base}/supervision/incidents/{}", references[1])).await.unwrap();
    wait_for_text(&c, "h1", &references[1]).await;
    c.find(Locator::Css("#confirm-review")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, "#review-done", &references[1]).await;
    let empty = wait_for_text(&c, "main", "Nothing is due for review").await;
    assert!(empty.contains("0 overdue"), "{empty}");

    let log = store.audit_for("incident", &references[0]).await.unwrap();
    assert!(log.iter().any(|e| e.action == "alteration" && e.user.as_deref() == Some("sergeant")));
    c.close().await.unwrap();
}
