//! The connecting side: one QUIC connection to the master, one stream per request.

use crate::frame::{self, Frame, FrameError, FrameLimits};
use crate::limits::CLOSE_TOO_MANY_CONNECTIONS;
use crate::peer::Peer;
use crate::tls::{Identity, TlsError};
use cdn_certs::Role;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long past a round trip [`Client::close`] waits for the close to be sent.
const CLOSE_GRACE: Duration = Duration::from_millis(5);

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: SocketAddr, message: String },
    /// The TLS handshake was refused, by the master (`by_peer`) or by us; says which check failed.
    #[error("{}: {refusal}{}", if *by_peer { "the master refused our certificate" } else { "we refused the master's certificate" }, detail_suffix(detail))]
    Refused {
        refusal: Refusal,
        by_peer: bool,
        /// The TLS library's own words, when there are any.
        detail: String,
    },
    #[error("the connection timed out (is the master running, and reachable over UDP?)")]
    TimedOut,
    #[error("{addr} is not an imagecdn master (its certificate says {found})")]
    NotAMaster { addr: SocketAddr, found: String },
    /// The master closed the connection because our identity (role and name) already has as
    /// many connections open as it allows. `reason` is the master's ("too many connections for
    /// worker/w1 (at most 8 at once)").
    #[error("the master refused this connection: {reason}; close other connections of this identity (another process using the same certificate?) or raise the master's limit")]
    TooManyConnections { reason: String },
    #[error("connection lost: {0}")]
    Connection(String),
    #[error("bad response: {0}")]
    Frame(#[from] FrameError),
    #[error("bad master address {given:?}: {why}")]
    Address { given: String, why: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// Which TLS check refused a handshake (from the TLS alert, RFC 8446 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No client certificate was presented, and the master requires one (alert 116).
    NoClientCertificate,
    /// The certificate is not signed by the trusted CA (alert 48, or 51 for a bad signature).
    UnknownCa,
    /// The certificate has expired or is not yet valid (alert 45).
    CertificateExpired,
    /// The master's certificate is not valid for the name we connected to (alert 42).
    ServerNameMismatch,
    /// The certificate is unusable for another reason (alerts 42, 43, 46).
    BadCertificate,
    /// The peer does not speak `imagecdn/1` (alert 120).
    NoCommonProtocol,
    /// Any other TLS alert.
    Alert(u8),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoClientCertificate => {
                f.write_str("no client certificate (the master requires one from its CA)")
            }
            Refusal::UnknownCa => f.write_str("unknown CA (certificate not signed by the trusted CA)"),
            Refusal::CertificateExpired => f.write_str("certificate expired (or not yet valid)"),
            Refusal::ServerNameMismatch => f.write_str(
                "server name mismatch (the master's certificate is not valid for the name connected to)",
            ),
            Refusal::BadCertificate => f.write_str("bad certificate"),
            Refusal::NoCommonProtocol => f.write_str("no common protocol (ALPN imagecdn/1)"),
            Refusal::Alert(alert) => write!(f, "TLS alert {alert}"),
        }
    }
}

impl ClientError {
    /// A QUIC connection error in terms a user can act on: TLS refusals named, timeouts told apart.
    pub fn from_connection(error: &quinn::ConnectionError) -> ClientError {
        use quinn::ConnectionError as E;
        let (code, detail, by_peer) = match error {
            E::TransportError(e) => (u64::from(e.code), e.reason.clone(), false),
            E::ConnectionClosed(close) => (
                u64::from(close.error_code),
                String::from_utf8_lossy(&close.reason).into_owned(),
                true,
            ),
            E::ApplicationClosed(close)
                if u64::from(close.error_code) == u64::from(CLOSE_TOO_MANY_CONNECTIONS) =>
            {
                return ClientError::TooManyConnections {
                    reason: String::from_utf8_lossy(&close.reason).into_owned(),
                }
            }
            E::ApplicationClosed(close) => {
                return ClientError::Connection(format!(
                    "closed by the master: {}",
                    String::from_utf8_lossy(&close.reason)
                ))
            }
            E::TimedOut => return ClientError::TimedOut,
            other => return ClientError::Connection(other.to_string()),
        };
        // TLS alerts travel as QUIC CRYPTO_ERROR codes 0x100 + alert (RFC 9001 §4.8).
        let Some(alert) = code
            .checked_sub(0x100)
            .and_then(|alert| u8::try_from(alert).ok())
        else {
            return ClientError::Connection(error.to_string());
        };
        let refusal = match alert {
            116 => Refusal::NoClientCertificate,
            48 | 51 => Refusal::UnknownCa,
            45 => Refusal::CertificateExpired,
            42 if detail.contains("not valid for name") => Refusal::ServerNameMismatch,
            42 | 43 | 46 => Refusal::BadCertificate,
            120 => Refusal::NoCommonProtocol,
            other => Refusal::Alert(other),
        };
        ClientError::Refused {
            refusal,
            by_peer,
            detail,
        }
    }

