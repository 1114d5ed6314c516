//! Threads mode: one compiled plugin shared by N threads. Each thread takes the next image from
//! a shared index (an atomic counter into the to-do list, so work is handed out as threads become
//! free, never split up front), runs a fresh plugin instance on it, and records the result in the
//! shared status table.

use crate::job::{thumbnail_one, Failure};
use crate::report::Reporter;
use crate::scan::Task;
use anyhow::{Context, Result};
use cdn_runtime::Plugin;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Processes every task not marked `skip`, `jobs` threads wide. Returns the threads used.
pub fn run(
    tasks: &[Task],
    reporter: &Reporter,
    plugin: &Plugin,
    plugin_args: &[String],
    jobs: usize,
    input_limit: usize,
) -> Result<usize> {
    let queue: Vec<usize> = (0..tasks.len()).filter(|&i| !tasks[i].skip).collect();
    if queue.is_empty() {
        return Ok(0);
    }
    let jobs = jobs.clamp(1, queue.len());
    let next = AtomicUsize::new(0);
    let work = |worker: usize| {
        let mut count = 0usize;
        loop {
            let slot = next.fetch_add(1, Ordering::Relaxed);
            let Some(&index) = queue.get(slot) else {
                break;
            };
            let task = &tasks[index];
            reporter.started(index, worker);
            // A panic in the host while on one image (a bug, not a bad image: plugin faults
            // are values) fails that image instead of taking down the run.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                thumbnail_one(plugin, plugin_args, &task.source, &task.output, input_limit)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                Err(Failure::new(
                    "host_panic",
                    format!("internal error: {what}"),
                ))
            });
            reporter.finished(index, result);
            count += 1;
        }
        tracing::debug!(worker, images = count, "thread finished");
    };
    std::thread::scope(|scope| -> Result<usize> {
        let mut started = 0;
        for worker in 0..jobs {
            let work = &work;
            let spawned = std::thread::Builder::new()
                .name(format!("thumbnail-{worker}"))
                .spawn_scoped(scope, move || work(worker));
            match spawned {
                Ok(_) => started += 1,
                // The threads already running take the whole queue between them.
                Err(e) if started > 0 => {
                    tracing::warn!("could start only {started} of {jobs} threads: {e}");
                    break;
                }
                Err(e) => return Err(e).context("cannot start a worker thread"),
            }
        }
        Ok(started)
    })
}
