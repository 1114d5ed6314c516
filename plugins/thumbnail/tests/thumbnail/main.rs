//! The default plugin, natively and as its CLI, one module per theme, in one test binary.

mod api;
mod fidelity;
mod formats;
mod golden_cli;
mod golden_lib;
mod limits;
mod robustness;