    /// The TLS refusal, if this is one.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            ClientError::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        }
    }
}

/// The socket address of `HOST:PORT` and the name its certificate must carry (`HOST`, without
/// brackets for IPv6).
pub async fn resolve_master(master: &str) -> Result<(SocketAddr, String), ClientError> {
    let bad = |why: &str| ClientError::Address {
        given: master.to_string(),
        why: why.to_string(),
    };
    if let Ok(addr) = master.parse::<SocketAddr>() {
        return Ok((addr, addr.ip().to_string()));
    }
    let (host, port) = master
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT, e.g. 127.0.0.1:4433"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad("expected HOST:PORT, e.g. 127.0.0.1:4433"));
    }
    let addr = tokio::net::lookup_host(master)
        .await
        .map_err(|e| bad(&format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| bad(&format!("{host} has no address")))?;
    Ok((addr, host.to_string()))
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

    /// Connects to a master named as `HOST:PORT` (a name, an IPv4 address or a bracketed IPv6
    /// address), giving up after `timeout`. The master's certificate must be valid for `HOST`
    /// (every master certificate is valid for `localhost`, `127.0.0.1` and `::1`).
    pub async fn connect_to(
        master: &str,
        identity: &Identity,
        timeout: std::time::Duration,
    ) -> Result<Client, ClientError> {
        Client::dial(master, identity.client_config()?, timeout).await
    }

    /// [`Client::connect_to`] with an explicit quinn configuration.
    pub async fn dial(
        master: &str,
        config: quinn::ClientConfig,
        timeout: std::time::Duration,
    ) -> Result<Client, ClientError> {
        let (addr, server_name) = resolve_master(master).await?;
        match tokio::time::timeout(timeout, Client::connect_with(addr, &server_name, config)).await
        {
            Ok(result) => result,
            Err(_) => Err(ClientError::Connect {
                addr,
                message: format!(
                    "no answer within {} s (is the master running, and reachable over UDP?)",
                    timeout.as_secs_f32()
                ),
            }),
        }
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
            .map_err(|e| ClientError::from_connection(&e))?;
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
            limits: FrameLimits::responses(),
        })
    }

    /// Sets the caps on responses (default: [`FrameLimits::responses`], 64 MiB header and body).
    pub fn set_limits(&mut self, limits: FrameLimits) {
        self.limits = limits;
    }

    /// Sends one request on a new stream and waits for its response. An error response from
    /// the server (see [`Frame::as_error`]) is still a response.
    pub async fn request(&self, request: &Frame) -> Result<Frame, ClientError> {
        self.request_owned(request.clone()).await
    }

    /// [`Client::request`] for a frame the caller is done with: its body moves into quinn as it
    /// is, never copied on its way out (a source uploaded, a thumbnail reported).
    pub async fn request_owned(&self, request: Frame) -> Result<Frame, ClientError> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| ClientError::from_connection(&e))?;
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

    /// Whether the connection is closed (by either side, or timed out): every request on it
    /// would fail.
    pub fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }

    /// The master's identity, from its certificate.
    pub fn peer(&self) -> Option<Peer> {
        Peer::of_connection(&self.connection)
    }

    /// Closes the connection politely and waits for the close to be sent: a round trip and
    /// 5 ms at most, time for the close to leave and to be sent again should a
    /// packet of the master's cross it. Not the whole draining period QUIC allows for that
    /// (three probe timeouts, about 90 ms even on loopback), which every `cdn` command used to
    /// spend after its answer was in.
    pub async fn close(self) {
        let grace = self.connection.rtt() + CLOSE_GRACE;
        self.connection.close(0u32.into(), b"bye");
        let _ = tokio::time::timeout(grace, self.endpoint.wait_idle()).await;
    }

    /// A stream error usually means the connection was closed: say why, in TLS terms if so.
    fn explain(&self, error: FrameError) -> ClientError {
        match self.connection.close_reason() {
            Some(reason) => ClientError::from_connection(&reason),
            None => ClientError::Frame(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn master_addresses_name_what_the_certificate_must_carry() {
        let (addr, name) = resolve_master("127.0.0.1:4433").await.unwrap();
        assert_eq!((addr.port(), name.as_str()), (4433, "127.0.0.1"));
        let (addr, name) = resolve_master("[::1]:9").await.unwrap();
        assert!(addr.is_ipv6());
        assert_eq!(name, "::1");
        let (addr, name) = resolve_master("localhost:4433").await.unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(name, "localhost");
        for bad in [
            "",
            "4433",
            "localhost",
            "localhost:http",
            ":4433",
            "127.0.0.1:99999",
        ] {
            let err = resolve_master(bad).await.unwrap_err();
            assert!(matches!(err, ClientError::Address { .. }), "{bad}: {err}");
        }
    }
}
