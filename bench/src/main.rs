//! `cdn-bench`, run by `cargo xtask bench`: the project's benchmark report, in Markdown, printed
//! as it is measured and written to `target/bench/report.md`. On a corpus generated in the same
//! run it measures (1) the thumbnail plugin per image against native code, `vipsthumbnail` and
//! ImageMagick, (2) images/s of `cdn-local` threads and processes and of the distributed path
//! (master + 2 workers as real processes), (3) the control plane alone (tasks/s, latency), and
//! (4) peak memory of master and worker; each figure a median, each target with its ratio and a
//! verdict. It asserts nothing: behaviour is checked by the tests, speed is reported here.

mod cluster;
mod control_plane;
mod distributed;
mod durability;
mod fidelity;
mod formats;
mod http;
mod inputs;
mod instantiate;
mod local_runners;
mod measure;
mod memory;
mod net;
mod per_image;
mod perf;
mod proc_stats;
mod procs;
mod report;
mod scale_out;
mod throughput;
mod tiny_plugin;
mod tools;
mod wasm_engine;
mod wasm_profile;

use anyhow::{Context, Result};
use clap::Parser;
use report::Report;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "cdn-bench",
    about = "Benchmark imagecdn: the plugin per image, local and distributed throughput, the control plane, memory"
)]
struct Cli {
    /// Timed repetitions per figure of the per-image and per-call sections (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Repetitions of each local-runner figure.
    #[arg(long, default_value_t = 5)]
    local_runs: usize,
    /// Repetitions of the distributed and control-plane figures (each starts a fresh master and
    /// two workers).
    #[arg(long, default_value_t = 5)]
    cluster_runs: usize,
    /// Images per folder (two folders) for the local and distributed figures.
    #[arg(long, default_value_t = 40)]
    local_images: usize,
    /// Tasks per control-plane run.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Skip the local-runner figures (they need the `cdn-local` binary beside this one).
    #[arg(long)]
    no_local: bool,
    /// Skip the distributed figures (they need `cdn-host` and `cdn` beside this one).
    #[arg(long)]
    no_distributed: bool,
    /// Skip the control-plane figures.
    #[arg(long)]
    no_control_plane: bool,
    /// Skip the figures past one machine (PostgreSQL + S3, one master and two; they start a
    /// PostgreSQL cluster and moto's S3 server, as the tests do).
    #[arg(long)]
    no_scale_out: bool,
    /// Skip the HTTP figures (the master's thumbnail URL against nginx, with wrk).
    #[arg(long)]
    no_http: bool,
    /// Skip the per-image timings (and the per-call figures).
    #[arg(long)]
    no_per_image: bool,
    /// Skip the fidelity table (PSNR/SSIM against a full-decode Lanczos3 reference).
    #[arg(long)]
    no_fidelity: bool,
    /// Profile the wasm plugin with perf (top functions inside wasm) into the report.
    #[arg(long)]
    profile_wasm: bool,
    /// With --profile-wasm, also profile this plugin (e.g. an earlier build) as the baseline.
    #[arg(long)]
    profile_baseline: Option<PathBuf>,
    /// With --profile-wasm, profile this plugin instead of the embedded one (e.g. the same
    /// sources built without stripping, so that perf can name the wasm functions).
    #[arg(long)]
    profile_plugin: Option<PathBuf>,
    /// Time this plugin (a `.wasm` file, e.g. a build of changed sources) in the per-image
    /// table instead of the embedded one; the native column still times the linked library.
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Where to write the report (default: `target/bench/report.md` of this build).
    #[arg(long)]
    report: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let path = match &cli.report {
        Some(path) => path.clone(),
        None => report::default_path()?,
    };
    let mut out = Report::default();
    let ok = run(&cli, &mut out);
    out.summary();
    out.write(&path)?;
    println!("(written to {})", path.display());
    ok
}

