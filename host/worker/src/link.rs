//! The worker's line to the masters: one QUIC connection shared by every task, to one master
//! of the list (`--master A,B,...`) at a time, and one typed `call` for every op.
//!
//! When the connection breaks (the master closed it, or went silent for the dialer's idle
//! timeout: killed, its machine gone), the next call connects again, starting from the *next*
//! master of the list and going round it ([`cdn_transport::Dialer`]). A round in which no master
//! answered is followed by a back-off ([`Backoff`]) before the next round; calls meanwhile fail
//! at once. Leases outlive the move: every master shares the registry, so a lease granted
//! through one is extended, completed or failed through another (the keeper and the report
//! just call again).
//!
//! Reports on tasks held (`extend`, `complete`, `fail`) go through [`Link::call_soon`], which
//! batches them ([`crate::batching`]).

use crate::batching::{self, Queued, Ticket};
use cdn_common::MasterList;
use cdn_proto::{from_header, Request};
use cdn_transport::{Client, Dialer, NoMaster};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Mutex};

/// The first wait after a failed connection attempt; it doubles up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a call got no answer from the master, or got an error.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    /// The master answered with an error (`stale`, `not_found`, ...).
    #[error("{kind}: {message}")]
    Refused { kind: String, message: String },
    /// No answer: the connection is down or broke during the call.
    #[error("no answer from the master: {0}")]
    Unreachable(String),
    /// This side could not encode the request, or could not read the answer.
    #[error("{0}")]
    Invalid(String),
}

/// Why there is no connection to hand out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Down {
    /// A round of connection attempts just failed.
    #[error(transparent)]
    NoMaster(NoMaster),
    /// The last round failed and the back-off before the next has not passed yet.
    #[error("{why} (trying again in {left:?})")]
    BackingOff { why: String, left: Duration },
}

pub(crate) struct Link {
    dialer: Dialer,
    state: Mutex<State>,
    /// Requests for the next batch ([`Link::call_soon`]).
    queue: mpsc::UnboundedSender<Queued>,
}

struct State {
    /// The connection in use, and its master's index in the list.
    current: Option<(usize, Arc<Client>)>,
    /// Where the next round of attempts starts: the master last used, or the one after a
    /// master just lost.
    next: usize,
    /// The master last connected to, to tell a move from a first connection in the logs.
    last: Option<usize>,
    /// Back-off between rounds in which no master answered.
    backoff: Backoff,
    /// After a failed round: when the next may start, and why that one failed.
    failed: Option<(Instant, String)>,
}

