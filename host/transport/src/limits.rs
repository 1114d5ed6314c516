//! What one peer may take from a server: streams per connection, connections per identity, and
//! the request-body bytes all connections together may hold.

use std::time::Duration;

/// How long a peer may take to send one whole request frame (a 64 MiB upload at ~250 KB/s).
/// Keep-alives keep an idle connection open, so without this a peer could hold a stream and its
/// task forever by sending nothing.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Default of [`ServerLimits::max_streams_per_conn`].
pub const DEFAULT_MAX_STREAMS_PER_CONN: u32 = 32;
/// Default of [`ServerLimits::max_conns_per_identity`].
pub const DEFAULT_MAX_CONNS_PER_IDENTITY: u32 = 8;
/// Default of [`ServerLimits::body_budget`]: 512 MiB, eight of the largest (64 MiB) uploads.
pub const DEFAULT_BODY_BUDGET: u64 = 512 << 20;
/// Default of [`ServerLimits::budget_wait`].
pub const DEFAULT_BUDGET_WAIT: Duration = Duration::from_secs(10);

/// The application close code of a connection refused because its identity already has
/// [`ServerLimits::max_conns_per_identity`] connections open. The close reason says which
/// identity and the limit ("too many connections for worker/w1 (at most 8 at once)").
pub const CLOSE_TOO_MANY_CONNECTIONS: u32 = 2;
/// The application close code of a connection whose certificate has no imagecdn identity.
pub const CLOSE_NO_IDENTITY: u32 = 1;
/// The application close code when the server shuts down.
pub const CLOSE_SHUTDOWN: u32 = 0;

/// The caps a [`crate::Server`] enforces on its peers. `ServerLimits::default()` is what
/// [`crate::Server::bind`] uses; change a field with
/// `ServerLimits { max_streams_per_conn: 64, ..ServerLimits::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Most requests (bidirectional streams) one connection may have open at once: QUIC's
    /// `MAX_STREAMS`, so a peer that wants more waits (its `open_bi` blocks) until one of its
    /// requests is answered; nothing fails. Default 32. At least 1.
    pub max_streams_per_conn: u32,
    /// Most connections one identity (role and name, from the certificate) may have open at
    /// once. One more is closed right after the handshake with [`CLOSE_TOO_MANY_CONNECTIONS`]
    /// and a reason that names the identity; the client reports it as
    /// [`crate::ClientError::TooManyConnections`]. Default 8. At least 1. A peer that vanished
    /// without closing keeps its slot until the idle timeout (30 s).
    pub max_conns_per_identity: u32,
    /// Request-body bytes held at once across all connections. A body takes budget as it grows
    /// (before its memory is reserved) and gives it back when the handler has answered, or when
    /// its stream fails. A body that cannot get budget stops being read, so QUIC flow control
    /// holds its sender back. Default 512 MiB; raised to the largest body
    /// ([`crate::FrameLimits::max_body`]) if smaller, so every allowed body can be received.
    /// Headers (at most 64 KiB each) and responses are not counted.
    pub body_budget: u64,
    /// How long a body may wait for budget, at one time, before its request is answered with
    /// the error kind `busy` (retryable: nothing was done). Default 10 s.
    pub budget_wait: Duration,
    /// How long a peer may take to send one whole request frame; a slower one gets the error
    /// kind `timeout`. Default [`REQUEST_READ_TIMEOUT`].
    pub read_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_streams_per_conn: DEFAULT_MAX_STREAMS_PER_CONN,
            max_conns_per_identity: DEFAULT_MAX_CONNS_PER_IDENTITY,
            body_budget: DEFAULT_BODY_BUDGET,
            budget_wait: DEFAULT_BUDGET_WAIT,
            read_timeout: REQUEST_READ_TIMEOUT,
        }
    }
}

impl ServerLimits {
    /// Checks the limits make a server that can serve: at least one stream per connection and
    /// one connection per identity.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_streams_per_conn == 0 {
            return Err("max_streams_per_conn must be at least 1".into());
        }
        if self.max_conns_per_identity == 0 {
            return Err("max_conns_per_identity must be at least 1".into());
        }
        Ok(())
    }
}
