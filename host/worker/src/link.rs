//! The worker's line to the master: one QUIC connection shared by every task, made again (with
//! back-off) when it breaks, and one typed `call` for every op.

use cdn_proto::Request;
use cdn_transport::{Client, ClientError, Identity};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// The first wait after a failed connection attempt; it doubles up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a call got no answer from the master, or got an error.
#[derive(Debug, thiserror::Error)]
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

pub(crate) struct Link {
    master: String,
    identity: Identity,
    connect_timeout: Duration,
    current: Mutex<Option<Arc<Client>>>,
}

impl Link {
    pub fn new(master: String, identity: Identity, connect_timeout: Duration) -> Link {
        Link {
            master,
            identity,
            connect_timeout,
            current: Mutex::new(None),
        }
    }

    pub fn master(&self) -> &str {
        &self.master
    }

    /// The current connection, or a new one (one attempt).
    async fn client(&self) -> Result<Arc<Client>, ClientError> {
        let mut current = self.current.lock().await;
        if let Some(client) = current.as_ref() {
            return Ok(client.clone());
        }
        let client =
            Arc::new(Client::connect_to(&self.master, &self.identity, self.connect_timeout).await?);
        tracing::info!(master = %self.master, "connected to the master");
        *current = Some(client.clone());
        Ok(client)
    }

    /// Connects once; a TLS refusal or a bad address is an error the caller should stop on
    /// (it will not get better by retrying), anything else is retried by later calls.
    pub async fn first_connect(&self) -> Result<(), ClientError> {
        match self.client().await {
            Ok(_) => Ok(()),
            Err(
                e @ (ClientError::Refused { .. }
                | ClientError::Tls(_)
                | ClientError::NotAMaster { .. }
                | ClientError::Address { .. }),
            ) => Err(e),
            Err(e) => {
                tracing::warn!(master = %self.master, "master not reachable yet, will retry: {e}");
                Ok(())
            }
        }
    }

    /// Forgets `broken` (if it is still the current connection) so the next call reconnects.
    async fn forget(&self, broken: &Arc<Client>) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, broken)) {
            *current = None;
        }
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
                self.forget(&client).await;
                Err(CallError::Unreachable(e.to_string()))
            }
            Err(e) => Err(CallError::Invalid(e.to_string())),
        }
    }

    /// Closes the connection politely, if there is one.
    pub async fn close(&self) {
        if let Some(client) = self.current.lock().await.take() {
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
