//! `cdn`: the imagecdn command-line client (DESIGN §4).
//!
//! It talks to the master over QUIC with mutual TLS (`cdn-transport`), one request per stream,
//! using the messages of `cdn-proto`: register images (one file or a whole folder), query them,
//! list them, wait for them, fetch their thumbnails, add and list plugins, show counts. It does
//! not pull in wasmtime: thumbnails are made by the workers, never here.
//!
//! Exit codes (scripts rely on them; also in `cdn --help`):
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a local or connection problem: a file unreadable or unwritable, certificates missing or wrong, the master unreachable, TLS refused, the connection lost |
//! | 2 | a bad command line (clap's own) |
//! | 3 | the master refused the request; printed as `cdn: KIND: MESSAGE` (e.g. `cdn: conflict: ...`). `register --dir`: at least one file was refused |
//! | 4 | `wait` timed out (the unfinished ids are printed) |
//! | 5 | `wait`: everything finished, but at least one image is `failed` |
//!
//! Every error prints as `cdn: ` followed by its cause chain, on stderr.

mod cli;
mod commands;
mod connect;
mod dir_scan;
mod exit;
mod output;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc, as in every imagecdn binary (why: ARCHITECTURE, "Crates").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `--help` and `--version` exit 0 here; a bad command line exits 2 (clap's own).
    let cli = cli::Cli::try_parse().unwrap_or_else(|e| e.exit());
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cdn: cannot start the async runtime: {e}");
            return ExitCode::from(exit::Exit::Local.code());
        }
    };
    let exit = match runtime.block_on(commands::run(cli)) {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("cdn: {}", output::printable(&format!("{error:#}")));
            exit::exit_for(&error)
        }
    };
    ExitCode::from(exit.code())
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `warn`).
fn init_tracing() {
    cdn_common::logging::init("warn", cdn_common::logging::LogFormat::Text);
}
