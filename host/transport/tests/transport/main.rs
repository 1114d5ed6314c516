//! The transport over real QUIC sockets on loopback, one module per theme, in one test binary.

mod bundle;
mod connections;
mod dial;
mod limits;
