//! The serving side: accept connections, learn each peer from its certificate, and answer every
//! stream's request with the handler's response, within [`ServerLimits`]: streams per
//! connection, connections per identity, and a budget for request bodies across connections.

use crate::admission::Admission;
use crate::budget::BodyBudget;
use crate::frame::{self, Frame, FrameLimits};
use crate::limits::{ServerLimits, CLOSE_NO_IDENTITY, CLOSE_SHUTDOWN, CLOSE_TOO_MANY_CONNECTIONS};
use crate::peer::Peer;
use crate::tls::{Identity, TlsError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Answers one request. `peer` comes from the verified certificate, not from the request.
/// The future is dropped (cancelled at an await point) if the peer abandons the request, so
/// work that must not be half done belongs in a spawned or blocking task.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, peer: &Peer, request: Frame) -> impl Future<Output = Frame> + Send;
}

/// A listening QUIC endpoint that requires client certificates from our CA, and keeps each
/// peer within [`ServerLimits`].
pub struct Server {
    endpoint: quinn::Endpoint,
    frames: FrameLimits,
    limits: ServerLimits,
    budget: BodyBudget,
    admission: Arc<Admission>,
}

/// What every connection and stream task of one server shares.
struct Shared {
    frames: FrameLimits,
    read_timeout: Duration,
    budget: BodyBudget,
    admission: Arc<Admission>,
}

impl Server {
    /// Listens on `addr` (UDP) with `identity` (a master certificate) and the default
    /// [`ServerLimits`].
    pub fn bind(
        addr: SocketAddr,
        identity: &Identity,
        frames: FrameLimits,
    ) -> Result<Server, TlsError> {
        Server::bind_with(addr, identity, frames, ServerLimits::default())
    }

    /// Listens on `addr` (UDP) with `identity` (a master certificate) and `limits`. The body
    /// budget is raised to `frames.max_body` if smaller, so every allowed body can arrive.
    pub fn bind_with(
        addr: SocketAddr,
        identity: &Identity,
        frames: FrameLimits,
        mut limits: ServerLimits,
    ) -> Result<Server, TlsError> {
        limits.validate().map_err(TlsError::Limit)?;
        if limits.body_budget < frames.max_body {
            tracing::info!(
                budget = limits.body_budget,
                max_body = frames.max_body,
                "the request-body budget is raised to the largest body"
            );
            limits.body_budget = frames.max_body;
        }
        let config = identity.server_config_with(limits.max_streams_per_conn)?;
        let endpoint = quinn::Endpoint::server(config, addr)
            .map_err(|e| TlsError::Config(format!("cannot listen on {addr}: {e}")))?;
        Ok(Server {
            endpoint,
            frames,
            budget: BodyBudget::new(limits.body_budget, limits.budget_wait),
            admission: Admission::new(limits.max_conns_per_identity),
            limits,
        })
    }

    /// Sets how long a peer may take to send one request frame (default
    /// [`crate::REQUEST_READ_TIMEOUT`]); a slower one gets a `timeout` error frame.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Server {
        self.limits.read_timeout = timeout;
        self
    }

    /// The limits in force (the body budget as raised by [`Server::bind_with`]).
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// Request-body bytes held right now, of [`ServerLimits::body_budget`].
    pub fn body_budget_in_use(&self) -> u64 {
        self.budget.in_use() as u64
    }

    /// Connections `peer` has open right now.
    pub fn connections_of(&self, peer: &Peer) -> u32 {
        self.admission.open(peer)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Serves until [`Server::close`] is called. Each connection and each stream runs in its
    /// own task, so a slow or broken one never holds up the others.
    pub async fn serve<H: Handler>(&self, handler: Arc<H>) {
        let shared = Arc::new(Shared {
            frames: self.frames,
            read_timeout: self.limits.read_timeout,
            budget: self.budget.clone(),
            admission: self.admission.clone(),
        });
        while let Some(incoming) = self.endpoint.accept().await {
            let handler = handler.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                match incoming.await {
                    Ok(connection) => serve_connection(connection, handler, shared).await,
                    Err(e) => tracing::info!(%remote, "refused a connection: {e}"),
                }
            });
        }
    }

    /// Stops accepting and closes every connection.
    pub fn close(&self) {
        self.endpoint
            .close(CLOSE_SHUTDOWN.into(), b"server shutting down");
    }

    /// Waits until every connection is closed (after [`Server::close`]).
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

