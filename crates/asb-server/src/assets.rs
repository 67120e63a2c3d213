//! Front-end assets vendored from npm (see scripts/vendor-assets), embedded in the binary.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Static;

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/static/{*path}", get(|Path(p): Path<String>| async move { file(&p) }))
        // GOV.UK Frontend's CSS asks for its images at /assets/.
        .route("/assets/{*path}", get(|Path(p): Path<String>| async move { file(&format!("govuk/assets/{p}")) }))
}

fn file(path: &str) -> Response {
    match Static::get(path) {
        Some(f) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
                ],
                f.data,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
