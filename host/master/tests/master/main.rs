//! The master in-process over real QUIC on loopback: the client ops and authorisation
//! ([`api`]), and leases ([`leasing`]). One test binary, so the shared [`support`] is compiled
//! once and all of it is used.

mod api;
mod leasing;
mod support;
