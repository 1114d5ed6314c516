//! The client's ops: register, query, fetch, list, plugins, stats (and `plugin_fetch`, which
//! workers use too).

use crate::blobs::BlobError;
use crate::errors::OpError;
use crate::ids::validate_id;
use crate::registry::Registered;
use crate::state::{blocking, now_ms, State};
use crate::views::{located, newly_registered};
use crate::writers::writing;
use cdn_common::{ContentHash, WASM_MAGIC};
use cdn_proto::{
    kind, to_header, ListResponse, NotRetried, Params, PluginFetchResponse, PluginInfo,
    PluginListResponse, RegisterResponse, RegisterStatus, RetryResponse, StatsResponse, Status,
    DEFAULT_LIST_PAGE, MAX_LIST_PAGE,
};
use cdn_transport::Frame;
use serde::Serialize;
use std::sync::Arc;

pub(crate) fn respond<T: Serialize>(message: &T, body: Vec<u8>) -> Result<Frame, OpError> {
    Ok(Frame {
        header: to_header(message)?,
        body,
    })
}

fn check_body(state: &State, what: &str, body: &[u8]) -> Result<(), OpError> {
    if body.is_empty() {
        return Err(OpError::new(kind::EMPTY_BODY, format!("no {what} bytes")));
    }
    if body.len() as u64 > state.config.max_upload {
        return Err(OpError::new(
            kind::TOO_LARGE,
            format!(
                "{what} of {} bytes is over the limit of {} bytes",
                body.len(),
                state.config.max_upload
            ),
        ));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), OpError> {
    validate_id(id).map_err(|e| OpError::new(kind::INVALID_ID, format!("image id {id:?}: {e}")))
}

/// Stores the bytes (fsynced) before the registry row (committed with synchronous=FULL), and
/// answers only after both: an acknowledged registration survives a crash. Runs on the
/// master's writers ([`writing`]), so registrations arriving together share the commits.
pub(crate) async fn register(
    state: &Arc<State>,
    id: String,
    plugin: String,
    params: Params,
    body: Vec<u8>,
) -> Result<Frame, OpError> {
    check_id(&id)?;
    params
        .validate()
        .map_err(|e| OpError::new(kind::INVALID_PARAMS, e.to_string()))?;
    check_body(state, "image", &body)?;
    let params_json = serde_json::to_string(&params)
        .map_err(|e| OpError::internal(format!("encoding params: {e}")))?;
    let view_id = id.clone();
    let (outcome, view) = writing(
        state,
        move |s| {
            let plugin_hash = s.registry.plugin(&plugin)?.ok_or_else(|| {
                OpError::new(
                    kind::UNKNOWN_PLUGIN,
                    format!("no plugin named {plugin:?} (see plugin_list)"),
                )
            })?;
            // A taken id is decided by the registry without writing its bytes again; a new
            // one has its bytes made durable first (the put hashes them: no second pass).
            let source = if !s.registry.contains(&id)? {
                s.blobs.put(&body)?
            } else {
                ContentHash::of(&body)
            };
            Ok((id, plugin, plugin_hash, source, body))
        },
        move |s, (id, plugin, plugin_hash, source, body)| {
            let now = now_ms();
            let outcome = s.registry.register(
                &id,
                &source,
                body.len() as u64,
                &params_json,
                &plugin,
                &plugin_hash,
                now,
            )?;
            match outcome {
                Registered::New => Ok(Some(newly_registered(
                    id,
                    source,
                    body.len() as u64,
                    params,
                    PluginInfo {
                        name: plugin,
                        hash: plugin_hash,
                    },
                    now,
                ))),
                Registered::AlreadyRegistered => {
                    // The row is there; make sure its bytes are too (a blob lost to a crash or
                    // by hand is put back from the bytes just sent, which hash the same).
                    if !s.blobs.contains(&source)? {
                        tracing::warn!(image = %id, blob = %source, "source blob missing: stored again");
                        s.blobs.put(&body)?;
                    }
                    Ok(None)
                }
                Registered::Conflict {
                    existing_source,
                    existing_params_json,
                    existing_plugin_name,
                    existing_plugin_hash,
                } => {
                    let mut differs = Vec::new();
                    if existing_source != source {
                        differs.push("bytes");
                    }
                    // The registry stores params canonically (sorted keys): compare values.
                    if serde_json::from_str::<Params>(&existing_params_json).ok() != Some(params) {
                        differs.push("params");
                    }
                    if existing_plugin_name != plugin || existing_plugin_hash != plugin_hash {
                        differs.push("plugin");
                    }
                    Err(OpError::new(
                        kind::CONFLICT,
                        format!(
                            "image {id} is already registered with different {}",
                            differs.join(" and ")
                        ),
                    ))
                }
            }
        },
        move |s, new| {
            if let Some(view) = new {
                return Ok((RegisterStatus::New, view));
            }
            // Already there: the row as it is now (it may be done, with a thumbnail).
            let view = s.registry.get(&view_id)?.ok_or_else(|| {
                OpError::internal(format!("image {view_id} vanished after registering"))
            })?;
            Ok((RegisterStatus::AlreadyRegistered, located(view, &s.blobs)))
        },
    )
    .await?;
    if outcome == RegisterStatus::New {
        tracing::info!(image = %view.id, size = view.source.size, "registered");
        state.metrics.registered();
        state.poke();
    }
    respond(
        &RegisterResponse {
            status: outcome,
            image: view,
        },
        Vec::new(),
    )
}

fn not_found(id: &str) -> OpError {
    OpError::new(kind::NOT_FOUND, format!("no image {id}"))
}

pub(crate) async fn query(state: &Arc<State>, id: String) -> Result<Frame, OpError> {
    check_id(&id)?;
    let view = blocking(state, move |s| {
        let view = s.registry.get(&id)?.ok_or_else(|| not_found(&id))?;
        Ok(located(view, &s.blobs))
    })
    .await?;
    respond(&view, Vec::new())
}

pub(crate) async fn fetch(state: &Arc<State>, id: String) -> Result<Frame, OpError> {
    check_id(&id)?;
    let (view, bytes) = blocking(state, move |s| {
        let view = s.registry.get(&id)?.ok_or_else(|| not_found(&id))?;
        let Some(thumb) = view
            .thumbnail
            .as_ref()
            .filter(|_| view.status == Status::Done)
        else {
            return Err(OpError::new(
                kind::NOT_DONE,
                format!("image {id} is {}, not done", view.status),
            ));
        };
        let bytes = s.blobs.get(&thumb.hash)?;
        Ok((located(view, &s.blobs), bytes))
    })
    .await?;
    respond(&view, bytes)
}

/// One page of images: at most `limit` (default [`DEFAULT_LIST_PAGE`], capped at
/// [`MAX_LIST_PAGE`]) after the cursor `after`, with the cursor of the next page.
pub(crate) async fn list(
    state: &Arc<State>,
    status: Option<Status>,
    limit: Option<u32>,
    after: Option<String>,
) -> Result<Frame, OpError> {
    let limit = limit.unwrap_or(DEFAULT_LIST_PAGE).clamp(1, MAX_LIST_PAGE);
    let after = after
        .map(|cursor| {
            parse_cursor(&cursor).ok_or_else(|| {
                OpError::new(
                    kind::BAD_REQUEST,
                    format!("list cursor {cursor:?} is not one this master gave"),
                )
            })
        })
        .transpose()?;
    let (images, next) = blocking(state, move |s| {
        let (page, next) = s.registry.list_page(status, after, limit)?;
        Ok((
            page.into_iter()
                .map(|view| located(view, &s.blobs))
                .collect::<Vec<_>>(),
            next,
        ))
    })
    .await?;
    respond(
        &ListResponse {
            images,
            next: next.map(|(created, row)| format!("{created}.{row}")),
        },
        Vec::new(),
    )
}

/// A `list` cursor, `CREATED.ROWID` (what the previous page's `next` said).
fn parse_cursor(cursor: &str) -> Option<(i64, i64)> {
    let (created, row) = cursor.split_once('.')?;
    Some((created.parse().ok()?, row.parse().ok()?))
}

/// Puts failed images back to `pending` with their attempts reset.
pub(crate) async fn retry(
    state: &Arc<State>,
    ids: Vec<String>,
    all_failed: bool,
) -> Result<Frame, OpError> {
    for id in &ids {
        check_id(id)?;
    }
    if ids.is_empty() && !all_failed {
        return Err(OpError::new(
            kind::BAD_REQUEST,
            "retry needs image ids, or `failed` for every failed image",
        ));
    }
    let (retried, not) = blocking(state, move |s| {
        Ok(s.registry.retry(&ids, all_failed, now_ms())?)
    })
    .await?;
    if !retried.is_empty() {
        tracing::info!(count = retried.len(), "failed images re-queued");
        state.poke();
    }
    respond(
        &RetryResponse {
            retried,
            not_retried: not
                .into_iter()
                .map(|(id, reason)| NotRetried { id, reason })
                .collect(),
        },
        Vec::new(),
    )
}

pub(crate) async fn plugin_add(
    state: &Arc<State>,
    name: String,
    body: Vec<u8>,
) -> Result<Frame, OpError> {
    validate_id(&name)
        .map_err(|e| OpError::new(kind::INVALID_NAME, format!("plugin name {name:?}: {e}")))?;
    check_body(state, "plugin", &body)?;
    if !body.starts_with(WASM_MAGIC) {
        return Err(OpError::new(
            kind::INVALID_PLUGIN,
            "not a WebAssembly module (no \\0asm header)",
        ));
    }
    let info = blocking(state, move |s| {
        let hash = s.blobs.put(&body)?;
        s.registry.add_plugin(&name, &hash, now_ms())?;
        Ok(PluginInfo { name, hash })
    })
    .await?;
    tracing::info!(plugin = %info.name, hash = %info.hash, "plugin added");
    respond(&info, Vec::new())
}

pub(crate) async fn plugin_list(state: &Arc<State>) -> Result<Frame, OpError> {
    let plugins = blocking(state, |s| {
        Ok(s.registry
            .plugins()?
            .into_iter()
            .map(|(name, hash)| PluginInfo { name, hash })
            .collect())
    })
    .await?;
    respond(&PluginListResponse { plugins }, Vec::new())
}

/// Serves a stored blob that is a WebAssembly module (plugins only: a name may have been
/// re-pointed while images still use the old hash, so any stored module is served, never other
/// blobs).
pub(crate) async fn plugin_fetch(state: &Arc<State>, hash: String) -> Result<Frame, OpError> {
    let id: ContentHash = hash
        .parse()
        .map_err(|e| OpError::new(kind::INVALID_HASH, format!("plugin hash: {e}")))?;
    let bytes = blocking(state, move |s| {
        let bytes = match s.blobs.get(&id) {
            Err(BlobError::NotFound(_)) => {
                return Err(OpError::new(kind::NOT_FOUND, format!("no plugin {id}")))
            }
            got => got?,
        };
        if !bytes.starts_with(WASM_MAGIC) {
            return Err(OpError::new(kind::NOT_FOUND, format!("no plugin {id}")));
        }
        Ok(bytes)
    })
    .await?;
    respond(&PluginFetchResponse { hash: id }, bytes)
}

pub(crate) async fn stats(state: &Arc<State>) -> Result<Frame, OpError> {
    let counts = blocking(state, |s| Ok(s.registry.counts()?)).await?;
    respond(
        &StatsResponse {
            counts,
            workers_connected: state.workers.count(),
            workers_window_s: state.workers.window().as_secs(),
        },
        Vec::new(),
    )
}
