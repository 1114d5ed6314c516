//! `GET /metrics`: the master's series (`crate::metrics`) in the OpenMetrics text format,
//! with the gauges that mirror the registry set first.

use super::{reply, Shared};
use crate::blobs::BlobStore;
use crate::state::blocking;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cdn_proto::kind;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a count of the blob store's bytes is reused before it is counted again.
const BLOB_BYTES_TTL: Duration = Duration::from_secs(10);

/// The blob store's size, counted (by the folder store: a walk of its folder) at most every
/// [`BLOB_BYTES_TTL`]. A store that cannot count cheaply (S3) reports 0.
#[derive(Default)]
pub(crate) struct BlobBytes {
    last: Mutex<Option<(Instant, u64)>>,
}

impl BlobBytes {
    fn get(&self, blobs: &BlobStore) -> u64 {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, bytes)) = *last {
            if at.elapsed() < BLOB_BYTES_TTL {
                return bytes;
            }
        }
        let bytes = blobs.stored_bytes().unwrap_or(0);
        *last = Some((Instant::now(), bytes));
        bytes
    }
}

pub(crate) async fn metrics(State(http): State<Shared>) -> Response {
    let shared = http.clone();
    let state = blocking(&http.state, move |s| {
        let counts = s.registry.counts()?;
        Ok((counts, shared.blob_bytes.get(&s.blobs)))
    })
    .await;
    let (counts, blob_bytes) = match state {
        Ok(state) => state,
        Err(e) => return reply::op_error(e),
    };
    let metrics = &http.state.metrics;
    let commits = http.state.registry.commit_stats();
    metrics.set_state(&counts, http.state.workers.count(), blob_bytes, commits);
    metrics.set_blob_fsyncs(http.state.blobs.fsyncs().unwrap_or(0));
    match metrics.encode() {
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(e) => reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            kind::INTERNAL,
            format!("encoding the metrics: {e}"),
        ),
    }
}
