//! The imagecdn plugin runtime: runs thumbnail plugins (`wasm32-wasip1` command modules that
//! follow plugin ABI v1, see DESIGN §2) inside wasmtime, one fresh sandboxed instance per call.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let wasm_bytes: Vec<u8> = Vec::new(); let jpeg: Vec<u8> = Vec::new();
//! let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default())?;
//! let plugin = runtime.load(&wasm_bytes)?; // compiled once, cached by SHA-256
//! let thumbnail = plugin.run(&["--width", "128"], &jpeg)?;
//! # Ok(()) }
//! ```
//!
//! - [`Runtime`] owns the one wasmtime `Engine` of a process, the epoch ticker that enforces wall
//!   time, and the caches of compiled plugins (in memory, and on disk so a restart does not
//!   recompile).
//! - [`Plugin`] is one compiled, pre-linked plugin, named by the SHA-256 of its bytes. It is
//!   `Send + Sync`: share it across threads and call [`Plugin::run`] from each.
//! - [`RunError`] says exactly what went wrong: the plugin's own error message, a trap, a time or
//!   memory limit, output too large, or an invalid module. A misbehaving plugin never takes the
//!   host down.

mod disk_cache;
mod error;
mod host_deadline;
mod limits;
mod plugin;
mod runtime;

pub use cdn_common::ContentHash;
pub use error::RunError;
pub use limits::Limits;
pub use plugin::Plugin;
pub use runtime::{default_cache_root, Runtime, RuntimeStats, KEEP_RESIDENT};
