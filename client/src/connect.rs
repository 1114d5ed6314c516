//! The connection to the master: our identity from the certificate folder, connecting, and
//! [`Master::call`], the one typed request helper every command uses.

use crate::cli::Global;
use crate::exit::Refused;
use anyhow::{anyhow, Context};
use cdn_proto::Request;
use cdn_transport::{CallError, Client, ClientError, Identity, Role};
use serde::de::DeserializeOwned;

/// A connection to the master. `call` takes `&self`, so several requests may be in flight at
/// once over the one connection (each on its own stream).
pub struct Master {
    client: Client,
    address: String,
}

impl Master {
    /// Loads the client identity from `--certs` (and `--name`) and connects to `--master`.
    pub async fn connect(global: &Global) -> anyhow::Result<Master> {
        if let Some(warning) = cdn_transport::ca_key_warning(&global.certs) {
            eprintln!("cdn: warning: {warning}");
        }
        let identity = Identity::load(&global.certs, Role::Client, global.name.as_deref())
            .context("cannot load the client certificate")?;
        tracing::debug!(master = %global.master, identity = %identity.peer, "connecting");
        let client = Client::connect_to(&global.master, &identity, global.connect_timeout)
            .await
            .map_err(|error| match error {
                // Already says "cannot connect to ADDR: ...".
                ClientError::Connect { .. } => anyhow!(error),
                other => anyhow!(other)
                    .context(format!("cannot connect to the master at {}", global.master)),
            })?;
        Ok(Master {
            client,
            address: global.master.clone(),
        })
    }

    /// Sends `request` with `body` and returns the typed response and its body. The master's
    /// error answer becomes [`Refused`] (exit 3); anything else (connection lost, an answer that
    /// is not the expected shape) is a local error (exit 1).
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: &Request,
        body: Vec<u8>,
    ) -> anyhow::Result<(T, Vec<u8>)> {
        match self.client.call(request, body).await {
            Ok(answer) => Ok(answer),
            Err(CallError::Refused { kind, message }) => Err(Refused { kind, message }.into()),
            Err(other) => Err(anyhow!(other).context(format!("the master at {}", self.address))),
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
