//! The control plane alone: a plugin that does nothing but answer a fixed 2x1 PNG, tiny source
//! files (the master never decodes them), two workers running 8 tasks each. Tasks per second
//! (register + lease + complete) from the start of `cdn register --dir` to the last completion
//! the registry records, and each image's latency from registration to done.

use crate::cluster::{now_ms, Cluster, Deployment, Setup};
use crate::durability::StoreCosts;
use crate::measure::{median_of, percentile};
use crate::report::{times, verdict, Report};
use crate::{perf, proc_stats, tools};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Tasks each worker runs at once.
pub const CONCURRENCY: u32 = 8;
/// Bytes of each source file.
pub const SOURCE_BYTES: usize = 100;

#[derive(Clone, Copy)]
pub struct ControlFigures {
    pub tasks_per_second: f64,
    /// Registrations per second while `cdn register --dir` ran (workers busy at the same time).
    pub registrations_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU milliseconds per task of the master, and of both workers together.
    pub master_cpu_ms: f64,
    /// The part of `master_cpu_ms` spent in the kernel.
    pub master_system_ms: f64,
    pub workers_cpu_ms: f64,
    /// How busy the machine's CPUs were while the tasks ran (0-1, everything on the machine).
    pub machine_busy: f64,
    pub master_rss: u64,
    pub worker_rss: u64,
    /// Registry writes per task, and registry commits (WAL fsyncs) per task: their ratio is
    /// what group commit saves.
    pub writes_per_task: f64,
    pub commits_per_task: f64,
    /// fsyncs of the folder blob store per task (files and folders; 0 on S3).
    pub blob_fsyncs_per_task: f64,
}

pub fn measure(
    setup: &Setup,
    scratch: &Path,
    tasks: usize,
    runs: usize,
    deployment: &Deployment,
) -> Result<ControlFigures> {
    let inputs = Inputs::write(scratch, tasks)?;

    let mut figures = Vec::new();
    for run in 0..runs.max(1) {
        let dir = scratch.join(format!("control-plane-{}-run-{run}", deployment.slug()));
        figures.push(
            run_once(setup, &dir, &inputs, tasks, deployment, None)
                .with_context(|| format!("control-plane run {}", run + 1))?,
        );
    }
    let column = |f: fn(&ControlFigures) -> f64| median_of(figures.iter().map(f).collect());
    Ok(ControlFigures {
        tasks_per_second: column(|f| f.tasks_per_second),
        registrations_per_second: column(|f| f.registrations_per_second),
        p50_ms: column(|f| f.p50_ms),
        p99_ms: column(|f| f.p99_ms),
        master_cpu_ms: column(|f| f.master_cpu_ms),
        master_system_ms: column(|f| f.master_system_ms),
        workers_cpu_ms: column(|f| f.workers_cpu_ms),
        machine_busy: column(|f| f.machine_busy),
        master_rss: column(|f| f.master_rss as f64) as u64,
        worker_rss: column(|f| f.worker_rss as f64) as u64,
        writes_per_task: column(|f| f.writes_per_task),
        commits_per_task: column(|f| f.commits_per_task),
        blob_fsyncs_per_task: column(|f| f.blob_fsyncs_per_task),
    })
}

/// Functions listed in the master's profile.
const PROFILE_TOP: usize = 15;

/// One more run (not counted in the figures) with `perf record` on the master from the first
/// registration to the last completion; the functions with the most samples (self time).
pub fn profile_master(
    setup: &Setup,
    scratch: &Path,
    tasks: usize,
    deployment: &Deployment,
) -> Result<MasterProfile> {
    if !tools::on_path("perf") {
        bail!("`perf` is not installed (Debian: `apt-get install linux-perf`)");
    }
    let inputs = Inputs::write(scratch, tasks)?;
    let dir = scratch.join(format!("control-plane-{}-profiled", deployment.slug()));
    let data = scratch.join("master-profile.data");
    run_once(setup, &dir, &inputs, tasks, deployment, Some(&data))?;
    Ok(MasterProfile {
        by_dso: perf::top(&data, "dso", 5)?,
        top: perf::top(&data, "dso,symbol", PROFILE_TOP)?,
    })
}

/// The master's samples by library and by function.
pub struct MasterProfile {
    pub by_dso: Vec<perf::Row>,
    pub top: Vec<perf::Row>,
}

/// The tiny plugin, `tasks` source files and a warm-up image, written once to the scratch folder.
struct Inputs {
    plugin: PathBuf,
    folder: PathBuf,
    warm_up: PathBuf,
}

