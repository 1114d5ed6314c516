//! The serving side: accept connections, learn each peer from its certificate, and answer every
//! stream's request with the handler's response.

use crate::frame::{self, Frame, FrameLimits};
use crate::peer::Peer;
use crate::tls::{Identity, TlsError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Answers one request. `peer` comes from the verified certificate, not from the request.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, peer: &Peer, request: Frame) -> impl Future<Output = Frame> + Send;
}

/// A listening QUIC endpoint that requires client certificates from our CA.
pub struct Server {
    endpoint: quinn::Endpoint,
    limits: FrameLimits,
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
        Ok(Server { endpoint, limits })
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
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                match incoming.await {
                    Ok(connection) => serve_connection(connection, handler, limits).await,
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
                tokio::spawn(serve_stream(send, recv, handler, peer, limits));
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
) {
    let response = match frame::read(&mut recv, limits).await {
        Ok(request) => handler.handle(&peer, request).await,
        Err(e) => {
            tracing::info!(peer = %peer, "bad request frame: {e}");
            // Whatever else the peer sends on this stream is not read.
            let _ = recv.stop(1u32.into());
            Frame::error(e.kind(), e.to_string())
        }
    };
    if let Err(e) = frame::write(&mut send, &response).await {
        tracing::debug!(peer = %peer, "could not send a response: {e}");
    }
}
