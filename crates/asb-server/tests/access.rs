//! Who may do what, end to end: every route walked with every role against the permission table;
//! signing in (lock-out, the second factor), CSRF on forms, and the audit trail's API.

mod common;

use asb_domain::access::{allows, AccessPolicy, Action, Role};
use asb_server::access::{Access, ROUTES};
use chrono::Duration;
use common::{contact, t0, TestApp};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";

/// A route's path with its parameters filled in from `reference` (an incident that exists).
fn concrete(path: &str, reference: &str) -> String {
    path.replace("{reference}", reference)
        .replace("{username}", "handler")
        .replace("{*path}", "asb.css")
        .replace("{id}", "1")
}

#[tokio::test]
async fn every_route_allows_exactly_the_roles_the_permission_table_names() {
    let app = TestApp::start().await;
    let (status, recorded) = app.post_contact(&contact("Maya Okafor", "07700 900123")).await;
    assert_eq!(status, 201, "{recorded}");
    let reference = recorded["reference"].as_str().unwrap().to_string();

    for role in Role::ALL {
        let username = format!("only_{role}");
        let token = app.user(&username, "MPS", &[role.as_str()], Some(PASSWORD)).await;
        for route in ROUTES {
            let path = concrete(route.path, &reference);
            let status = if route.path.starts_with("/api/") {
                let r = match route.method {
                    "GET" => app.client.get(format!("{}{path}", app.url)),
                    _ => app.client.post(format!("{}{path}", app.url)).json(&serde_json::json!({})),
                };
                r.bearer_auth(&token).send().await.unwrap().status().as_u16()
            } else {
                // Signed in afresh for each page: one of them is signing out.
                let mut b = app.browser();
                let signed_in = b.sign_in(&username, PASSWORD).await;
                assert_eq!(signed_in.status, 303, "{role} could not sign in: {}", signed_in.body);
                match route.method {
                    "GET" => b.get(&path).await.status,
                    _ => b.post(&path, &[]).await.status,
                }
            };
            let what = format!("{role} {} {path}", route.method);
            match route.access {
                // Public routes may still refuse bad input (a wrong password is 401), never the role.
                Access::Public => assert_ne!(status, 403, "{what}: 403 on a public route"),
                Access::Allowed(action) if allows(&[role], action) => {
                    assert!(status != 401 && status != 403, "{what}: {status}, but the table allows {action:?}")
                }
                Access::Allowed(action) => assert_eq!(status, 403, "{what}: the table does not allow {action:?}"),
            }
        }
    }
}

#[tokio::test]
async fn signed_out_the_api_says_401_and_pages_send_you_to_sign_in() {
    let app = TestApp::start().await;
    for route in ROUTES.iter().filter(|r| r.access != Access::Public) {
        let path = concrete(route.path, "ASB-26-000001");
        let mut b = app.browser();
        let page = match route.method {
            "GET" => b.get(&path).await,
            _ => {
                b.get("/login").await;
                b.post(&path, &[]).await
            }
        };
        if route.path.starts_with("/api/") {
            assert_eq!(page.status, 401, "{} {path}", route.method);
        } else {
            assert_eq!((page.status, page.location.as_deref()), (303, Some("/login")), "{} {path}", route.method);
        }
    }
}

#[tokio::test]
async fn forms_without_this_browsers_csrf_token_are_refused() {
    let app = TestApp::start().await;
    app.user("clerk", "MPS", &["call_handler"], Some(PASSWORD)).await;
    let mut b = app.browser();
    // Signing in is a form too: without the token (a page on another site posting it) it fails.
    b.get("/login").await;
    let forged = b.post_raw("/login", &[("username", "clerk"), ("password", PASSWORD)]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("This form has expired"));
    assert_eq!(b.sign_in("clerk", PASSWORD).await.status, 303);
    // Signed in by cookie, a report posted with another token is refused and nothing is saved.
    let before = app.store.counts().await.unwrap().incidents;
    let page = b.post_raw("/report", &[("csrf", "not-the-token"), ("narrative", "x")]).await;
    assert_eq!(page.status, 403);
    assert_eq!(app.store.counts().await.unwrap().incidents, before);
    // Signing out needs it too; with it, the session ends.
    assert_eq!(b.post_raw("/logout", &[]).await.status, 403);
    assert_eq!(b.get("/report").await.status, 200);
    assert_eq!(b.post("/logout", &[]).await.location.as_deref(), Some("/login"));
    assert_eq!(b.get("/report").await.location.as_deref(), Some("/login"));
}

