//! The plugins of this repository, compiled for `wasm32-wasip1` by `build.rs` and embedded here
//! as bytes. Binaries use [`THUMBNAIL`] as their default plugin; tests and benchmarks use both.
//!
//! A plugin is identified by the SHA-256 of these bytes (DESIGN §2), so two builds from the same
//! sources with the same toolchain give the same plugin hash.

/// The default thumbnail plugin (`plugins/thumbnail`), ABI v1.
pub const THUMBNAIL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/thumbnail.wasm"));

/// The example custom plugin (`plugins/stamp`), ABI v1.
pub const STAMP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stamp.wasm"));

/// Every embedded plugin with the name it is known by.
pub const ALL: &[(&str, &[u8])] = &[("thumbnail", THUMBNAIL), ("stamp", STAMP)];
