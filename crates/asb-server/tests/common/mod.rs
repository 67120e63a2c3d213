//! Start the real app on a random port with a fresh database and a clock the test controls.

#![allow(dead_code)]

use asb_domain::access::AccessPolicy;
use asb_domain::Policies;
use asb_server::AppState;
use asb_store::Store;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub struct TestApp {
    pub url: String,
    pub store: Store,
    pub token: String,
    pub client: reqwest::Client,
    now: Arc<AtomicI64>,
    _dir: Option<tempfile::TempDir>,
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

impl TestApp {
    pub async fn start() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        // ASB_TEST_DATABASE_URL (a PostgreSQL server) runs the same tests on that engine.
        let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
        let mut app = TestApp::start_with(store).await;
        app._dir = Some(dir);
        app
    }

    /// The app with an access policy of the test's own (a second factor required, say).
    pub async fn start_with_access(access: AccessPolicy) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = asb_store::scratch::fresh_store(dir.path()).await.unwrap();
        let mut app = TestApp::start_on(store, access).await;
        app._dir = Some(dir);
        app
    }

    /// The app on a store the test has opened itself (with read replicas, say).
    pub async fn start_with(store: Store) -> TestApp {
        TestApp::start_on(store, AccessPolicy::defaults()).await
    }

    async fn start_on(store: Store, access: AccessPolicy) -> TestApp {
        store.seed_organisations().await.unwrap();
        store.ensure_user("handler", "Test handler", "MPS", &["call_handler"], None).await.unwrap();
        let token = store.issue_token("handler", "api", None).await.unwrap();
        let now = Arc::new(AtomicI64::new(t0().timestamp()));
        let clock_now = now.clone();
        let state = AppState::new(store.clone(), Policies::defaults())
            .with_access_policy(access)
            .with_clock(Arc::new(move || DateTime::from_timestamp(clock_now.load(Ordering::SeqCst), 0).unwrap()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { asb_server::serve(state, listener).await });
        TestApp { url, store, token, client: reqwest::Client::new(), now, _dir: None }
    }

    pub fn set_now(&self, t: DateTime<Utc>) {
        self.now.store(t.timestamp(), Ordering::SeqCst);
    }

    pub async fn post_contact(&self, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/contacts", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, body: &str) -> (u16, String, Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/contacts", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (status, ct, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(format!("{}{}", self.url, path)).bearer_auth(&self.token).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl TestApp {
    /// A user with these roles in organisation `org` (a code such as MPS or MPS-E09000007) and,
    /// given a password, able to sign in to the pages. Returns an API token of theirs.
    pub async fn user(&self, username: &str, org: &str, roles: &[&str], password: Option<&str>) -> String {
        let hash = password.map(|p| asb_server::hash_password(p).unwrap());
        self.store.ensure_user(username, username, org, roles, hash.as_deref()).await.unwrap();
        self.store.issue_token(username, "api", None).await.unwrap()
    }

    /// A browser with no cookies yet, on this app.
    pub fn browser(&self) -> Browser {
        Browser { base: self.url.clone(), client: no_redirects(), csrf: None, session: None }
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What a browser would send and keep: the CSRF cookie and the session cookie, by hand (the
/// client follows no redirects, so each step's status is the test's to see).
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub csrf: Option<String>,
    pub session: Option<String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    fn cookies(&self) -> String {
        let mut c = Vec::new();
        if let Some(t) = &self.csrf {
            c.push(format!("asb_csrf={t}"));
        }
        if let Some(t) = &self.session {
            c.push(format!("asb_session={t}"));
        }
        c.join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            let val = (!val.is_empty()).then(|| val.to_string());
            match k {
                "asb_csrf" => self.csrf = val,
                "asb_session" => self.session = val,
                _ => {}
            }
        }
    }

    async fn page(&mut self, r: reqwest::Response) -> Page {
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        Page { status, location, body: r.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self.client.get(format!("{}{path}", self.base)).header("cookie", self.cookies()).send().await.unwrap();
        self.page(r).await
    }

    /// Post a form with the browser's CSRF token in it (as every page's forms carry it).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Post exactly these fields (no CSRF token unless given).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.page(r).await
    }

    /// Open the sign-in page (which gives the CSRF cookie) and sign in.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post("/login", &[("username", username), ("password", password)]).await
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A complete, valid contact; tests change what they need.
pub fn contact(name: &str, phone: &str) -> Value {
    serde_json::json!({
        "channel": "phone_101",
        "caller": {"name": name, "phone": phone, "date_of_birth": "1975-06-14"},
        "caller_is_victim": true,
        "location": {"address": "12 Acacia Road", "postcode": "NW1 2AB"},
        "narrative": "Neighbours playing loud music until 3am and shouting abuse",
        "category": "personal",
        "type_code": 211,
        "risk_answers": {"happened_before": true, "health_sleep_work": true}
    })
}
