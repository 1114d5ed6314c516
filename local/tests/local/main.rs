//! `cdn-local` as a real process, one module per theme, in one test binary.

mod plugin_limits;
mod runners;
