//! `GET /healthz`: the process answers. `GET /readyz`: the registry answers a query and the blob
//! store answers (its folder can be read, its bucket listed; 503 saying which is not).

use super::Shared;
use crate::errors::OpError;
use crate::state::blocking;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub(crate) async fn healthz() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

pub(crate) async fn readyz(State(http): State<Shared>) -> Response {
    let checked = blocking(&http.state, |s| {
        let registry = match s.registry.counts() {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        let blobs = match s.blobs.check() {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        Ok::<_, OpError>((registry, blobs))
    })
    .await;
    let (registry, blobs) = match checked {
        Ok(checked) => checked,
        Err(e) => (e.message.clone(), e.message),
    };
    let ready = registry == "ok" && blobs == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "registry": registry,
        "blobs": blobs,
    });
    (status, Json(body)).into_response()
}
