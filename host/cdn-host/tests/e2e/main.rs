//! End to end with the real binaries (`cdn-host` master and workers, `cdn`, `cdn-certs`), one
//! module per theme, in one test binary (one link instead of one per file).

mod client;
mod http;
mod http_browser;
mod http_support;
mod leases;
mod masters;
mod scale;
mod shared_state;
mod walkthrough;
