//! `cdn-local`: imagecdn on one machine.
//!
//! - `cdn-local setup` makes the seed's sample folders (`/tmp/node_a`, `/tmp/node_b`) with real,
//!   photo-like JPEGs.
//! - `cdn-local threads DIR...` makes a thumbnail of every image with N threads sharing one
//!   compiled WebAssembly plugin (a fresh sandboxed instance per image).
//! - `cdn-local processes DIR...` does the same with N worker processes (this binary re-executed
//!   in the hidden `__child` role), surviving the death of a worker.
//!
//! Thumbnails go beside their sources (`img_100.jpg_thumb.jpg`), written atomically; the plugin
//! is the built-in thumbnail plugin unless `--plugin` names another.

mod cli;
mod job;
mod processes;
mod report;
mod scan;
mod setup;
mod threads;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, RunArgs};
use job::PluginSource;
use report::{Reporter, RunInfo};
use std::process::ExitCode;
use std::time::Instant;

/// Some images failed.
const EXIT_FAILED_IMAGES: u8 = 1;
/// The run could not start (like clap's usage errors).
const EXIT_CANNOT_RUN: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Threads,
    Processes,
}

/// mimalloc, as in every imagecdn binary (why: ARCHITECTURE, "Crates"): the local runners and
/// the distributed side are compared on the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Setup(args) => setup::run(&args).map(|()| true),
        Command::Threads(args) => run(Mode::Threads, &args),
        Command::Processes(args) => run(Mode::Processes, &args),
        Command::Child(args) => processes::child_main(args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_FAILED_IMAGES),
        Err(e) => {
            eprintln!("cdn-local: error: {e:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// Logs on stderr, `warn` and above unless RUST_LOG says otherwise.
fn init_logging() {
    cdn_common::logging::init("warn", cdn_common::logging::LogFormat::Text);
}

/// Thumbnails every image in the folders; `Ok(false)` when some image failed.
fn run(mode: Mode, args: &RunArgs) -> Result<bool> {
    let started = Instant::now();
    let plugin_source = PluginSource::parse(args.plugin.as_deref())?;
    let plugin_args = args.plugin_args();
    let tasks = scan::scan(&args.dirs, args.params.format.extension(), args.force)?;
    let reporter = Reporter::new(&tasks, args.quiet);
    if tasks.is_empty() {
        tracing::warn!("no images found in the folders given");
    }
    tracing::info!(
        images = tasks.len(),
        to_do = reporter.to_do(),
        "scanned the folders"
    );
    // Both modes load the plugin here: it is checked before any work starts, and in processes
    // mode the compiled code lands in the disk cache once, so no worker compiles it again.
    let runtime = cdn_runtime::Runtime::new(args.limits.limits())
        .context("cannot start the plugin runtime")?;
    let plugin = plugin_source.load(&runtime)?;
    tracing::info!(plugin = %plugin_source.spec(), hash = %plugin.hash(), args = ?plugin_args, "plugin loaded");
    let plugin_hash = plugin.hash().to_string();
    let jobs = args.jobs();
    let (finished, worker_deaths, retried) = match mode {
        Mode::Threads => {
            let used = threads::run(
                &tasks,
                &reporter,
                &plugin,
                &plugin_args,
                jobs,
                runtime.limits().input_bytes,
            )?;
            tracing::debug!(threads = used, "all threads done");
            (Instant::now(), 0, 0)
        }
        Mode::Processes => {
            // The parent runs no plugin itself: free the engine before the workers start.
            drop(plugin);
            drop(runtime);
            let outcome = processes::run(
                &tasks,
                &reporter,
                &plugin_source,
                &plugin_args,
                args.limits,
                jobs,
            )?;
            tracing::debug!(workers = outcome.jobs, "all workers done");
            let finished = outcome.last_result.unwrap_or_else(Instant::now);
            (finished, outcome.worker_deaths, outcome.retried)
        }
    };
    let summary = reporter.summary(RunInfo {
        mode: match mode {
            Mode::Threads => "threads",
            Mode::Processes => "processes",
        },
        jobs,
        plugin: plugin_source.spec(),
        plugin_hash,
        wall: finished.saturating_duration_since(started),
        worker_deaths,
        retried,
    });
    if args.json {
        let json = serde_json::to_string_pretty(&summary).context("cannot encode the summary")?;
        println!("{json}");
    } else {
        print!("{}", summary.text());
    }
    Ok(summary.ok())
}
