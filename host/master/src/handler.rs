//! One request in: parse the op, check the peer's role may call it, dispatch, and turn the
//! outcome into a response frame. A `batch` is split into its requests, which are answered as
//! if each came alone: at once (their registry writes then share commits), except that
//! requests on the same image run in the batch's order.

use crate::errors::OpError;
use crate::state::State;
use crate::{leasing, ops};
use cdn_proto::{
    from_header, kind, split_body, to_header, BatchAnswer, BatchResponse, Request,
    MAX_BATCH_REQUESTS,
};
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
        // Each request inside is checked on its own.
        Request::Batch { .. } => matches!(role, Role::Worker | Role::Client),
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
        if peer.role == Role::Worker {
            self.state.workers.seen(&peer.name);
        }
        match op {
            Request::Batch { requests } => batch(&self.state, peer, requests, request.body).await,
            op => answer(&self.state, peer, op, request.body).await,
        }
    }
}

/// One request (alone, or one of a batch): its role check, then its op.
async fn answer(state: &Arc<State>, peer: &Peer, op: Request, body: Vec<u8>) -> Frame {
    if !allowed(peer.role, &op) {
        tracing::warn!(%peer, op = op.op(), "forbidden");
        return Frame::error(
            kind::FORBIDDEN,
            format!("a {} may not call {}", peer.role, op.op()),
        );
    }
    let name = op.op();
    match dispatch(state, peer, op, body).await {
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

/// The requests of a batch, answered concurrently wave by wave ([`waves`]), their answers in
/// the requests' order. A batch that is malformed as a whole (too many requests, a long poll or
/// a batch inside, body lengths that do not add up) is refused whole, with nothing done.
async fn batch(
    state: &Arc<State>,
    peer: &Peer,
    requests: Vec<cdn_proto::BatchEntry>,
    body: Vec<u8>,
) -> Frame {
    if requests.len() > MAX_BATCH_REQUESTS {
        return Frame::error(
            kind::BAD_REQUEST,
            format!(
                "a batch of {} requests is over the limit of {MAX_BATCH_REQUESTS}",
                requests.len()
            ),
        );
    }
    if let Some(inner) = requests
        .iter()
        .find(|e| matches!(e.request, Request::Batch { .. } | Request::Lease { .. }))
    {
        return Frame::error(
            kind::BAD_REQUEST,
            format!("a batch may not hold a {} request", inner.request.op()),
        );
    }
    let Some(bodies) = split_body(&body, requests.iter().map(|e| e.body_len)) else {
        return Frame::error(
            kind::BAD_REQUEST,
            format!(
                "the batch's body lengths do not add up to its body of {} bytes",
                body.len()
            ),
        );
    };
    let mut entries: Vec<Option<(Request, Vec<u8>)>> = requests
        .into_iter()
        .zip(bodies)
        .map(|(entry, body)| Some((entry.request, body.to_vec())))
        .collect();
    let mut answers: Vec<Frame> = Vec::with_capacity(entries.len());
    let waves = {
        let keys: Vec<Option<&str>> = entries
            .iter()
            .flatten()
            .map(|(r, _)| r.image_id())
            .collect();
        waves(&keys)
    };
    for wave in waves {
        let frames = futures_util::future::join_all(wave.map(|i| {
            let (request, body) = entries[i].take().expect("each entry is in one wave");
            answer(state, peer, request, body)
        }))
        .await;
        answers.extend(frames);
    }
    let mut response = BatchResponse {
        answers: Vec::with_capacity(answers.len()),
    };
    let mut out = Vec::new();
    for frame in answers {
        response.answers.push(BatchAnswer {
            header: frame.header,
            body_len: frame.body.len() as u64,
        });
        out.extend_from_slice(&frame.body);
    }
    match to_header(&response) {
        Ok(header) => Frame { header, body: out },
        Err(e) => Frame::error(kind::INTERNAL, format!("encoding a batch's answers: {e}")),
    }
}

/// Cuts a batch (given each request's [`Request::image_id`]) into waves of consecutive
/// requests that may run at once: a wave ends before a request on an image already in it, and a
/// request on no single image is a wave of its own. Waves run one after another, so requests
/// on one image keep the batch's order.
fn waves(keys: &[Option<&str>]) -> Vec<std::ops::Range<usize>> {
    let mut waves = Vec::new();
    let mut start = 0;
    let mut seen = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let fits = key.is_some_and(|k| !seen.contains(k));
        if !fits && i > start {
            waves.push(start..i);
            start = i;
            seen.clear();
        }
        match key {
            Some(k) => {
                seen.insert(*k);
            }
            None => {
                waves.push(i..i + 1);
                start = i + 1;
            }
        }
    }
    if start < keys.len() {
        waves.push(start..keys.len());
    }
    waves
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
        Request::Lease { wait_ms, max } => leasing::lease(state, &peer.name, wait_ms, max).await,
        Request::Batch { .. } => Err(OpError::new(
            kind::BAD_REQUEST,
            "a batch may not hold a batch",
        )),
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

#[cfg(test)]
mod tests {
    use super::waves;

    #[test]
    fn waves_keep_one_image_in_order_and_run_the_rest_at_once() {
        assert!(waves(&[]).is_empty());
        assert_eq!(waves(&[Some("a"), Some("b"), Some("c")]), vec![0..3]);
        assert_eq!(
            waves(&[Some("a"), Some("b"), Some("a"), Some("c")]),
            vec![0..2, 2..4]
        );
        assert_eq!(
            waves(&[Some("a"), None, Some("a"), None, None, Some("b")]),
            vec![0..1, 1..2, 2..3, 3..4, 4..5, 5..6]
        );
    }
}
