//! `cdn-certs` as a library and as a command, one module per theme, in one test binary.

mod bundle;
mod cli;
