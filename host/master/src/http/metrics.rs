//! `GET /metrics`: the master's series (`crate::metrics`) in the OpenMetrics text format,
//! with the gauges that mirror the registry set first.

use super::{reply, Shared};
use crate::blobs::BlobStore;
use crate::state::blocking;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cdn_common::ContentHash;
use cdn_proto::kind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a count of the blob store's bytes is reused before the folder is walked again.
const BLOB_BYTES_TTL: Duration = Duration::from_secs(10);

/// The blob store's size, counted by walking its folder at most every [`BLOB_BYTES_TTL`].
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
        let bytes = folder_bytes(&blob_root(blobs));
        *last = Some((Instant::now(), bytes));
        bytes
    }
}

/// The blob store's top folder (a blob lives at `ROOT/ab/abcdef...`).
pub(crate) fn blob_root(blobs: &BlobStore) -> PathBuf {
    let any = blobs.path(&ContentHash::of(b""));
    any.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(any)
}

/// Bytes of the files in `root`'s subfolders (unreadable entries count as nothing).
fn folder_bytes(root: &Path) -> u64 {
    let Ok(subs) = std::fs::read_dir(root) else {
        return 0;
    };
    subs.flatten()
        .filter_map(|sub| std::fs::read_dir(sub.path()).ok())
        .flat_map(|files| files.flatten())
        .filter_map(|file| file.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
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
