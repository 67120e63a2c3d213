//! Start the real app on a random port with a fresh database and a clock the test controls.

#![allow(dead_code)]

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

    /// The app on a store the test has opened itself (with read replicas, say).
    pub async fn start_with(store: Store) -> TestApp {
        store.seed_organisations().await.unwrap();
        store.ensure_user("handler", "Test handler", "MPS", &["call_handler"], None).await.unwrap();
        let token = store.issue_token("handler", "api", None).await.unwrap();
        let now = Arc::new(AtomicI64::new(t0().timestamp()));
        let clock_now = now.clone();
        let state = AppState::new(store.clone(), Policies::defaults())
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
