//! `cdn-master`: the imagecdn master, the source of truth of the networked mode.
//!
//! It registers images, keeps their bytes, hands out thumbnail work to workers under leases, and
//! records results. The `cdn-host master` command (`host/cdn-host`) is a thin command line
//! over [`Master`].
//!
//! - Durable state: the rule for image ids ([`ids`]), the content-addressed store for image,
//!   thumbnail and plugin bytes ([`blobs`]: a folder or an S3 bucket), and the registry of
//!   images, leases with fencing tokens, and plugins ([`registry`]): SQLite, whose writes share
//!   commits ([`group_commit`]), or PostgreSQL, which several masters share (async drivers run
//!   on a [`bridge`]).
//! - Serving: [`Master`] opens the state and serves the `cdn-proto` protocol over
//!   `cdn-transport` (QUIC, mutual TLS); [`handler`] authorises each request by the role in the
//!   peer's certificate and dispatches it to [`ops`] (client requests) or [`leasing`] (worker
//!   requests: long-poll leases, extend, complete, fail, and the expiry of overdue leases).
//!   The write requests' storage work runs in batches on a few writer threads ([`writers`]):
//!   one commit per store for whatever arrived together, each answer after its commit.
//!
//! No wasmtime: the master never runs a plugin, it only stores and names them.

pub mod blobs;
pub mod bridge;
mod errors;
pub mod group_commit;
mod handler;
pub mod http;
pub mod ids;
mod leasing;
mod metrics;
mod ops;
pub mod registry;
mod server;
mod state;
mod views;
mod workers;
mod writers;

pub use blobs::{BlobError, BlobSpec, BlobStore, S3Settings};
/// The transport's per-peer caps, as [`MasterConfig::server_limits`] takes them.
pub use cdn_transport::ServerLimits;
pub use errors::MasterError;
pub use handler::MasterHandler;
pub use http::{HttpConfig, HttpServing};
pub use ids::{validate_id, IdError, ImageId};
pub use registry::{
    Lease, Registered, Registry, RegistryBackend, RegistryError, RegistrySpec, ThumbInfo,
};
pub use server::{Master, MasterConfig, Serving, DEFAULT_MAX_LEASES_PER_WORKER, MAX_UPLOAD};
