//! Requests about tasks already held (`extend`, `complete`, `fail`) leave in batches: each call
//! is queued, and a sender takes whatever is queued (up to [`MAX_BATCH`] requests or
//! [`MAX_BATCH_HEADER`] bytes of headers) into one `batch` frame. Nothing waits to fill a batch:
//! a lone request goes out at once on its own, and while [`IN_FLIGHT`] batches are out the next
//! one gathers what arrives meanwhile, so under load one round trip and one master commit carry
//! many tasks' reports.

use crate::link::{CallError, Link};
use cdn_proto::{split_body, BatchEntry, BatchResponse, Header, Request, MAX_BATCH_REQUESTS};
use serde::de::IgnoredAny;
use std::sync::atomic::{AtomicU8, Ordering};
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
pub(crate) type Answer = Result<(Header, Vec<u8>), CallError>;

pub(crate) struct Queued {
    pub request: Request,
    pub body: Vec<u8>,
    /// The request's header size, measured when it was queued.
    pub header_len: usize,
    pub reply: oneshot::Sender<Answer>,
    /// Set when the caller may withdraw the request until a batch takes it.
    pub ticket: Option<Ticket>,
}

impl Queued {
    /// Claims the request for a batch: false when its caller withdrew it (it is not sent).
    fn take(&self) -> bool {
        self.ticket.as_ref().is_none_or(Ticket::take)
    }
}

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

/// A queued request's place, which its caller may give up until a batch takes the request.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ticket(Arc<AtomicU8>);

impl Ticket {
    /// Gives the request up if no batch has taken it yet (it will never be sent, nor
    /// answered); false once it is on its way, and then its answer will come.
    pub fn withdraw(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn take(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Sends what `queue` holds, in batches, until every sender of the queue is gone (the link
/// dropped).
pub(crate) async fn send_queued(link: Weak<Link>, mut queue: mpsc::UnboundedReceiver<Queued>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(batch) = next_batch(&mut queue).await else {
            return;
        };
        let Some(link) = link.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            send(&link, batch).await;
            drop(slot);
        });
    }
}

/// Waits for a request, then takes it and whatever else is queued (up to the caps), skipping
/// withdrawn ones. `None` once every sender of the queue is gone.
async fn next_batch(queue: &mut mpsc::UnboundedReceiver<Queued>) -> Option<Vec<Queued>> {
    let first = loop {
        let queued = queue.recv().await?;
        if queued.take() {
            break queued;
        }
    };
    let mut header_bytes = first.header_len;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && header_bytes < MAX_BATCH_HEADER {
        match queue.try_recv() {
            Ok(next) if next.take() => {
                header_bytes += next.header_len;
                batch.push(next);
            }
            Ok(_withdrawn) => {}
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn send(link: &Link, mut batch: Vec<Queued>) {
    if batch.len() == 1 {
        if let Some(one) = batch.pop() {
            let answer = link.call::<Header>(&one.request, one.body).await;
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
        let result = match cdn_proto::parse_response::<IgnoredAny>(&answer.header) {
            Ok(_) => Ok((answer.header, body.to_vec())),
            Err(cdn_proto::ProtoError::Remote { kind, message }) => {
                Err(CallError::Refused { kind, message })
            }
            Err(e) => Err(CallError::Invalid(e.to_string())),
        };
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(id: &str, ticket: Option<Ticket>) -> (Queued, oneshot::Receiver<Answer>) {
        let (reply, answer) = oneshot::channel();
        let request = Request::Extend {
            image_id: id.into(),
            token: 1,
        };
        (
            Queued {
                request,
                body: Vec::new(),
                header_len: 40,
                reply,
                ticket,
            },
            answer,
        )
    }

    fn ids(batch: &[Queued]) -> Vec<String> {
        batch
            .iter()
            .map(|q| match &q.request {
                Request::Extend { image_id, .. } => image_id.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_withdrawn_request_is_left_out_and_its_caller_told() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let tickets: Vec<Ticket> = (0..4).map(|_| Ticket::default()).collect();
        let mut answers = Vec::new();
        for (i, ticket) in tickets.iter().enumerate() {
            let (q, answer) = queued(&format!("t{i}"), Some(ticket.clone()));
            tx.send(q).expect("queue open");
            answers.push(answer);
        }
        // The first and the third are withdrawn before any batch takes them.
        assert!(tickets[0].withdraw());
        assert!(tickets[2].withdraw());
        let batch = next_batch(&mut rx).await.expect("a batch");
        assert_eq!(ids(&batch), ["t1", "t3"]);
        // Taken: too late to withdraw, the answer will come.
        assert!(!tickets[1].withdraw());
        assert!(!tickets[3].withdraw());
        // A withdrawn request's reply is dropped, never answered; a taken one's is pending.
        use oneshot::error::TryRecvError;
        assert!(matches!(answers[0].try_recv(), Err(TryRecvError::Closed)));
        assert!(matches!(answers[2].try_recv(), Err(TryRecvError::Closed)));
        assert!(matches!(answers[1].try_recv(), Err(TryRecvError::Empty)));
        drop(tx);
        assert!(next_batch(&mut rx).await.is_none());
    }

    #[tokio::test]
    async fn requests_without_a_ticket_always_go() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..3 {
            let (q, _answer) = queued(&format!("r{i}"), None);
            tx.send(q).expect("queue open");
        }
        let batch = next_batch(&mut rx).await.expect("a batch");
        assert_eq!(ids(&batch), ["r0", "r1", "r2"]);
    }

    #[test]
    fn withdrawing_twice_or_after_taking_fails() {
        let ticket = Ticket::default();
        assert!(ticket.withdraw());
        assert!(!ticket.withdraw());
        assert!(!ticket.take(), "a withdrawn request is not taken");
        let taken = Ticket::default();
        assert!(taken.take());
        assert!(!taken.withdraw());
    }
}
