//! Error answers: small JSON bodies, `{"error": {"kind": ..., "message": ...}}`.

use crate::errors::OpError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cdn_proto::kind;

/// An error answer with `status`.
pub(crate) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"error": {"kind": kind, "message": message.into()}});
    (status, Json(body)).into_response()
}

/// An error answer that also says when to ask again.
pub(crate) fn retry_later(
    status: StatusCode,
    retry_after_s: u64,
    body: serde_json::Value,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}

/// A storage-level refusal or failure as an HTTP answer.
pub(crate) fn op_error(e: OpError) -> Response {
    let status = match e.kind {
        kind::NOT_FOUND => StatusCode::NOT_FOUND,
        kind::INVALID_ID | kind::INVALID_PARAMS => StatusCode::BAD_REQUEST,
        kind::CONFLICT => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.kind, e.message)
}
