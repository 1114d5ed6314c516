//! `cdn-common`: the few things every imagecdn crate must agree on, in one place.
//!
//! - [`ContentHash`]: the SHA-256 that names a blob (image, thumbnail) and a plugin.
//! - [`name`]: the character rule for image ids, plugin names and certificate names, which all
//!   end up as file names or URI segments, so nothing path-like may pass.
//! - [`now_ms`]: wall-clock time as the registry and the wire carry it.
//! - `logging` (feature `logging`): how every binary logs (stderr, `RUST_LOG`, no colour
//!   codes unless stderr is a terminal, or JSON lines).
//! - [`atomic`]: writing a file so that readers (and a crash) see the old file or the whole new
//!   one, never half of it.
//! - [`url_signing`]: the HMAC signature of an HTTP thumbnail URL (the master verifies, `cdn url`
//!   signs).
//! - [`MasterList`]: the masters a worker or client is given (`--master A,B,...`), checked once.
//!
//! No wasmtime, no network, no database: the client, the certificate tool, the runtime, the
//! master and the worker all depend on it.

pub mod atomic;
mod clock;
mod hash;
#[cfg(feature = "logging")]
pub mod logging;
mod masters;
pub mod name;
pub mod url_signing;

pub use atomic::{write_atomic, AtomicFile, WriteError};
pub use clock::now_ms;
pub use hash::{BadHash, ContentHash, ContentHasher};
pub use masters::{MasterList, MasterListError};

/// The first four bytes of every WebAssembly module.
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";
