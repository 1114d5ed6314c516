//! imagecdn's host side: this crate will hold the master (which registers images and leases
//! thumbnail work over QUIC) and the worker (which runs the plugin on leased tasks).
//!
//! What is here so far is the master's durable state: the rule for image ids ([`ids`]), the
//! content-addressed store for image and thumbnail bytes ([`blobs`]), and the SQLite registry of
//! images, leases with fencing tokens, and plugins ([`registry`]).

pub mod blobs;
pub mod ids;
pub mod registry;

pub use blobs::{BadBlobId, BlobError, BlobId, BlobStore};
pub use ids::{validate_id, IdError, ImageId};
pub use registry::{
    Counts, ImageRecord, LastError, Lease, LeaseInfo, Registered, Registry, RegistryError, Status,
    ThumbInfo,
};