/// The call handler's panel says a caller past the case-review threshold is over it, not "5 of 3".
#[tokio::test]
async fn the_panel_says_a_caller_past_the_case_review_threshold_is_over_it() {
    let app = TestApp::start().await;
    app.user("clerk", "MPS", &["call_handler"], Some(PASSWORD)).await;
    for n in 1..=5 {
        let (status, body) = app.post_contact(&contact("Jon Smyth", "07700 900123")).await;
        assert_eq!(status, 201, "report {n}: {body}");
    }
    let mut b = app.browser();
    assert_eq!(b.sign_in("clerk", PASSWORD).await.status, 303);
    let panel = b.get("/report/panel?caller_phone=07700%20900123").await;
    assert_eq!(panel.status, 200, "{}", panel.body);
    assert!(panel.body.contains("Case review: 5, over the threshold of 3</strong>"), "{}", panel.body);
    assert!(
        panel.body.contains("5 qualifying complaints in the last 6 months, over the threshold of 3"),
        "{}",
        panel.body
    );
    assert!(!panel.body.contains("5 of 3"), "{}", panel.body);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_the_policys_minutes() {
    let app = TestApp::start().await;
    app.user("clerk", "MPS", &["call_handler"], Some(PASSWORD)).await;
    let mut b = app.browser();
    for i in 0..5 {
        app.set_now(t0() + Duration::minutes(i));
        let page = b.sign_in("clerk", "wrong password here").await;
        assert_eq!(page.status, 401, "attempt {i}");
        assert!(page.body.contains("Enter a correct username and password"));
    }
    // Locked: the right password is refused too, with when to try again.
    let page = b.sign_in("clerk", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("too many failed attempts"), "{}", page.body);
    // An unknown username is treated alike, so lock-out does not tell who has an account.
    for _ in 0..5 {
        assert_eq!(b.sign_in("nobody", "wrong password here").await.status, 401);
    }
    assert_eq!(b.sign_in("nobody", "wrong password here").await.status, 429);
    // Fifteen minutes after the last failure the lock lifts.
    app.set_now(t0() + Duration::minutes(4 + 15) - Duration::seconds(1));
    assert_eq!(b.sign_in("clerk", PASSWORD).await.status, 429);
    app.set_now(t0() + Duration::minutes(4 + 15));
    assert_eq!(b.sign_in("clerk", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn a_second_factor_is_asked_for_and_can_be_required_by_role() {
    let mut access = AccessPolicy::defaults();
    access.require_second_factor = vec![Role::Administrator];
    let app = TestApp::start_with_access(access).await;
    app.user("boss", "MPS", &["administrator"], Some(PASSWORD)).await;
    app.user("clerk", "MPS", &["call_handler"], Some(PASSWORD)).await;

    // Required, and not set up: no way in with a password alone.
    let mut b = app.browser();
    let page = b.sign_in("boss", PASSWORD).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("needs a second factor"), "{}", page.body);
    assert!(b.session.is_none());
    // Not required, so a password is enough.
    assert_eq!(app.browser().sign_in("clerk", PASSWORD).await.status, 303);

    let secret = asb_server::new_totp_secret();
    app.store.set_second_factor("boss", Some(&secret), None).await.unwrap();
    let mut b = app.browser();
    let page = b.sign_in("boss", PASSWORD).await;
    assert_eq!(page.status, 200, "the code is asked for next");
    assert!(b.session.is_none(), "no session before the code");
    let pending = page.body.split("name=\"pending\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let wrong = b.post("/login/code", &[("pending", &pending), ("code", "000000")]).await;
    assert_eq!(wrong.status, 401);
    let code = asb_server::totp(&secret, "boss").unwrap().generate(t0().timestamp() as u64);
    let right = b.post("/login/code", &[("pending", &pending), ("code", &code)]).await;
    assert_eq!((right.status, right.location.as_deref()), (303, Some("/")), "{}", right.body);
    assert!(b.session.is_some());
    assert_eq!(b.get("/admin/users").await.status, 200);
    // The half-way token was used up.
    assert_eq!(b.post("/login/code", &[("pending", &pending), ("code", &code)]).await.status, 401);
}

#[tokio::test]
async fn administrators_see_who_looked_at_a_record_and_nobody_else_can() {
    let app = TestApp::start().await;
    let admin = app.user("boss", "MPS", &["administrator"], None).await;
    let sergeant = app.user("sarge", "MPS", &["sergeant"], None).await;
    let (_, recorded) = app.post_contact(&contact("Maya Okafor", "07700 900123")).await;
    let reference = recorded["reference"].as_str().unwrap();
    let person = recorded["person_id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("/api/v1/incidents/{reference}")).await.0, 200);
    assert_eq!(app.get("/api/v1/first-contact-check?phone=07700900123").await.0, 200);

    let audit = |token: String, subject: String| {
        let app = &app;
        async move {
            let r = app.client.get(format!("{}/api/v1/audit", app.url)).query(&[("subject", subject)]);
            let r = r.bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, events) = audit(admin.clone(), format!("incident:{reference}")).await;
    assert_eq!(status, 200, "{events}");
    let list = events.as_array().unwrap();
    let actions: Vec<&str> = list.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["collection", "consultation"], "{events}");
    for e in list {
        assert_eq!(e["user"], "handler");
        assert!(e["at"].is_string() && e["purpose"].is_string(), "{e}");
    }
    // A person's trail includes the searches that showed them.
    let (_, events) = audit(admin.clone(), format!("person:{person}")).await;
    assert!(
        events.as_array().unwrap().iter().any(|e| e["purpose"] == "first-contact check"),
        "the check that found the caller is in their trail: {events}"
    );
    // The page shows the same trail, counted in words.
    let n = events.as_array().unwrap().len();
    app.user("pageboss", "MPS", &["administrator"], Some(PASSWORD)).await;
    let mut b = app.browser();
    b.sign_in("pageboss", PASSWORD).await;
    let page = b.get(&format!("/admin/audit?subject=person:{person}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let caption =
        if n == 1 { format!("1 event for person:{person}") } else { format!("{n} events for person:{person}") };
    assert!(page.body.contains(&caption) && page.body.contains("first-contact check"), "{caption}: {}", page.body);
    // Reading the trail is itself logged.
    let (_, events) = audit(admin.clone(), "user:1".into()).await;
    assert!(events.is_array());
    let (status, problem) = audit(admin, "incident:nonsense".into()).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "subject");

    for token in [sergeant, app.token.clone()] {
        let (status, _) = audit(token, format!("incident:{reference}")).await;
        assert_eq!(status, 403);
    }
    assert!(allows(&[Role::Administrator], Action::ViewAudit));
}

#[tokio::test]
async fn administrators_manage_accounts_in_the_browser_and_a_disabled_one_stops_at_once() {
    let app = TestApp::start().await;
    app.user("boss", "MPS", &["administrator"], Some(PASSWORD)).await;
    let mut admin = app.browser();
    assert_eq!(admin.sign_in("boss", PASSWORD).await.status, 303);

    // Bad input: the form comes back naming each problem, and nothing is created.
    let page = admin.post("/admin/users", &[("username", "x y"), ("display_name", ""), ("password", "short")]).await;
    assert_eq!(page.status, 422);
    for field in ["username", "display_name", "password", "roles"] {
        assert!(page.body.contains(&format!("href=\"#{field}\"")), "{field} named in the error summary: {}", page.body);
        assert!(page.body.contains(&format!("id=\"{field}-error\"")), "{field}'s message beside it: {}", page.body);
    }
    assert!(app.store.user_summary("x y").await.unwrap().is_none());

    let page = admin
        .post(
            "/admin/users",
            &[
                ("username", "pc.jones"),
                ("display_name", "PC Jones"),
                ("organisation", "MPS-E09000007"),
                ("roles", "neighbourhood_officer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/admin/users"), "{}", page.body);
    let mut jones = app.browser();
    assert_eq!(jones.sign_in("pc.jones", PASSWORD).await.status, 303);
    assert_eq!(jones.get("/report").await.status, 200);
    assert_eq!(jones.get("/admin/users").await.status, 403);

    let page = admin
        .post(
            "/admin/users/pc.jones",
            &[
                ("display_name", "PC Jones"),
                ("organisation", "MPS-E09000007"),
                ("roles", "analyst"),
                ("disabled", "yes"),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/admin/users"), "{}", page.body);
    let u = app.store.user_summary("pc.jones").await.unwrap().unwrap();
    assert_eq!((u.roles, u.disabled), (vec![Role::Analyst], true));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let page = jones.get("/report").await;
    assert_eq!(page.location.as_deref(), Some("/login"), "a disabled account's session ends");
    assert_eq!(jones.sign_in("pc.jones", PASSWORD).await.status, 401);
}

#[tokio::test]
async fn another_organisations_record_is_shown_only_with_a_stated_reason_which_is_logged() {
    let app = TestApp::start().await;
    let partner = app.user("caseworker", "LBC-E09000007", &["partner_caseworker"], None).await;
    let admin = app.user("boss", "MPS", &["administrator"], None).await;
    let (_, recorded) = app.post_contact(&contact("Maya Okafor", "07700 900123")).await;
    let reference = recorded["reference"].as_str().unwrap();
    let get = |token: &str, query: &str| {
        let url = format!("{}/api/v1/incidents/{reference}{query}", app.url);
        app.client.get(url).bearer_auth(token.to_string()).send()
    };
    let r = get(&partner, "").await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "reason", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("Metropolitan Police Service"), "{problem}");
    assert_eq!(get(&partner, "?reason=%20").await.unwrap().status().as_u16(), 422, "a blank reason is no reason");
    let r = get(&partner, "?reason=Joint%20visit%20planned").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Police staff read police records without being asked.
    assert_eq!(app.get(&format!("/api/v1/incidents/{reference}")).await.0, 200);

    let r = app.client.get(format!("{}/api/v1/audit", app.url)).query(&[("subject", format!("incident:{reference}"))]);
    let events: Value = r.bearer_auth(admin).send().await.unwrap().json().await.unwrap();
    let looks: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["action"] == "consultation").collect();
    assert_eq!(looks.len(), 2, "the refused looks showed nothing and are not consultations: {events}");
    assert_eq!(looks[0]["user"], "caseworker");
    assert_eq!(looks[0]["detail"]["reason"], "Joint visit planned");
    assert!(looks[1]["detail"].is_null(), "{events}");
}

#[tokio::test]
async fn a_record_that_is_not_there_gets_a_404_page_saying_so() {
    let app = TestApp::start().await;
    app.user("clerk", "MPS", &["call_handler"], Some(PASSWORD)).await;
    let mut b = app.browser();
    assert_eq!(b.sign_in("clerk", PASSWORD).await.status, 303);
    for path in ["/incidents/ASB-26-0099999", "/incidents/nonsense"] {
        let page = b.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.body.contains("There is no incident") && page.body.contains("govuk-"), "{path}: {}", page.body);
    }
}