impl Inputs {
    fn write(scratch: &Path, tasks: usize) -> Result<Inputs> {
        let plugin = scratch.join("tiny.wasm");
        std::fs::write(&plugin, crate::tiny_plugin::wasm())
            .with_context(|| format!("writing {}", plugin.display()))?;
        let folder = scratch.join("tiny-images");
        make_sources(&folder, tasks)?;
        let warm_up = scratch.join("tiny-warm-up.png");
        std::fs::write(&warm_up, source_bytes(usize::MAX))
            .with_context(|| format!("writing {}", warm_up.display()))?;
        Ok(Inputs {
            plugin,
            folder,
            warm_up,
        })
    }
}

/// `tasks` files of [`SOURCE_BYTES`] bytes each, all different: `t00000.png`, ...
fn make_sources(folder: &Path, tasks: usize) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    for i in 0..tasks {
        let path = folder.join(format!("t{i:05}.png"));
        std::fs::write(&path, source_bytes(i))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// [`SOURCE_BYTES`] bytes that differ for each `i`.
fn source_bytes(i: usize) -> Vec<u8> {
    let mut bytes = format!("imagecdn control-plane source {i}\n").into_bytes();
    bytes.resize(SOURCE_BYTES, b'.');
    bytes
}

/// One run on a fresh cluster; with `profile`, `perf record` on the master into that file
/// while the tasks run.
fn run_once(
    setup: &Setup,
    dir: &Path,
    inputs: &Inputs,
    tasks: usize,
    deployment: &Deployment,
    profile: Option<&Path>,
) -> Result<ControlFigures> {
    let Inputs {
        plugin,
        folder,
        warm_up,
    } = inputs;
    let mut cluster = Cluster::start(setup, dir, CONCURRENCY, deployment)?;
    cluster.cdn(&[
        "plugin".as_ref(),
        "add".as_ref(),
        "tiny".as_ref(),
        plugin.as_os_str(),
    ])?;
    // One task first, so the plugin fetch and compilation are behind us.
    cluster.cdn(&[
        "register".as_ref(),
        "warm-up.png".as_ref(),
        warm_up.as_os_str(),
        "--plugin".as_ref(),
        "tiny".as_ref(),
    ])?;
    cluster.cdn(&["wait", "warm-up.png", "--timeout", "300s"])?;

    let recording = match profile {
        Some(data) => Some(perf::Recording::start(cluster.master_pid()?, 999, data)?),
        None => None,
    };
    let (master_cpu0, workers_cpu0) = cluster.cpu()?;
    let before = cluster.durability_counts()?;
    let machine = proc_stats::MachineSampler::start()?;
    let start_ms = now_ms();
    let start = Instant::now();
    cluster.cdn(&[
        "register".as_ref(),
        "--dir".as_ref(),
        folder.as_os_str(),
        "--plugin".as_ref(),
        "tiny".as_ref(),
    ])?;
    let registered = start.elapsed();
    cluster.wait_done(tasks as u64 + 1, Duration::from_millis(250))?;
    if let Some(recording) = recording {
        recording.stop()?;
    }
    let (master_cpu1, workers_cpu1) = cluster.cpu()?;
    let (master_cpu, workers_cpu) = (
        master_cpu1.since(master_cpu0),
        workers_cpu1.since(workers_cpu0),
    );
    let after = cluster.durability_counts()?;
    let (master_rss, worker_rss) = cluster.peak_rss()?;
    let records = cluster.stop()?;

    let mut latencies = Vec::with_capacity(tasks);
    let mut last_ms = start_ms;
    for record in records.iter().filter(|r| r.id.as_str() != "warm-up.png") {
        let Some(finished) = record.finished_ms else {
            bail!("{} is {:?}, not done", record.id, record.status);
        };
        latencies.push((finished - record.created_ms) as f64);
        last_ms = last_ms.max(finished);
    }
    if latencies.len() != tasks {
        bail!(
            "the registry holds {} of the {tasks} images",
            latencies.len()
        );
    }
    latencies.sort_by(f64::total_cmp);
    let n = tasks as f64;
    let elapsed = Duration::from_millis((last_ms - start_ms).max(1) as u64);
    Ok(ControlFigures {
        tasks_per_second: n / elapsed.as_secs_f64(),
        registrations_per_second: n / registered.as_secs_f64(),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        master_cpu_ms: master_cpu.total() * 1e3 / n,
        master_system_ms: master_cpu.system * 1e3 / n,
        workers_cpu_ms: workers_cpu.total() * 1e3 / n,
        machine_busy: machine.busy_until(last_ms)?,
        master_rss,
        worker_rss,
        writes_per_task: after.writes.saturating_sub(before.writes) as f64 / n,
        commits_per_task: after.commits.saturating_sub(before.commits) as f64 / n,
        blob_fsyncs_per_task: after.blob_fsyncs.saturating_sub(before.blob_fsyncs) as f64 / n,
    })
}

/// Target: tasks per second.
const TARGET: f64 = 20_000.0;

/// Section 3, with where the time goes: the fsync cost of the data disk and the CPU per task.
pub fn report(
    out: &mut Report,
    f: &ControlFigures,
    store: &Result<StoreCosts>,
    profile: &Result<MasterProfile>,
    tasks: usize,
    runs: usize,
) {
    let of = f.tasks_per_second / TARGET;
    out.outcome(
        &format!("control plane >= {TARGET:.0} tasks/s"),
        format!("{:.0} tasks/s", f.tasks_per_second),
        Some(of),
    );
    out.section(&format!(
        "3. Control plane: {tasks} tiny tasks (register + lease + complete), 2 workers x {CONCURRENCY}"
    ));
    out.table(
        &["figure", "measured", "target", "x of target", "verdict"],
        &[
            vec![
                "tasks/s, first registration to last completion".into(),
                format!("{:.0}", f.tasks_per_second),
                format!(">= {TARGET:.0}"),
                times(of),
                verdict(of),
            ],
            vec![
                "registrations/s (`cdn register --dir`, 8 at once, workers busy too)".into(),
                format!("{:.0}", f.registrations_per_second),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
            vec![
                "latency register -> done, p50 (ms)".into(),
                format!("{:.0}", f.p50_ms),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
            vec![
                "latency register -> done, p99 (ms)".into(),
                format!("{:.0}", f.p99_ms),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
            vec![
                "registry writes per task (register, lease, extend, complete)".into(),
                format!("{:.2}", f.writes_per_task),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
            vec![
                "registry commits (WAL fsyncs) per task, with group commit".into(),
                format!("{:.2}", f.commits_per_task),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
            vec![
                "blob store fsyncs per task (files and folders; 0 on S3)".into(),
                format!("{:.2}", f.blob_fsyncs_per_task),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        ],
    );
    out.para(&format!(
        "Median of {runs} runs, each with a fresh master data folder. The plugin writes a fixed \
         2x1 PNG; sources are {SOURCE_BYTES}-byte files. Latency is each image's `created_ms` to \
         `finished_ms` as the registry records them (read with `cdn_master::Registry` after the \
         run, at millisecond resolution). Since all {tasks} are registered at once, the latency includes \
         queueing behind the earlier ones."
    ));
    let mut time = vec![
        format!(
            "the CPUs were {:.0}% busy from the first registration to the last completion \
             (everything on the machine, the client included; sampled every 10 ms)",
            f.machine_busy * 100.0
        ),
        format!(
            "CPU per task: master {:.2} ms ({:.2} ms of it in the kernel), both workers {:.2} ms; \
             master and workers alone would allow at most ~{:.0} tasks/s on {} CPUs",
            f.master_cpu_ms,
            f.master_system_ms,
            f.workers_cpu_ms,
            1000.0 * cpus() / (f.master_cpu_ms + f.workers_cpu_ms).max(1e-6),
            cpus()
        ),
    ];
    match store {
        Ok(c) => time.push(format!(
            "the master's storage alone (its own `BlobStore` and `Registry`, in this process, one \
             task at a time, medians): source blob put {:.0} us; registry register {:.0} us, \
             lease {:.0} us, complete {:.0} us (each one SQLite commit, WAL, synchronous=FULL). \
             One at a time, these commits would cap the master at ~{:.0} tasks/s; with group \
             commit, writes that arrive together share one (the commits per task above); blob \
             puts run in parallel",
            c.blob_put_us,
            c.register_us,
            c.lease_us,
            c.complete_us,
            c.registry_cap()
        )),
        Err(e) => time.push(format!("the storage probe failed: {e:#}")),
    }
    out.para(&format!(
        "Where the time goes:\n\n- {}.",
        time.join(";\n- ")
    ));
    profile_report(out, profile);
    out.para(&format!(
        "**Verdict** (>= {TARGET:.0} tasks/s): {:.0} tasks/s, {}.",
        f.tasks_per_second,
        verdict(of)
    ));
}

/// The master's profile: where its samples fell by library (the kernel, libc's allocator,
/// the binary itself), then the top functions.
fn profile_report(out: &mut Report, profile: &Result<MasterProfile>) {
    let profile = match profile {
        Ok(p) => p,
        Err(e) => {
            out.para(&format!("Profile of the master: not measured: {e:#}."));
            return;
        }
    };
    let by_dso: Vec<String> = profile
        .by_dso
        .iter()
        .map(|r| format!("{:.0}% `{}`", r.share, r.what.join(" ")))
        .collect();
    out.para(&format!(
        "Profile of the master (`perf record -F 999` on its process during one more run, not \
         counted above; self time). By library: {}. The top functions:",
        by_dso.join(", ")
    ));
    out.table(
        &["share of samples", "where", "function"],
        &profile
            .top
            .iter()
            .map(|r| {
                let mut row = vec![format!("{:.1}%", r.share)];
                row.extend(r.what.iter().map(|w| format!("`{w}`")));
                row
            })
            .collect::<Vec<_>>(),
    );
}

fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}
