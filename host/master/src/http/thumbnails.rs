//! `GET /v1/images/{id}` (the image as JSON) and `GET`/`HEAD /v1/images/{id}/thumbnail` (its
//! thumbnail; with a query, another size: [`super::variants`]).
//!
//! | the image | answer |
//! | --- | --- |
//! | done | 200, the bytes, `Content-Type`, `ETag: "<sha256>"`, `Cache-Control: public, max-age=31536000, immutable`; 304 when `If-None-Match` names it |
//! | pending or leased | 503 with `Retry-After: 1` |
//! | failed | 422 with its error |
//! | unknown | 404 |

use super::hot::Hot;
use super::{reply, variants, Http, Shared};
use crate::ids::validate_id;
use crate::state::blocking;
use crate::views::located;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cdn_proto::{kind, Format, ImageView, Status};
use std::sync::Arc;

pub(crate) async fn image(State(http): State<Shared>, Path(id): Path<String>) -> Response {
    if let Err(e) = validate_id(&id) {
        return reply::error(StatusCode::BAD_REQUEST, kind::INVALID_ID, e.to_string());
    }
    let found = blocking(&http.state, move |s| {
        Ok(s.registry.get(&id)?.map(|view| located(view, &s.blobs)))
    })
    .await;
    match found {
        Ok(Some(view)) => Json(view).into_response(),
        Ok(None) => reply::error(StatusCode::NOT_FOUND, kind::NOT_FOUND, "no such image"),
        Err(e) => reply::op_error(e),
    }
}

pub(crate) async fn thumbnail(
    State(http): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match query.as_deref() {
        Some(query) if !query.is_empty() => variants::variant(&http, &id, query, &headers).await,
        _ => serve(&http, &id, &headers).await,
    }
}

/// The thumbnail of image `id`: from memory when it is there, else from the registry and the
/// blob store (and then kept in memory).
pub(crate) async fn serve(http: &Http, id: &str, headers: &HeaderMap) -> Response {
    if let Some(hot) = http.hot.get(id) {
        return hot.respond(headers);
    }
    if let Err(e) = validate_id(id) {
        return reply::error(StatusCode::BAD_REQUEST, kind::INVALID_ID, e.to_string());
    }
    let owned = id.to_string();
    let found = blocking(&http.state, move |s| {
        let Some(view) = s.registry.get(&owned)? else {
            return Ok(None);
        };
        let bytes = match (&view.status, &view.thumbnail) {
            (Status::Done, Some(thumb)) => Some(s.blobs.get(&thumb.hash)?),
            _ => None,
        };
        Ok(Some((view, bytes)))
    })
    .await;
    let (view, bytes) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return reply::error(
                StatusCode::NOT_FOUND,
                kind::NOT_FOUND,
                format!("no image {id}"),
            )
        }
        Err(e) => return reply::op_error(e),
    };
    match (bytes, &view.thumbnail) {
        (Some(bytes), Some(thumb)) => {
            let Some(hot) = Hot::new(
                &thumb.hash.to_hex(),
                mime(&thumb.format),
                Bytes::from(bytes),
            ) else {
                return reply::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    kind::INTERNAL,
                    "thumbnail hash is not a header value",
                );
            };
            let hot = Arc::new(hot);
            http.hot.insert(id, hot.clone());
            hot.respond(headers)
        }
        _ => not_ready(&view),
    }
}

/// The answer for an image without a thumbnail: 503 (not yet) or 422 (failed).
pub(crate) fn not_ready(view: &ImageView) -> Response {
    if view.status == Status::Failed {
        let (error_kind, message) = view
            .last_error
            .as_ref()
            .map(|e| (e.kind.as_str(), e.message.as_str()))
            .unwrap_or(("failed", "the image failed"));
        return reply::error(StatusCode::UNPROCESSABLE_ENTITY, error_kind, message);
    }
    reply::retry_later(
        StatusCode::SERVICE_UNAVAILABLE,
        1,
        serde_json::json!({"error": {
            "kind": kind::NOT_DONE,
            "message": format!("image {} is {}, not done yet", view.id, view.status),
        }}),
    )
}

/// The MIME type of a thumbnail format as the registry records it.
pub(crate) fn mime(format: &str) -> &'static str {
    match Format::from_name(format) {
        Some(format) => format.mime(),
        None if format.eq_ignore_ascii_case("gif") => "image/gif",
        None => "application/octet-stream",
    }
}