async fn serve_connection<H: Handler>(
    connection: quinn::Connection,
    handler: Arc<H>,
    shared: Arc<Shared>,
) {
    let remote = connection.remote_address();
    let Some(peer) = Peer::of_connection(&connection) else {
        tracing::warn!(%remote, "closing a connection whose certificate has no imagecdn identity");
        connection.close(
            CLOSE_NO_IDENTITY.into(),
            b"certificate has no imagecdn identity",
        );
        return;
    };
    // Held for as long as this connection is served.
    let Some(_admitted) = shared.admission.admit(&peer) else {
        let reason = format!(
            "too many connections for {peer} (at most {} at once)",
            shared.admission.max_per_identity()
        );
        tracing::warn!(%remote, %peer, "refused a connection: {reason}");
        connection.close(CLOSE_TOO_MANY_CONNECTIONS.into(), reason.as_bytes());
        return;
    };
    tracing::debug!(%remote, %peer, "connected");
    let peer = Arc::new(peer);
    loop {
        match connection.accept_bi().await {
            Ok((send, recv)) => {
                tokio::spawn(serve_stream(
                    send,
                    recv,
                    handler.clone(),
                    peer.clone(),
                    shared.clone(),
                ));
            }
            Err(e) => {
                tracing::debug!(%remote, peer = %peer, "connection ended: {e}");
                return;
            }
        }
    }
}

async fn serve_stream<H: Handler>(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    handler: Arc<H>,
    peer: Arc<Peer>,
    shared: Arc<Shared>,
) {
    let read_timeout = shared.read_timeout;
    // The body's share of the request-body budget, given back when this is dropped: after the
    // handler has answered, or as soon as reading fails.
    let mut budget = shared.budget.hold();
    let reading = frame::read_budgeted(&mut recv, shared.frames, &mut budget);
    let request = match tokio::time::timeout(read_timeout, reading).await {
        Ok(request) => request.map_err(|e| (e.kind(), e.to_string())),
        Err(_) => Err((
            "timeout",
            format!("the request frame was not complete within {read_timeout:?}"),
        )),
    };
    let response = match request {
        Ok(request) => {
            // In a task of its own, so that a panicking handler costs an error frame, not the
            // stream without an answer.
            let mut task = {
                let peer = peer.clone();
                tokio::spawn(async move { handler.handle(&peer, request).await })
            };
            // A peer that gives up on its request (drops the stream, or the connection is lost)
            // cancels the handler: a long poll stops waiting instead of taking work for nobody.
            let outcome = tokio::select! {
                outcome = &mut task => Some(outcome),
                _ = send.stopped() => None,
            };
            if outcome.is_none() {
                task.abort();
            }
            drop(budget);
            match outcome {
                Some(Ok(response)) => response,
                Some(Err(e)) => {
                    tracing::error!(peer = %peer, "request handler failed: {e}");
                    Frame::error("internal", "the server failed while handling the request")
                }
                None => {
                    tracing::debug!(peer = %peer, "request abandoned by the peer");
                    return;
                }
            }
        }
        Err((kind, message)) => {
            drop(budget);
            tracing::info!(peer = %peer, kind, "bad request frame: {message}");
            // Whatever else the peer sends on this stream is not read.
            let _ = recv.stop(1u32.into());
            Frame::error(kind, message)
        }
    };
    if let Err(e) = frame::write(&mut send, response).await {
        tracing::debug!(peer = %peer, "could not send a response: {e}");
    }
}
