//! The plugin runtime against real wasm modules, one module per theme, in one test binary.

mod blocking_calls;
mod cache;
mod cache_safety;
mod golden_wasm;
mod hostile;
mod same_as_native;
mod tiny;
