//! imagecdn's host side (DESIGN §4): the master, which registers images and leases thumbnail
//! work over QUIC, and the worker, which runs the plugin on leased tasks. The `cdn-host` binary
//! (`src/main.rs`) is a thin command line over both.
//!
//! - The master's durable state: the rule for image ids ([`ids`]), the content-addressed store
//!   for image and thumbnail bytes ([`blobs`]), and the SQLite registry of images, leases with
//!   fencing tokens, and plugins ([`registry`]).
//! - [`master`]: the protocol of `cdn-proto` over `cdn-transport`, authorised by role, with
//!   long-poll leases and expiry.
//! - [`worker`]: lease loops, plugin fetch and cache, lease extension, graceful stop.

pub mod blobs;
pub mod clock;
pub mod ids;
pub mod master;
pub mod registry;
pub mod worker;

pub use blobs::{BadBlobId, BlobError, BlobId, BlobStore};
pub use ids::{validate_id, IdError, ImageId};
pub use master::{Master, MasterConfig, MasterError, Serving};
pub use registry::{
    Counts, ImageRecord, LastError, Lease, LeaseInfo, Registered, Registry, RegistryError, Status,
    ThumbInfo,
};
pub use worker::{Stop, WorkerConfig, WorkerError, WorkerSummary};
