//! The serving side: accept connections, learn each peer from its certificate, and answer every
//! stream's request with the handler's response.

use crate::frame::{self, Frame, FrameLimits};
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

/// How long a peer may take to send one whole request frame (a 64 MiB upload at ~250 KB/s).
/// Keep-alives keep an idle connection open, so without this a peer could hold a stream and its
/// task forever by sending nothing.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// A listening QUIC endpoint that requires client certificates from our CA.
pub struct Server {
    endpoint: quinn::Endpoint,
    limits: FrameLimits,
    read_timeout: Duration,
}

impl Server {
    /// Listens on `addr` (UDP) with `identity` (a master certificate).
    pub fn bind(
        addr: SocketAddr,
        identity: &Identity,
        limits: FrameLimits,
    ) -> Result<Server, TlsError> {
        let config = identity.server_config()?;
        let endpoint = quinn::Endpoint::server(config, addr)
            .map_err(|e| TlsError::Config(format!("cannot listen on {addr}: {e}")))?;
        Ok(Server {
            endpoint,
            limits,
            read_timeout: REQUEST_READ_TIMEOUT,
        })
    }

    /// Sets how long a peer may take to send one request frame (default
    /// [`REQUEST_READ_TIMEOUT`]); a slower one gets a `timeout` error frame.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Server {
        self.read_timeout = timeout;
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Serves until [`Server::close`] is called. Each connection and each stream runs in its
    /// own task, so a slow or broken one never holds up the others.
    pub async fn serve<H: Handler>(&self, handler: Arc<H>) {
        while let Some(incoming) = self.endpoint.accept().await {
            let handler = handler.clone();
            let limits = self.limits;
            let read_timeout = self.read_timeout;
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                match incoming.await {
                    Ok(connection) => {
                        serve_connection(connection, handler, limits, read_timeout).await
                    }
                    Err(e) => tracing::info!(%remote, "refused a connection: {e}"),
                }
            });
        }
    }

    /// Stops accepting and closes every connection.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"server shutting down");
    }

    /// Waits until every connection is closed (after [`Server::close`]).
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

async fn serve_connection<H: Handler>(
    connection: quinn::Connection,
    handler: Arc<H>,
    limits: FrameLimits,
    read_timeout: Duration,
) {
    let remote = connection.remote_address();
    let Some(peer) = Peer::of_connection(&connection) else {
        tracing::warn!(%remote, "closing a connection whose certificate has no imagecdn identity");
        connection.close(1u32.into(), b"certificate has no imagecdn identity");
        return;
    };
    tracing::debug!(%remote, %peer, "connected");
    let peer = Arc::new(peer);
    loop {
        match connection.accept_bi().await {
            Ok((send, recv)) => {
                let handler = handler.clone();
                let peer = peer.clone();
                tokio::spawn(serve_stream(
                    send,
                    recv,
                    handler,
                    peer,
                    limits,
                    read_timeout,
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
    limits: FrameLimits,
    read_timeout: Duration,
) {
    let request = match tokio::time::timeout(read_timeout, frame::read(&mut recv, limits)).await {
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
            match outcome {
                Some(Ok(response)) => response,
                Some(Err(e)) => {
                    tracing::error!(peer = %peer, "request handler failed: {e}");
                    Frame::error("internal", "the server failed while handling the request")
                }
                None => {
                    task.abort();
                    tracing::debug!(peer = %peer, "request abandoned by the peer");
                    return;
                }
            }
        }
        Err((kind, message)) => {
            tracing::info!(peer = %peer, kind, "bad request frame: {message}");
            // Whatever else the peer sends on this stream is not read.
            let _ = recv.stop(1u32.into());
            Frame::error(kind, message)
        }
    };
    if let Err(e) = frame::write(&mut send, &response).await {
        tracing::debug!(peer = %peer, "could not send a response: {e}");
    }
}
