//! The default plugin, natively and as its CLI, one module per theme, in one test binary
//! (`limits.rs`, which counts the process's heap, is a binary of its own).

mod api;
mod fidelity;
mod formats;
mod golden_cli;
mod golden_lib;
mod robustness;
