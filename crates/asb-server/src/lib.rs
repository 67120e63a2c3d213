//! HTTP for asb: the JSON API under `/api/v1` (with its OpenAPI document), the staff pages, and
//! authentication. Handlers are thin: they parse at the edge with the domain's validated types,
//! call the store, and render JSON or HTML.

pub mod access;
mod admin;
mod analysis;
mod analysis_charts;
mod api;
mod assets;
mod auth;
mod error;
mod openapi;
mod pages;
mod signin;
mod slow_cache;
mod supervision;

pub use auth::{hash_password, new_totp_secret, totp};

use asb_domain::access::AccessPolicy;
use asb_domain::Policies;
use asb_store::Store;
use axum::http::{HeaderName, HeaderValue};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The clock, injected so tests control time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub policies: Arc<Policies>,
    pub access: Arc<AccessPolicy>,
    pub clock: Clock,
    pub tokens: Arc<auth::TokenCache>,
    pub measures: Arc<supervision::MeasuresCache>,
    pub analysis: Arc<analysis::AnalysisCache>,
}

impl AppState {
    pub fn new(store: Store, policies: Policies) -> AppState {
        AppState {
            store,
            policies: Arc::new(policies),
            access: Arc::new(AccessPolicy::defaults()),
            clock: Arc::new(Utc::now),
            tokens: Arc::default(),
            measures: Arc::default(),
            analysis: Arc::default(),
        }
    }
    pub fn with_access_policy(mut self, access: AccessPolicy) -> AppState {
        self.access = Arc::new(access);
        self
    }
    pub fn with_clock(mut self, clock: Clock) -> AppState {
        self.clock = clock;
        self
    }
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(api::readyz))
        .nest("/api/v1", api::routes())
        .merge(pages::routes())
        .merge(signin::routes())
        .merge(admin::routes())
        .merge(supervision::routes())
        .merge(analysis::routes())
        .merge(assets::routes())
        // Every route above passes the permission table (and the CSRF check) first.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), access::enforce))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            ),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        // Spans carry the path and request id only: query strings hold phone numbers and names.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serve until Ctrl-C or SIGTERM, finishing the requests in flight.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            shutdown_signal().await;
        })
        .await
}

/// Ctrl-C, or SIGTERM (what systemd, Docker and Kubernetes send to stop a service).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
