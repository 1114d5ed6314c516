//! The connection to a master: our identity from the certificate folder, connecting to the
//! first master of `--master A,B,...` that answers, and [`Master::call`], the one typed request
//! helper every command uses. A long-running command (`wait`) uses [`Master::call_moving`],
//! which moves to the next master when the connection is lost.

use crate::cli::Global;
use crate::exit::Refused;
use anyhow::{anyhow, Context};
use cdn_proto::Request;
use cdn_transport::{CallError, Client, Connected, Dialer, Identity, Role};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::time::Instant;

/// The first wait before connecting again after a lost connection; doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// A connection to one master. `call` takes `&self`, so several requests may be in flight at
/// once over the one connection (each on its own stream).
pub struct Master {
    dialer: Dialer,
    /// The master's index in the list, and its address.
    index: usize,
    address: String,
    client: Client,
}

impl Master {
    /// Loads the client identity from `--certs` (and `--name`) and connects to the first
    /// master of `--master` that answers (in the order given).
    pub async fn connect(global: &Global) -> anyhow::Result<Master> {
        let masters = global.masters()?;
        if let Some(warning) = cdn_transport::ca_key_warning(&global.certs) {
            eprintln!("cdn: warning: {warning}");
        }
        let identity = Identity::load(&global.certs, Role::Client, global.name.as_deref())
            .context("cannot load the client certificate")?;
        tracing::debug!(masters = %global.master, identity = %identity.peer, "connecting");
        let dialer = Dialer::new(masters, &identity, global.connect_timeout)
            .context("cannot load the client certificate")?;
        let Connected {
            index,
            master: address,
            client,
            failed,
        } = dialer.connect(0).await?;
        let master = Master {
            dialer,
            index,
            address,
            client,
        };
        master.log_failed(&failed);
        Ok(master)
    }

    /// Uses the connection `connected` from now on.
    fn adopt(&mut self, connected: Connected) {
        self.log_failed(&connected.failed);
        self.index = connected.index;
        self.address = connected.master;
        self.client = connected.client;
    }

    fn log_failed(&self, failed: &[cdn_transport::Attempt]) {
        for attempt in failed {
            tracing::info!("master not answering: {attempt}");
        }
        tracing::debug!(master = %self.address, "connected");
    }

    /// Sends `request` with `body` and returns the typed response and its body. The master's
    /// error answer becomes [`Refused`] (exit 3); anything else (connection lost, an answer that
    /// is not the expected shape) is a local error (exit 1).
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: &Request,
        body: Vec<u8>,
    ) -> anyhow::Result<(T, Vec<u8>)> {
        let answer = self.client.call(request, body).await;
        self.answer(answer)
    }

    fn answer<T>(&self, answer: Result<T, CallError>) -> anyhow::Result<T> {
        match answer {
            Ok(answer) => Ok(answer),
            Err(CallError::Refused { kind, message }) => Err(Refused { kind, message }.into()),
            Err(other) => Err(anyhow!(other).context(format!("the master at {}", self.address))),
        }
    }

    /// [`Master::call`] for a request that may be asked twice (a query): when the connection
    /// is lost, connects to the next master of the list (going round it, with a back-off of
    /// 100 ms doubling to 3 s between rounds) and asks again, until `deadline`. `Ok(None)` when
    /// the deadline passed while waiting for an answer; an error naming every master tried when
    /// it passed while none answered.
    pub async fn call_moving<T: DeserializeOwned>(
        &mut self,
        request: &Request,
        deadline: Instant,
    ) -> anyhow::Result<Option<(T, Vec<u8>)>> {
        loop {
            let call = self.client.call(request, Vec::new());
            let Ok(answer) = tokio::time::timeout_at(deadline, call).await else {
                return Ok(None);
            };
            match answer {
                Err(CallError::Transport { source, .. }) => {
                    tracing::warn!(master = %self.address, "lost the connection to the master: {source}");
                    self.move_on(deadline, source.to_string()).await?;
                }
                other => return self.answer(other).map(Some),
            }
        }
    }

    /// Connects to the master after the current one (going round the list), retrying with
    /// back-off until one answers or `deadline` passes.
    async fn move_on(&mut self, deadline: Instant, lost: String) -> anyhow::Result<()> {
        let mut wait = FIRST_BACKOFF;
        let mut start = self.dialer.masters().next_after(self.index);
        let mut why = format!("{}: {lost}", self.address);
        loop {
            let connect = self.dialer.connect(start);
            match tokio::time::timeout_at(deadline, connect).await {
                Ok(Ok(connected)) => {
                    let from = std::mem::take(&mut self.address);
                    // The old connection is dead already: nothing to close politely.
                    self.adopt(connected);
                    tracing::warn!(master = %self.address, %from, "moved to another master");
                    return Ok(());
                }
                Ok(Err(no_master)) => why = no_master.to_string(),
                Err(_) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(anyhow!(why).context("no master answered before the timeout"));
            }
            tracing::info!("{why}; trying again in {wait:?}");
            tokio::time::sleep_until(deadline.min(now + wait)).await;
            wait = (wait * 2).min(MAX_BACKOFF);
            // Round the whole list again, from the master after the one lost.
            start = self.dialer.masters().next_after(self.index);
        }
    }

    /// Connects, makes one call and closes the connection whatever the answer: a connection
    /// dropped without a close keeps one of this identity's slots at the master (8 by default)
    /// until the idle timeout, so a script running many failing commands would be refused.
    pub async fn call_once<T: DeserializeOwned>(
        global: &Global,
        request: &Request,
        body: Vec<u8>,
    ) -> anyhow::Result<(T, Vec<u8>)> {
        let master = Master::connect(global).await?;
        let answer = master.call(request, body).await;
        master.close().await;
        answer
    }

    /// Closes the connection politely (and waits for the close to be sent).
    pub async fn close(self) {
        self.client.close().await;
    }
}
