//! The master in-process over real QUIC on loopback: the client ops and authorisation
//! ([`api`]), leases ([`leasing`]), and batched requests ([`batches`]); and its blob store on both backends, a folder and a
//! real S3 API server ([`blobs`]). One test binary, so the shared [`support`] is compiled
//! once and all of it is used.

mod api;
mod batches;
mod blobs;
mod leasing;
mod support;
