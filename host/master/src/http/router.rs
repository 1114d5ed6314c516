//! The routes, and the request counter every answer passes through.

use super::{health, metrics, reply, status_page, thumbnails, Shared};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

pub(crate) fn router(http: Shared) -> Router {
    Router::new()
        .route("/", get(status_page::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/images/{id}", get(thumbnails::image))
        .route("/v1/images/{id}/thumbnail", get(thumbnails::thumbnail))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(http.clone(), count))
        .with_state(http)
}

async fn not_found() -> Response {
    reply::error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// The route's name for the `cdn_http_requests_total` label (a fixed set, so no allocation).
fn route_name(path: Option<&MatchedPath>) -> &'static str {
    match path.map(MatchedPath::as_str) {
        Some("/") => "status_page",
        Some("/healthz") => "healthz",
        Some("/readyz") => "readyz",
        Some("/metrics") => "metrics",
        Some("/v1/images/{id}") => "image",
        Some("/v1/images/{id}/thumbnail") => "thumbnail",
        _ => "other",
    }
}

async fn count(State(http): State<Shared>, request: Request, next: Next) -> Response {
    let route = route_name(request.extensions().get::<MatchedPath>());
    let response = next.run(request).await;
    http.state
        .metrics
        .http_request(route, response.status().as_u16());
    response
}
