//! The connecting side: one QUIC connection to the master, one stream per request.

use crate::frame::{self, Frame, FrameError, FrameLimits};
use crate::peer::Peer;
use crate::tls::{Identity, TlsError};
use cdn_certs::Role;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: SocketAddr, message: String },
    #[error("{addr} is not an imagecdn master (its certificate says {found})")]
    NotAMaster { addr: SocketAddr, found: String },
    #[error("request failed: {0}")]
    Connection(String),
    #[error("bad response: {0}")]
    Frame(#[from] FrameError),
}

/// A connection to the master.
pub struct Client {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    limits: FrameLimits,
}

impl Client {
    /// Connects to the master at `addr`, which must present a certificate for `server_name`
    /// signed by our CA, presenting our own certificate.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        identity: &Identity,
    ) -> Result<Client, ClientError> {
        Client::connect_with(addr, server_name, identity.client_config()?).await
    }

    /// Connects with an explicit quinn configuration (see `tls::anonymous_client_config`).
    pub async fn connect_with(
        addr: SocketAddr,
        server_name: &str,
        config: quinn::ClientConfig,
    ) -> Result<Client, ClientError> {
        let connect_error = |message: String| ClientError::Connect { addr, message };
        let local: SocketAddr = if addr.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let mut endpoint =
            quinn::Endpoint::client(local).map_err(|e| connect_error(e.to_string()))?;
        endpoint.set_default_client_config(config);
        let connection = endpoint
            .connect(addr, server_name)
            .map_err(|e| connect_error(e.to_string()))?
            .await
            .map_err(|e| connect_error(describe(&e)))?;
        match Peer::of_connection(&connection) {
            Some(peer) if peer.role == Role::Master => {}
            other => {
                connection.close(1u32.into(), b"not a master");
                return Err(ClientError::NotAMaster {
                    addr,
                    found: other.map_or("no imagecdn identity".into(), |p| p.to_string()),
                });
            }
        }
        Ok(Client {
            endpoint,
            connection,
            limits: FrameLimits::default(),
        })
    }

    /// Sets the caps on responses (default: 64 KiB header, 64 MiB body).
    pub fn set_limits(&mut self, limits: FrameLimits) {
        self.limits = limits;
    }

    /// Sends one request on a new stream and waits for its response. An error response from
    /// the server (see [`Frame::as_error`]) is still a response.
    pub async fn request(&self, request: &Frame) -> Result<Frame, ClientError> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| ClientError::Connection(describe(&e)))?;
        if let Err(e) = frame::write(&mut send, request).await {
            // The server may have answered (and stopped reading) already: prefer its answer.
            if let Ok(response) = frame::read(&mut recv, self.limits).await {
                return Ok(response);
            }
            return Err(self.explain(e));
        }
        frame::read(&mut recv, self.limits)
            .await
            .map_err(|e| self.explain(e))
    }

    /// Sends raw bytes as a request (for tests of malformed frames) and reads the response.
    pub async fn request_raw(&self, bytes: &[u8]) -> Result<Frame, ClientError> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| ClientError::Connection(describe(&e)))?;
        // The server may stop reading early; its response is what counts.
        let _ = send.write_all(bytes).await;
        let _ = send.finish();
        frame::read(&mut recv, self.limits)
            .await
            .map_err(|e| self.explain(e))
    }

    /// The master's identity, from its certificate.
    pub fn peer(&self) -> Option<Peer> {
        Peer::of_connection(&self.connection)
    }

    /// Closes the connection politely and waits for the close to be sent.
    pub async fn close(self) {
        self.connection.close(0u32.into(), b"bye");
        self.endpoint.wait_idle().await;
    }

    /// A stream error usually means the connection was closed: say why, in TLS terms if so.
    fn explain(&self, error: FrameError) -> ClientError {
        match self.connection.close_reason() {
            Some(reason) => ClientError::Connection(describe(&reason)),
            None => ClientError::Frame(error),
        }
    }
}

/// A connection error in words a user can act on (TLS alerts named).
pub fn describe(error: &quinn::ConnectionError) -> String {
    use quinn::ConnectionError as E;
    let (code, reason, by_peer) = match error {
        E::TransportError(e) => (u64::from(e.code), e.reason.clone(), false),
        E::ConnectionClosed(close) => (
            u64::from(close.error_code),
            String::from_utf8_lossy(&close.reason).into_owned(),
            true,
        ),
        E::ApplicationClosed(close) => {
            return format!(
                "closed by the peer: {}",
                String::from_utf8_lossy(&close.reason)
            )
        }
        E::TimedOut => return "timed out (is the master running, and reachable over UDP?)".into(),
        other => return other.to_string(),
    };
    let who = if by_peer {
        "the peer refused the connection"
    } else {
        "TLS failed"
    };
    match code.checked_sub(0x100).filter(|alert| *alert < 0x100) {
        Some(alert) => {
            let what = match alert {
                40 => "handshake failure",
                42 => "bad certificate",
                45 => "certificate expired",
                46 => "certificate unknown",
                48 => "unknown CA (certificate not signed by the trusted CA)",
                51 => "bad signature (certificate not signed by the trusted CA)",
                112 => "unrecognised server name",
                116 => "no client certificate (certificate required)",
                120 => "no common protocol (ALPN imagecdn/1)",
                _ => "TLS alert",
            };
            if reason.is_empty() {
                format!("{who}: {what} (alert {alert})")
            } else {
                format!("{who}: {what} (alert {alert}): {reason}")
            }
        }
        None => format!("{error}"),
    }
}
