//! `cdn-testkit`: what imagecdn's end-to-end tests share, so every test starts real processes,
//! waits and cleans up the same way.
//!
//! - [`wait`]: one time bound for every test step, and [`eventually`] for every polling loop.
//! - [`net`]: free ports on 127.0.0.1 (tests only ever listen on loopback).
//! - [`process`]: the built binaries ([`bin`]), a command run to completion under a bound
//!   ([`run_bounded`] → [`Ran`]), and a long-running process ([`Proc`]) that is killed by pid and
//!   reaped when dropped, also when a test fails.
//! - [`cluster`]: one test's world in a temporary folder — certificates, a master, workers, and
//!   the `cdn` client pointed at them.
//! - [`s3`]: a real S3 API server (moto) on a free port, for the S3 blob backend.
//! - [`local`]: `cdn-local` runs, sample folders and their thumbnails.
//! - [`postgres`]: a real PostgreSQL (`$DATABASE_URL`, or a throwaway cluster of its own) and a
//!   fresh database per test.
//! - [`images`]: sample photos and thumbnail checks; [`slow_plugin`]: a plugin that runs as long
//!   as its input says; [`hostile_plugins`]: plugins that block in WASI or crash loudly;
//!   [`fixed_plugins`]: plugins that only write fixed bytes.
//!
//! The binaries are found beside the test executable (`target/<profile>/`): `cargo xtask test`
//! builds every binary before it runs the tests.

pub mod cluster;
pub mod fixed_plugins;
pub mod hostile_plugins;
pub mod images;
pub mod local;
pub mod net;
pub mod postgres;
pub mod process;
pub mod s3;
pub mod slow_plugin;
pub mod wait;

pub use cluster::Cluster;
pub use images::{assert_thumbnail_fits, jpeg};
pub use net::{free_tcp_port, free_udp_port};
pub use process::{bin, path_str, run_bounded, Proc, Ran};
pub use s3::S3Server;
pub use wait::{eventually, BOUND};
