//! `cdn-transport`: the trusted pipe that the master, workers and client speak over (DESIGN §4).
//!
//! - [`tls`]: quinn endpoints built from the files `cdn-certs` writes, with rustls (ring
//!   provider), ALPN `imagecdn/1`, TLS 1.3 only, no 0-RTT. The master requires a client
//!   certificate from its CA; the client checks the master's certificate and name.
//! - [`Peer`]: the role and name read from the peer's *verified* certificate
//!   (`spiffe://imagecdn/<role>/<name>`), handed to the request handler. Nothing a peer writes in
//!   a request can change it.
//! - [`frame`]: one bidirectional stream per request; a `u32` length, a JSON header, then a raw
//!   body whose length the header states; the response the same way. Every malformed case is a
//!   typed [`FrameError`], answered with an error frame; the connection keeps serving.
//! - [`Server`] and [`Client`]: accept/serve and connect/request; [`Client::call`] sends a
//!   `cdn-proto` request and reads its typed response.
//! - [`Dialer`]: connecting to the first of several masters (`--master A,B,...`) that answers,
//!   from the one the caller prefers; used by workers and the client to move between masters.
//! - [`ServerLimits`]: what one peer may take from a server — requests open at once per
//!   connection (QUIC `MAX_STREAMS`, default 32; more wait), connections open at once per
//!   identity (default 8; one more is closed with [`CLOSE_TOO_MANY_CONNECTIONS`], which the
//!   client reports as [`ClientError::TooManyConnections`]), and request-body bytes held at once
//!   across all connections (default 512 MiB; a body that cannot get budget within 10 s is
//!   answered with the error kind `busy`).
//!
//! This crate does not pull in wasmtime, so the client stays small.

mod admission;
mod budget;
mod call;
mod client;
mod dial;
pub mod frame;
pub mod limits;
mod peer;
mod server;
pub mod tls;

pub use call::CallError;
/// The warning a worker or client logs when its certificate folder also holds `ca.key` (so
/// binaries that depend only on this crate can call it).
pub use cdn_certs::ca_key_warning;
pub use cdn_certs::Role;
pub use client::{resolve_master, Client, ClientError, Refusal};
pub use dial::{Attempt, Connected, Dialer, NoMaster, CONNECT_STAGGER};
pub use frame::{Frame, FrameError, FrameLimits};
pub use limits::{
    ServerLimits, CLOSE_NO_IDENTITY, CLOSE_SHUTDOWN, CLOSE_TOO_MANY_CONNECTIONS,
    REQUEST_READ_TIMEOUT,
};
pub use peer::Peer;
pub use server::{Handler, Server};
pub use tls::{Identity, TlsError, ALPN};