fn run(cli: &Cli, out: &mut Report) -> Result<()> {
    let scratch = tempfile::Builder::new().prefix("cdn-bench-").tempdir()?;
    let scratch = scratch.path();
    out.para("# imagecdn benchmark");
    out.para(&machine_line());

    let inputs = inputs::make(scratch)?;
    let mut failed = Vec::new();
    let mut attempt = |out: &mut Report, what: &str, result: Result<()>| {
        if let Err(e) = result {
            out.para(&format!("**{what} failed:** {e:#}"));
            failed.push(what.to_string());
        }
    };
    if !cli.no_per_image {
        let r = per_image::report(out, &inputs, cli.runs, cli.plugin.as_deref());
        attempt(out, "The per-image figures", r);
    }
    if !cli.no_fidelity {
        let r = fidelity::report(out, scratch, &inputs);
        attempt(out, "The fidelity figures", r);
    }
    if !cli.no_per_image {
        let r = formats::report(out, &inputs, cli.runs);
        attempt(out, "The output-format figures", r);
    }
    if cli.profile_wasm {
        let r = wasm_profile::report(
            out,
            scratch,
            &inputs,
            cli.profile_baseline.as_deref(),
            cli.profile_plugin.as_deref(),
        );
        attempt(out, "The wasm profile", r);
        let r = wasm_engine::report(out, &inputs, cli.runs);
        attempt(out, "The engine-settings figures", r);
    }
    if !cli.no_per_image {
        let r = instantiate::report(out, cli.runs);
        attempt(out, "The per-call figures", r);
    }

    let want_corpus = !cli.no_local || !cli.no_distributed;
    let corpus = if want_corpus {
        local_runners::Corpus::setup(scratch, cli.local_images)?
    } else {
        None
    };
    let want_cluster = !cli.no_distributed || !cli.no_control_plane;
    let setup = if want_cluster {
        cluster::Setup::new(scratch)?
    } else {
        None
    };
    let mut local = None;
    let mut dist = None;
    if let Some(corpus) = &corpus {
        if !cli.no_local {
            eprintln!("(measuring the local runners)");
            match local_runners::measure(corpus, cli.local_runs) {
                Ok(figures) => local = Some(figures),
                Err(e) => attempt(out, "The local runners", Err(e)),
            }
        }
        if let (Some(setup), false) = (&setup, cli.no_distributed) {
            eprintln!("(measuring the distributed path)");
            // The 2 MP JPEG: a real thumbnail, so the warm-up compiles the plugin too.
            let warm_up = inputs
                .iter()
                .find(|i| i.path.ends_with("small.jpg"))
                .map(|i| i.path.as_path())
                .context("the corpus has no small.jpg")?;
            match distributed::measure(
                setup,
                scratch,
                corpus,
                warm_up,
                cli.cluster_runs,
                &cluster::Deployment::embedded(),
            ) {
                Ok(figures) => dist = Some(figures),
                Err(e) => attempt(out, "The distributed runs", Err(e)),
            }
        }
        throughput::report(
            out,
            corpus,
            local.as_ref(),
            dist.as_ref(),
            cli.local_runs,
            cli.cluster_runs,
        );
    } else if want_corpus {
        out.para("(Throughput skipped: build `cdn-local` first, e.g. `cargo xtask build`.)");
    }

    let mut control = None;
    match (&setup, cli.no_control_plane) {
        (Some(setup), false) => {
            eprintln!("(measuring the control plane)");
            match control_plane::measure(
                setup,
                scratch,
                cli.tasks,
                cli.cluster_runs,
                &cluster::Deployment::embedded(),
            ) {
                Ok(figures) => {
                    let store = durability::measure(scratch);
                    eprintln!("(profiling the master under the control-plane load)");
                    let profile = control_plane::profile_master(
                        setup,
                        scratch,
                        cli.tasks,
                        &cluster::Deployment::embedded(),
                    );
                    control_plane::report(
                        out,
                        &figures,
                        &store,
                        &profile,
                        cli.tasks,
                        cli.cluster_runs,
                    );
                    control = Some(figures);
                }
                Err(e) => attempt(out, "The control-plane runs", Err(e)),
            }
        }
        (None, _) if want_cluster => {
            out.para("(Cluster figures skipped: build `cdn-host` and `cdn` first, e.g. `cargo xtask build`.)");
        }
        _ => {}
    }
    memory::report(out, dist.as_ref(), control.as_ref(), cli.cluster_runs);
    if let (Some(setup), false) = (&setup, cli.no_scale_out) {
        eprintln!("(measuring past one machine: PostgreSQL + S3)");
        let warm_up = inputs
            .iter()
            .find(|i| i.path.ends_with("small.jpg"))
            .map(|i| i.path.as_path());
        let corpus = match (&corpus, warm_up, cli.no_distributed) {
            (Some(corpus), Some(warm_up), false) => Some((corpus, warm_up)),
            _ => None,
        };
        let r = scale_out::report(
            out,
            setup,
            scratch,
            cli.tasks,
            corpus,
            control.as_ref(),
            dist.as_ref(),
        );
        attempt(out, "The figures past one machine", r);
    }
    if !cli.no_http {
        eprintln!("(measuring the HTTP side against nginx)");
        let r = http::report(out, scratch);
        attempt(out, "The HTTP figures", r);
    }
    anyhow::ensure!(failed.is_empty(), "failed: {}", failed.join(", "));
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
    format!(
        "Machine: {cpus} CPUs ({model}). Each figure is the median of several runs (the count is \
         under each table). Other work on the machine during the run shows up in the figures."
    )
}
