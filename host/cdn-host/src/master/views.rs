//! Registry rows as the protocol's views.

use super::errors::OpError;
use crate::blobs::BlobStore;
use crate::registry::ImageRecord;
use cdn_proto::{ErrorView, ImageView, LeaseView, Params, PluginInfo, SourceView, ThumbnailView};

/// The params a registry row stores (written by `register` from [`Params`]).
pub(crate) fn params_of(id: &str, params_json: &str) -> Result<Params, OpError> {
    serde_json::from_str(params_json)
        .map_err(|e| OpError::internal(format!("stored params of {id} are unreadable: {e}")))
}

pub(crate) fn image_view(record: &ImageRecord, blobs: &BlobStore) -> Result<ImageView, OpError> {
    Ok(ImageView {
        id: record.id.as_str().to_string(),
        status: record.status,
        source: SourceView {
            hash: record.source_blob.as_str().to_string(),
            size: record.source_size,
        },
        params: params_of(record.id.as_str(), &record.params_json)?,
        plugin: PluginInfo {
            name: record.plugin_name.clone(),
            hash: record.plugin_hash.as_str().to_string(),
        },
        attempts: record.attempts,
        last_error: record.last_error.as_ref().map(|e| ErrorView {
            kind: e.kind.clone(),
            message: e.message.clone(),
        }),
        lease: record.lease.as_ref().map(|l| LeaseView {
            worker: l.worker.clone(),
            deadline_ms: l.deadline_ms,
        }),
        thumbnail: record.thumbnail.as_ref().map(|t| ThumbnailView {
            hash: t.blob.as_str().to_string(),
            size: t.size,
            width: t.width,
            height: t.height,
            format: t.format.clone(),
            location: blobs.path(&t.blob).display().to_string(),
        }),
        made_by: record.made_by.clone(),
        created_ms: record.created_ms,
        updated_ms: record.updated_ms,
        finished_ms: record.finished_ms,
    })
}
