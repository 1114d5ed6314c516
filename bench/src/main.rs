//! `cdn-bench`, run by `cargo xtask bench`: measures the thumbnail step and the local runners on
//! a corpus generated in the same run, and prints figures and ratios against baselines measured
//! in the same run (native vs wasm, `vipsthumbnail` when installed, 1 thread vs 2). It asserts
//! nothing: behaviour is checked by the tests, speed is reported here.

mod inputs;
mod instantiate;
mod local_runners;
mod measure;
mod per_image;
mod table;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "cdn-bench",
    about = "Benchmark the thumbnail plugin and the local runners"
)]
struct Cli {
    /// Timed repetitions per figure (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Images per folder for the local-runner figures.
    #[arg(long, default_value_t = 12)]
    local_images: usize,
    /// Skip the local-runner figures (they need the `cdn-local` binary beside this one).
    #[arg(long)]
    no_local: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let scratch = tempfile::Builder::new().prefix("cdn-bench-").tempdir()?;
    println!("# imagecdn benchmark\n");
    println!("{}\n", machine_line());

    let inputs = inputs::make(scratch.path())?;
    per_image::report(&inputs, cli.runs)?;
    instantiate::report(cli.runs)?;
    if !cli.no_local {
        local_runners::report(scratch.path(), cli.local_images, cli.runs.min(3))?;
    }
    Ok(())
}

fn machine_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("Machine: {cpus} CPUs ({model}). Each figure is the median of several runs.")
}
