//! One request in: parse the op, check the peer's role may call it, dispatch, and turn the
//! outcome into a response frame.

use crate::errors::OpError;
use crate::state::State;
use crate::{leasing, ops};
use cdn_proto::{from_header, kind, Request};
use cdn_transport::{Frame, Handler, Peer, Role};
use std::sync::Arc;

/// The master's [`Handler`]: cheap to clone, shares the master's state.
#[derive(Clone)]
pub struct MasterHandler {
    state: Arc<State>,
}

impl MasterHandler {
    pub(crate) fn new(state: Arc<State>) -> MasterHandler {
        MasterHandler { state }
    }
}

/// Which roles may call an op: clients manage images and plugins; workers lease, report and
/// fetch plugins; the master's own certificate may call nothing.
fn allowed(role: Role, request: &Request) -> bool {
    match request {
        Request::Register { .. }
        | Request::Query { .. }
        | Request::Fetch { .. }
        | Request::List { .. }
        | Request::Retry { .. }
        | Request::PluginAdd { .. }
        | Request::PluginList
        | Request::Stats => role == Role::Client,
        Request::Lease { .. }
        | Request::Extend { .. }
        | Request::Complete { .. }
        | Request::Fail { .. } => role == Role::Worker,
        Request::PluginFetch { .. } => matches!(role, Role::Worker | Role::Client),
    }
}

impl Handler for MasterHandler {
    async fn handle(&self, peer: &Peer, request: Frame) -> Frame {
        let op = match from_header::<Request>(&request.header) {
            Ok(op) => op,
            Err(e) => {
                tracing::info!(%peer, "bad request: {e}");
                return Frame::error(kind::BAD_REQUEST, e.to_string());
            }
        };
        if !allowed(peer.role, &op) {
            tracing::warn!(%peer, op = op.op(), "forbidden");
            return Frame::error(
                kind::FORBIDDEN,
                format!("a {} may not call {}", peer.role, op.op()),
            );
        }
        if peer.role == Role::Worker {
            self.state.workers.seen(&peer.name);
        }
        let name = op.op();
        let result = dispatch(&self.state, peer, op, request.body).await;
        match result {
            Ok(frame) => {
                tracing::debug!(%peer, op = name, "ok");
                frame
            }
            Err(e) => {
                tracing::info!(%peer, op = name, kind = e.kind, "refused: {}", e.message);
                e.into_frame()
            }
        }
    }
}

async fn dispatch(
    state: &Arc<State>,
    peer: &Peer,
    op: Request,
    body: Vec<u8>,
) -> Result<Frame, OpError> {
    match op {
        Request::Register { id, plugin, params } => {
            ops::register(state, id, plugin, params, body).await
        }
        Request::Query { id } => ops::query(state, id).await,
        Request::Fetch { id } => ops::fetch(state, id).await,
        Request::List {
            status,
            limit,
            after,
        } => ops::list(state, status, limit, after).await,
        Request::Retry { ids, failed } => ops::retry(state, ids, failed).await,
        Request::PluginAdd { name } => ops::plugin_add(state, name, body).await,
        Request::PluginList => ops::plugin_list(state).await,
        Request::Stats => ops::stats(state).await,
        Request::PluginFetch { hash } => ops::plugin_fetch(state, hash).await,
        Request::Lease { wait_ms } => leasing::lease(state, &peer.name, wait_ms).await,
        Request::Extend { image_id, token } => {
            leasing::extend(state, &peer.name, image_id, token).await
        }
        Request::Complete {
            image_id,
            token,
            width,
            height,
            format,
        } => {
            let thumb = leasing::Thumb {
                width,
                height,
                format,
                bytes: body,
            };
            leasing::complete(state, &peer.name, image_id, token, thumb).await
        }
        Request::Fail {
            image_id,
            token,
            kind,
            message,
            retryable,
            attempted,
        } => {
            leasing::fail(
                state, &peer.name, image_id, token, kind, message, retryable, attempted,
            )
            .await
        }
    }
}
