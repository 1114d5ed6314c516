//! [`Dialer`]: connecting to one of several masters (`--master A,B,...`).
//!
//! The masters are tried in the list's order, starting from the one the caller prefers (the
//! one last used, or the one after a master just lost). An attempt that fails moves on to the
//! next master at once; one that has not finished after [`CONNECT_STAGGER`] gets company: the
//! next master is tried too, while the first attempt goes on. The first to complete the QUIC
//! and mutual-TLS handshake wins, and the others are dropped (a connection that completed
//! anyway is closed politely). So a master that is down or black-holed costs
//! [`CONNECT_STAGGER`], not a whole connect timeout, while the preferred master still wins
//! whenever it answers in time.

use crate::client::{Client, ClientError};
use crate::tls::{Identity, TlsError, DIALER_IDLE_TIMEOUT, DIALER_KEEP_ALIVE};
use cdn_common::MasterList;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long an attempt may go unanswered before the next master is tried beside it.
pub const CONNECT_STAGGER: Duration = Duration::from_millis(500);

/// Connects to one of a list of masters.
#[derive(Clone)]
pub struct Dialer {
    masters: MasterList,
    config: quinn::ClientConfig,
    connect_timeout: Duration,
}

/// A connection made by [`Dialer::connect`].
pub struct Connected {
    /// The master's index in the list.
    pub index: usize,
    /// The master's address, as listed.
    pub master: String,
    pub client: Client,
    /// The masters tried before this one answered, and why each did not (attempts still
    /// running when this one won are not here).
    pub failed: Vec<Attempt>,
}

/// One master that could not be connected to, and why.
#[derive(Debug)]
pub struct Attempt {
    pub master: String,
    pub error: ClientError,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            // "cannot connect to ADDR: WHY" would name the master twice.
            ClientError::Connect { message, .. } => write!(f, "{}: {message}", self.master),
            other => write!(f, "{}: {other}", self.master),
        }
    }
}

/// No master answered: every address tried, in the order tried, and why each failed.
#[derive(Debug, thiserror::Error)]
pub struct NoMaster {
    pub attempts: Vec<Attempt>,
}

impl fmt::Display for NoMaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.attempts.as_slice() {
            [one] => write!(f, "cannot connect to the master at {one}"),
            all => {
                write!(f, "cannot connect to any of the {} masters: ", all.len())?;
                for (i, attempt) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{attempt}")?;
                }
                Ok(())
            }
        }
    }
}

impl NoMaster {
    /// Whether trying again later might help: `false` only when every master failed for a
    /// reason that stays (a TLS refusal, a peer that is not a master, an address that does not
    /// resolve).
    pub fn retrying_may_help(&self) -> bool {
        self.attempts.iter().any(|attempt| {
            !matches!(
                attempt.error,
                ClientError::Refused { .. }
                    | ClientError::Tls(_)
                    | ClientError::NotAMaster { .. }
                    | ClientError::Address { .. }
            )
        })
    }
}

impl Dialer {
    /// A dialer of `masters` with our `identity`; each attempt gives up after
    /// `connect_timeout`. Its connections count as lost after [`DIALER_IDLE_TIMEOUT`] without
    /// a word from the master.
    pub fn new(
        masters: MasterList,
        identity: &Identity,
        connect_timeout: Duration,
    ) -> Result<Dialer, TlsError> {
        Ok(Dialer {
            masters,
            config: identity.client_config_with(DIALER_IDLE_TIMEOUT, DIALER_KEEP_ALIVE)?,
            connect_timeout,
        })
    }

    pub fn masters(&self) -> &MasterList {
        &self.masters
    }

    /// Connects to the first master that answers, trying them in order from `start` (an index
    /// into the list, taken round it); see the module's documentation.
    pub async fn connect(&self, start: usize) -> Result<Connected, NoMaster> {
        let mut order = self
            .masters
            .rotation(start)
            .map(|(index, master)| (index, master.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
            .peekable();
        let mut running = JoinSet::new();
        let mut names = HashMap::new();
        let mut failed = Vec::new();
        let mut next_at = Instant::now();
        loop {
            if running.is_empty() || Instant::now() >= next_at {
                match order.next() {
                    Some((index, master)) => {
                        let config = self.config.clone();
                        let timeout = self.connect_timeout;
                        tracing::debug!(%master, "connecting");
                        let attempt = master.clone();
                        let handle = running.spawn(async move {
                            (index, Client::dial(&attempt, config, timeout).await)
                        });
                        names.insert(handle.id(), master);
                        next_at = Instant::now() + CONNECT_STAGGER;
                    }
                    None if running.is_empty() => return Err(NoMaster { attempts: failed }),
                    None => {}
                }
            }
            let stagger = order.peek().is_some();
            let joined = tokio::select! {
                joined = running.join_next_with_id() => joined,
                _ = tokio::time::sleep_until(next_at), if stagger => continue,
            };
            let Some(joined) = joined else { continue };
            let (id, result) = match joined {
                Ok((id, (index, result))) => (id, result.map(|client| (index, client))),
                Err(e) => (
                    e.id(),
                    Err(ClientError::Connection(format!(
                        "the connect task failed: {e}"
                    ))),
                ),
            };
            let master = names.remove(&id).unwrap_or_default();
            match result {
                Ok((index, client)) => {
                    close_the_others(running);
                    return Ok(Connected {
                        index,
                        master,
                        client,
                        failed,
                    });
                }
                Err(error) => {
                    tracing::debug!(%master, "cannot connect: {error}");
                    failed.push(Attempt { master, error });
                    // The next master is tried at once.
                    next_at = Instant::now();
                }
            }
        }
    }
}

/// Stops the attempts still running; one that completed meanwhile is closed politely, so the
/// master does not keep its slot until the idle timeout.
fn close_the_others(mut running: JoinSet<(usize, Result<Client, ClientError>)>) {
    if running.is_empty() {
        return;
    }
    running.abort_all();
    tokio::spawn(async move {
        while let Some(joined) = running.join_next().await {
            if let Ok((_, Ok(client))) = joined {
                client.close().await;
            }
        }
    });
}
