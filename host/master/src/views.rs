//! What the registry's rows need before they go on the wire.

use crate::blobs::BlobStore;
use crate::errors::OpError;
use cdn_common::ContentHash;
use cdn_proto::{ImageView, Params, PluginInfo, SourceView, Status};

/// The params a registry row stores (written by `register` from [`Params`]).
pub(crate) fn params_of(id: &str, params_json: &str) -> Result<Params, OpError> {
    serde_json::from_str(params_json)
        .map_err(|e| OpError::internal(format!("stored params of {id} are unreadable: {e}")))
}

/// The view with its thumbnail's `location` filled in (the registry does not know where blobs
/// live; the blob store does).
pub(crate) fn located(mut view: ImageView, blobs: &BlobStore) -> ImageView {
    if let Some(thumbnail) = view.thumbnail.as_mut() {
        thumbnail.location = blobs.location(&thumbnail.hash);
    }
    view
}

/// The view of an image just registered: what its new row holds (`pending`, nothing tried),
/// without reading it back.
pub(crate) fn newly_registered(
    id: String,
    source: ContentHash,
    size: u64,
    params: Params,
    plugin: PluginInfo,
    now_ms: i64,
) -> ImageView {
    ImageView {
        id,
        status: Status::Pending,
        source: SourceView { hash: source, size },
        params,
        plugin,
        attempts: 0,
        last_error: None,
        lease: None,
        thumbnail: None,
        made_by: None,
        created_ms: now_ms,
        updated_ms: now_ms,
        finished_ms: None,
    }
}
