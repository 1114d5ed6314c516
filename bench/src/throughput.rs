//! Section 2: images per second on the same folders, locally (`cdn-local threads -j 1`,
//! `threads -j 2`, `processes -j 2`) and distributed (master + 2 workers), with the ratios and
//! their targets.

use crate::distributed::DistFigures;
use crate::local_runners::{Corpus, LocalFigures, IMAGE_SIZE};
use crate::report::{times, verdict, Report};

/// Target: `threads -j 2` >= this x `threads -j 1`.
const SCALING_TARGET: f64 = 1.8;
/// Target: distributed >= this x `threads -j 2`.
const DISTRIBUTED_TARGET: f64 = 0.9;

pub fn report(
    out: &mut Report,
    corpus: &Corpus,
    local: Option<&LocalFigures>,
    dist: Option<&DistFigures>,
    local_runs: usize,
    cluster_runs: usize,
) {
    let threads_2 = local.map(|l| l.threads_2);
    let vs_threads = |rate: f64| threads_2.map_or("-".into(), |t| times(rate / t));
    let row = |mode: &str, rate: f64, target: &str, of: Option<f64>| {
        vec![
            mode.to_string(),
            format!("{rate:.1}"),
            vs_threads(rate),
            target.to_string(),
            of.map_or("-".into(), times),
            of.map_or("-".into(), verdict),
        ]
    };
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    if let Some(l) = local {
        let scaling = l.threads_2 / l.threads_1 / SCALING_TARGET;
        rows.push(row("`cdn-local threads -j 1`", l.threads_1, "-", None));
        rows.push(row(
            "`cdn-local threads -j 2`",
            l.threads_2,
            &format!(">= {SCALING_TARGET}x threads -j 1"),
            Some(scaling),
        ));
        rows.push(row("`cdn-local processes -j 2`", l.processes_2, "-", None));
        out.outcome(
            &format!("threads -j 2 >= {SCALING_TARGET}x threads -j 1"),
            times(l.threads_2 / l.threads_1),
            Some(scaling),
        );
        verdicts.push(format!(
            "threads -j 2 is {} of -j 1 (target {SCALING_TARGET}x): {}",
            times(l.threads_2 / l.threads_1),
            verdict(scaling)
        ));
    }
    if let Some(d) = dist {
        let of = threads_2.map(|t| d.to_last_thumbnail / t / DISTRIBUTED_TARGET);
        rows.push(row(
            "distributed: master + 2 workers x 2 tasks, to the last thumbnail",
            d.to_last_thumbnail,
            &format!(">= {DISTRIBUTED_TARGET}x threads -j 2"),
            of,
        ));
        rows.push(row(
            "distributed, until `cdn wait` returns",
            d.to_wait_return,
            "-",
            None,
        ));
        let ratio = threads_2.map(|t| times(d.to_last_thumbnail / t));
        out.outcome(
            &format!("distributed >= {DISTRIBUTED_TARGET}x threads -j 2"),
            ratio
                .clone()
                .unwrap_or_else(|| format!("{:.1} images/s", d.to_last_thumbnail)),
            of,
        );
        verdicts.push(match (ratio, of) {
            (Some(ratio), Some(of)) => format!(
                "distributed / threads = {ratio} (target {DISTRIBUTED_TARGET}x): {}",
                verdict(of)
            ),
            _ => "distributed / threads: not measured (local runners skipped)".into(),
        });
    }
    out.section(&format!(
        "2. Throughput: {} JPEGs of {IMAGE_SIZE} in two folders, fit 256x256",
        corpus.images()
    ));
    if rows.is_empty() {
        out.para("Skipped.");
        return;
    }
    out.table(
        &[
            "mode",
            "images/s",
            "vs threads -j 2",
            "target",
            "x of target",
            "verdict",
        ],
        &rows,
    );
    out.para(&format!(
        "Local figures: median of {local_runs} runs, `cdn-local ... --force --json`'s own \
         images/s. Distributed: median of {cluster_runs} runs, each with a fresh master data \
         folder; a warm-up image first (plugin fetched and compiled), then the clock runs from \
         `cdn register --dir` (all {} images, 8 uploads at once) to the last `finished_ms` in the \
         registry, and to `cdn wait ID... --interval 100ms` returning. Master, workers and client \
         share the same 2 cores.",
        corpus.images()
    ));
    if let Some(d) = dist {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let cpu_ms = d.master_cpu_ms + d.workers_cpu_ms;
        let mut line = format!(
            "Where the distributed time goes: CPU per image, master {:.1} ms and both workers \
             {:.1} ms (plugin, hashing, QUIC and TLS, blob files)",
            d.master_cpu_ms, d.workers_cpu_ms
        );
        if let Some(l) = local {
            line.push_str(&format!(
                ", against {:.1} ms of wall time per image for `threads -j 1`",
                1e3 / l.threads_1
            ));
        }
        line.push_str(&format!(
            ". With {cpus:.0} CPUs fully busy that would allow ~{:.0} images/s; they were {:.0}% \
             busy up to the last thumbnail (everything on the machine). The rest is time spent \
             waiting on the network and the disk: the lease round trip, the source download and \
             the thumbnail upload (fsynced on the master before the completion commits) of each \
             task.",
            1e3 * cpus / cpu_ms.max(1e-9),
            d.machine_busy * 100.0
        ));
        out.para(&line);
    }
    out.para(&format!("**Verdict**: {}.", verdicts.join("; ")));
}
