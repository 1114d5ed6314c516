//! Requests about tasks already held (`extend`, `complete`, `fail`) leave in batches: each call
//! is queued, and a sender takes whatever is queued (up to [`MAX_BATCH`] requests or
//! [`MAX_BATCH_HEADER`] bytes of headers) into one `batch` frame. Nothing waits to fill a batch:
//! a lone request goes out at once on its own, and while [`IN_FLIGHT`] batches are out the next
//! one gathers what arrives meanwhile, so under load one round trip and one master commit carry
//! many tasks' reports.

use crate::link::{CallError, Link};
use cdn_proto::{split_body, BatchEntry, BatchResponse, Request, MAX_BATCH_REQUESTS};
use serde_json::{Map, Value};
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Requests per batch (the master's own cap).
pub(crate) const MAX_BATCH: usize = MAX_BATCH_REQUESTS;
/// Bytes of request headers per batch: well under the master's 64 KiB header cap (a `fail`
/// carries up to 1 KiB of text, which JSON escaping may make six times longer).
pub(crate) const MAX_BATCH_HEADER: usize = 24 << 10;
/// Batches out at once: one slow upload does not hold up the reports behind it.
pub(crate) const IN_FLIGHT: usize = 4;

/// One answer: the response header (a success object) and its body.
pub(crate) type Answer = Result<(Map<String, Value>, Vec<u8>), CallError>;

pub(crate) struct Queued {
    pub request: Request,
    pub body: Vec<u8>,
    /// The request's header size, measured when it was queued.
    pub header_len: usize,
    pub reply: oneshot::Sender<Answer>,
}

/// Sends what `queue` holds, in batches, until every sender of the queue is gone (the link
/// dropped).
pub(crate) async fn send_queued(link: Weak<Link>, mut queue: mpsc::UnboundedReceiver<Queued>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut header_bytes = first.header_len;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && header_bytes < MAX_BATCH_HEADER {
            match queue.try_recv() {
                Ok(next) => {
                    header_bytes += next.header_len;
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let Some(link) = link.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            send(&link, batch).await;
            drop(slot);
        });
    }
}

async fn send(link: &Link, mut batch: Vec<Queued>) {
    if batch.len() == 1 {
        if let Some(one) = batch.pop() {
            let answer = link
                .call::<Map<String, Value>>(&one.request, one.body)
                .await;
            let _ = one.reply.send(answer);
        }
        return;
    }
    let mut body = Vec::with_capacity(batch.iter().map(|q| q.body.len()).sum());
    let mut requests = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for queued in batch {
        requests.push(BatchEntry {
            request: queued.request,
            body_len: queued.body.len() as u64,
        });
        body.extend_from_slice(&queued.body);
        replies.push(queued.reply);
    }
    tracing::debug!(requests = requests.len(), "sending a batch");
    let request = Request::Batch { requests };
    match link.call::<BatchResponse>(&request, body).await {
        Ok((response, body)) => answer_each(response, &body, replies),
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Hands each queued call its own answer from the batch's.
fn answer_each(response: BatchResponse, body: &[u8], replies: Vec<oneshot::Sender<Answer>>) {
    let bodies = split_body(body, response.answers.iter().map(|a| a.body_len));
    let (Some(bodies), true) = (bodies, response.answers.len() == replies.len()) else {
        let why = format!(
            "the master's batch answer does not match the batch ({} answers for {} requests, \
             or body lengths that do not add up)",
            response.answers.len(),
            replies.len()
        );
        for reply in replies {
            let _ = reply.send(Err(CallError::Invalid(why.clone())));
        }
        return;
    };
    for ((answer, body), reply) in response.answers.into_iter().zip(bodies).zip(replies) {
        let result = match cdn_proto::parse_response::<Map<String, Value>>(&answer.header) {
            Ok(header) => Ok((header, body.to_vec())),
            Err(cdn_proto::ProtoError::Remote { kind, message }) => {
                Err(CallError::Refused { kind, message })
            }
            Err(e) => Err(CallError::Invalid(e.to_string())),
        };
        let _ = reply.send(result);
    }
}
