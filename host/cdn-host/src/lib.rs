//! imagecdn's host side: this crate will hold the master (which registers images and leases
//! thumbnail work over QUIC) and the worker (which runs the plugin on leased tasks).
//!
//! What is here so far is the master: its durable state — the rule for image ids ([`ids`]), the
//! content-addressed store for image and thumbnail bytes ([`blobs`]), and the SQLite registry of
//! images, leases with fencing tokens, and plugins ([`registry`]) — and its server ([`master`]:
//! the protocol of `cdn-proto` over `cdn-transport`, authorised by role, with long-poll leases).

pub mod blobs;
pub mod ids;
pub mod master;
pub mod registry;

pub use blobs::{BadBlobId, BlobError, BlobId, BlobStore};
pub use ids::{validate_id, IdError, ImageId};
pub use master::{Master, MasterConfig, MasterError, Serving};
pub use registry::{
    Counts, ImageRecord, LastError, Lease, LeaseInfo, Registered, Registry, RegistryError, Status,
    ThumbInfo,
};