impl Link {
    /// The link, with the task that sends its batches (it ends when the link is dropped).
    pub fn start(dialer: Dialer) -> Arc<Link> {
        let (queue, queued) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            dialer,
            state: Mutex::new(State {
                current: None,
                next: 0,
                last: None,
                backoff: Backoff::new(),
                failed: None,
            }),
            queue,
        });
        tokio::spawn(batching::send_queued(Arc::downgrade(&link), queued));
        link
    }

    pub fn masters(&self) -> &MasterList {
        self.dialer.masters()
    }

    /// The current connection, or a new one (one round over the masters).
    async fn client(&self) -> Result<Arc<Client>, Down> {
        let mut state = self.state.lock().await;
        if let Some((index, client)) = &state.current {
            if !client.is_closed() {
                return Ok(client.clone());
            }
            let index = *index;
            self.lost(&mut state, index, "the connection is closed");
        }
        if let Some((at, why)) = &state.failed {
            let left = at.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(Down::BackingOff {
                    why: why.clone(),
                    left,
                });
            }
        }
        let masters = self.dialer.masters();
        match self.dialer.connect(state.next).await {
            Ok(connected) => {
                for attempt in &connected.failed {
                    tracing::warn!(master = %attempt.master, "master not answering: {attempt}");
                }
                match state.last {
                    Some(last) if last != connected.index => tracing::warn!(
                        master = %connected.master,
                        from = %masters.get(last),
                        "moved to another master"
                    ),
                    _ => tracing::info!(master = %connected.master, "connected to the master"),
                }
                let client = Arc::new(connected.client);
                state.current = Some((connected.index, client.clone()));
                state.next = connected.index;
                state.last = Some(connected.index);
                state.backoff.reset();
                state.failed = None;
                Ok(client)
            }
            Err(no_master) => {
                let wait = state.backoff.next_wait();
                state.failed = Some((Instant::now() + wait, no_master.to_string()));
                Err(Down::NoMaster(no_master))
            }
        }
    }

    /// Drops the connection to master `index` (the current one) and makes the next round
    /// start at the master after it.
    fn lost(&self, state: &mut State, index: usize, why: &str) {
        let masters = self.dialer.masters();
        state.current = None;
        state.next = masters.next_after(index);
        tracing::warn!(
            master = %masters.get(index),
            next = %masters.get(state.next),
            "lost the connection to the master ({why}); connecting to the next"
        );
    }

    /// Connects once; when every master refused for a reason that stays (TLS refusal, not a
    /// master, an address that does not resolve) that is an error the caller should stop on;
    /// anything else is retried by later calls.
    pub async fn first_connect(&self) -> Result<(), NoMaster> {
        match self.client().await {
            Ok(_) => Ok(()),
            Err(Down::NoMaster(no_master)) if !no_master.retrying_may_help() => Err(no_master),
            Err(e) => {
                tracing::warn!(masters = %self.masters(), "no master reachable yet, will retry: {e}");
                Ok(())
            }
        }
    }

    /// Forgets `broken` (if it is still the current connection) so the next call connects to
    /// the next master.
    async fn forget(&self, broken: &Arc<Client>, why: &str) {
        let mut state = self.state.lock().await;
        let index = match &state.current {
            Some((index, client)) if Arc::ptr_eq(client, broken) => *index,
            _ => return,
        };
        self.lost(&mut state, index, why);
    }

    /// Sends `request` with `body`: the typed response and its body, or why not.
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: &Request,
        body: Vec<u8>,
    ) -> Result<(T, Vec<u8>), CallError> {
        let client = self
            .client()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        match client.call(request, body).await {
            Ok(answer) => Ok(answer),
            Err(cdn_transport::CallError::Refused { kind, message }) => {
                Err(CallError::Refused { kind, message })
            }
            Err(e @ cdn_transport::CallError::Transport { .. }) => {
                let why = e.to_string();
                self.forget(&client, &why).await;
                Err(CallError::Unreachable(why))
            }
            Err(e) => Err(CallError::Invalid(e.to_string())),
        }
    }

    /// Like [`Link::call`], but the request may travel in one `batch` frame with others made
    /// about the same time (answered as if sent alone).
    pub async fn call_soon<T: DeserializeOwned>(
        &self,
        request: &Request,
        body: Vec<u8>,
    ) -> Result<(T, Vec<u8>), CallError> {
        self.call_soon_unless(request, body, None).await
    }

    /// [`Link::call_soon`] of a request the caller may withdraw with `ticket` until a batch
    /// takes it (a withdrawn request is never sent; its caller drops this future, which would
    /// only end in an error).
    pub async fn call_soon_unless<T: DeserializeOwned>(
        &self,
        request: &Request,
        body: Vec<u8>,
        ticket: Option<Ticket>,
    ) -> Result<(T, Vec<u8>), CallError> {
        let header_len = serde_json::to_vec(request)
            .map_err(|e| CallError::Invalid(format!("encoding a request: {e}")))?
            .len();
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Queued {
                request: request.clone(),
                body,
                header_len,
                reply,
                ticket,
            })
            .map_err(|_| CallError::Invalid("the batch sender has stopped".into()))?;
        let (header, body) = answer
            .await
            .map_err(|_| CallError::Invalid("the batch sender dropped the request".into()))??;
        let typed = from_header(&header).map_err(|e| CallError::Invalid(e.to_string()))?;
        Ok((typed, body))
    }

    /// Closes the connection politely, if there is one.
    pub async fn close(&self) {
        if let Some((_, client)) = self.state.lock().await.current.take() {
            if let Ok(client) = Arc::try_unwrap(client) {
                client.close().await;
            }
        }
    }
}

/// Back-off between attempts: 200 ms doubling to 5 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(FIRST_BACKOFF)
    }

    /// The wait before the next attempt (and doubles the one after).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }

    pub fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<_> = (0..8).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_wait(), FIRST_BACKOFF);
    }
}
