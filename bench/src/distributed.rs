//! The distributed path on the local runners' images: a master and two workers (each holding
//! two tasks, the worker's default on this machine), the client registering the folder
//! (`cdn register --dir`) and waiting for it (`cdn wait`). Images per second from the start of
//! the registration to the last thumbnail the registry records, and to `cdn wait` returning.

use crate::cluster::{now_ms, Cluster, Deployment, Setup};
use crate::local_runners::Corpus;
use crate::measure::median_of;
use crate::proc_stats;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub struct DistFigures {
    /// Images per second to the last thumbnail (median).
    pub to_last_thumbnail: f64,
    /// Images per second until `cdn wait` returned (median).
    pub to_wait_return: f64,
    /// Peak RSS of the master and of worker w1 (medians), in bytes.
    pub master_rss: u64,
    pub worker_rss: u64,
    /// CPU milliseconds per image of the master, and of both workers together (medians).
    pub master_cpu_ms: f64,
    pub workers_cpu_ms: f64,
    /// How busy the machine's CPUs were during the timed part (0-1).
    pub machine_busy: f64,
}

pub fn measure(
    setup: &Setup,
    scratch: &Path,
    corpus: &Corpus,
    warm_up: &Path,
    runs: usize,
    deployment: &Deployment,
) -> Result<DistFigures> {
    let folder = scratch.join("distributed-images");
    let ids = link_corpus(corpus, &folder)?;
    let mut figures = Vec::new();
    for run in 0..runs.max(1) {
        let dir = scratch.join(format!("distributed-{}-run-{run}", deployment.slug()));
        figures.push(
            run_once(setup, &dir, &folder, &ids, warm_up, deployment)
                .with_context(|| format!("distributed run {}", run + 1))?,
        );
    }
    let column = |f: fn(&DistFigures) -> f64| median_of(figures.iter().map(f).collect());
    Ok(DistFigures {
        to_last_thumbnail: column(|f| f.to_last_thumbnail),
        to_wait_return: column(|f| f.to_wait_return),
        master_rss: column(|f| f.master_rss as f64) as u64,
        worker_rss: column(|f| f.worker_rss as f64) as u64,
        master_cpu_ms: column(|f| f.master_cpu_ms),
        workers_cpu_ms: column(|f| f.workers_cpu_ms),
        machine_busy: column(|f| f.machine_busy),
    })
}

/// One folder with every corpus image (hard links, else copies), named `a_img_100.jpg`, ...
/// since both corpus folders use the same names. Returns the image ids (the file names).
fn link_corpus(corpus: &Corpus, folder: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let mut ids = Vec::new();
    for source in corpus.files() {
        let parent = source
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or("x");
        let name = source
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no UTF-8 file name", source.display()))?;
        let id = format!("{}_{name}", parent.trim_start_matches("node_"));
        let dest = folder.join(&id);
        if !dest.exists() && std::fs::hard_link(&source, &dest).is_err() {
            std::fs::copy(&source, &dest)
                .with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Tasks each worker holds at once: two, so one task's round trips (lease, download, upload)
/// overlap the other's plugin call.
const WORKER_CONCURRENCY: u32 = 2;

fn run_once(
    setup: &Setup,
    dir: &Path,
    folder: &Path,
    ids: &[String],
    warm_up: &Path,
    deployment: &Deployment,
) -> Result<DistFigures> {
    let cluster = Cluster::start(setup, dir, WORKER_CONCURRENCY, deployment)?;
    // One image first, so both the plugin fetch and its compilation are behind us.
    cluster.cdn(&[
        "register".as_ref(),
        "warm-up.jpg".as_ref(),
        warm_up.as_os_str(),
    ])?;
    cluster.cdn(&["wait", "warm-up.jpg", "--timeout", "300s"])?;

    let (master_cpu0, workers_cpu0) = cluster.cpu()?;
    let machine = proc_stats::MachineSampler::start()?;
    let start_ms = now_ms();
    let start = Instant::now();
    cluster.cdn(&["register".as_ref(), "--dir".as_ref(), folder.as_os_str()])?;
    let mut wait: Vec<&str> = vec!["wait", "--timeout", "300s", "--interval", "100ms"];
    wait.extend(ids.iter().map(String::as_str));
    cluster.cdn(&wait)?;
    let waited = start.elapsed();
    let (master_cpu1, workers_cpu1) = cluster.cpu()?;
    let (master_rss, worker_rss) = cluster.peak_rss()?;
    let records = cluster.stop()?;

    let last_ms = last_finished(&records, ids)?;
    let n = ids.len() as f64;
    let to_last = Duration::from_millis((last_ms - start_ms).max(1) as u64);
    Ok(DistFigures {
        to_last_thumbnail: n / to_last.as_secs_f64(),
        to_wait_return: n / waited.as_secs_f64(),
        master_rss,
        worker_rss,
        master_cpu_ms: master_cpu1.since(master_cpu0).total() * 1e3 / n,
        workers_cpu_ms: workers_cpu1.since(workers_cpu0).total() * 1e3 / n,
        machine_busy: machine.busy_until(last_ms)?,
    })
}

/// The latest `finished_ms` of the images `ids`, all of which must be done.
fn last_finished(records: &[cdn_proto::ImageView], ids: &[String]) -> Result<i64> {
    let mut last = i64::MIN;
    for id in ids {
        let record = records
            .iter()
            .find(|r| r.id.as_str() == id)
            .with_context(|| format!("{id} is not in the registry"))?;
        match (record.status, record.finished_ms) {
            (cdn_proto::Status::Done, Some(ms)) => last = last.max(ms),
            (status, _) => bail!("{id} is {status:?}, not done"),
        }
    }
    Ok(last)
}
