//! The status table every worker updates (behind one lock: the seed's lock, done properly),
//! the progress display (a bar on a terminal, a line per image otherwise), and the summary.

use crate::job::{Failure, Made};
use crate::scan::Task;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Where one image stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Waiting for a worker.
    Pending,
    /// Its thumbnail was already up to date.
    Skipped,
    /// A worker (thread or process number) is on it.
    Running {
        worker: usize,
    },
    Done(Made),
    Failed(Failure),
}

/// One row of the status table.
#[derive(Debug, Clone)]
pub struct Row {
    pub source: PathBuf,
    pub output: PathBuf,
    pub status: Status,
}

enum Display {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

struct Table {
    rows: Vec<Row>,
    finished: usize,
}

/// The shared status table and its display. `Sync`: threads update it directly.
pub struct Reporter {
    table: Mutex<Table>,
    display: Display,
    to_do: usize,
}

impl Reporter {
    /// A table with one row per task (skipped tasks are marked so from the start).
    pub fn new(tasks: &[Task], quiet: bool) -> Self {
        let rows: Vec<Row> = tasks
            .iter()
            .map(|t| Row {
                source: t.source.clone(),
                output: t.output.clone(),
                status: if t.skip {
                    Status::Skipped
                } else {
                    Status::Pending
                },
            })
            .collect();
        let to_do = rows.iter().filter(|r| r.status == Status::Pending).count();
        let display = if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(to_do as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} images, {rate} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1} images/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            Display::Bar(bar)
        } else {
            Display::Lines
        };
        Reporter {
            table: Mutex::new(Table { rows, finished: 0 }),
            display,
            to_do,
        }
    }

    /// Images that need a worker.
    pub fn to_do(&self) -> usize {
        self.to_do
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere cannot leave a row half-updated: each update is one assignment.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker took image `index`.
    pub fn started(&self, index: usize, worker: usize) {
        let mut table = self.lock();
        if let Some(row) = table.rows.get_mut(index) {
            tracing::debug!(worker, source = %row.source.display(), "started");
            row.status = Status::Running { worker };
        }
    }

    /// Image `index` goes back to the queue (its worker process died).
    pub fn requeued(&self, index: usize, why: &str) {
        let mut table = self.lock();
        if let Some(row) = table.rows.get_mut(index) {
            let line = format!("retrying {}: {why}", row.source.display());
            row.status = Status::Pending;
            self.print(&line);
        }
    }

    /// Image `index` is finished, one way or the other. A second result for the same image is a
    /// bug in a runner: it is logged and ignored, so the counts stay right.
    pub fn finished(&self, index: usize, result: Result<Made, Failure>) {
        let mut table = self.lock();
        let Some(row) = table.rows.get(index) else {
            return;
        };
        if matches!(
            row.status,
            Status::Done(_) | Status::Failed(_) | Status::Skipped
        ) {
            tracing::error!(source = %row.source.display(), "a second result for one image, ignored");
            return;
        }
        table.finished += 1;
        let n = table.finished;
        let row = &mut table.rows[index];
        let line = match &result {
            Ok(made) => format!(
                "[{n:>width$}/{}] done    {} -> {} ({:.1} ms)",
                self.to_do,
                row.source.display(),
                file_name(&row.output),
                made.millis,
                width = digits(self.to_do),
            ),
            Err(failure) => format!(
                "[{n:>width$}/{}] FAILED  {}: {}",
                self.to_do,
                row.source.display(),
                failure.message,
                width = digits(self.to_do),
            ),
        };
        row.status = match result {
            Ok(made) => Status::Done(made),
            Err(failure) => Status::Failed(failure),
        };
        let failed = matches!(row.status, Status::Failed(_));
        match &self.display {
            Display::Bar(bar) => {
                if failed {
                    bar.println(line);
                }
                bar.inc(1);
            }
            Display::Lines => eprintln!("{line}"),
            Display::Quiet => {}
        }
    }

    fn print(&self, line: &str) {
        match &self.display {
            Display::Bar(bar) => bar.println(line),
            Display::Lines => eprintln!("{line}"),
            Display::Quiet => {}
        }
    }

    /// A copy of the table.
    #[cfg(test)]
    pub fn rows(&self) -> Vec<Row> {
        self.lock().rows.clone()
    }

    /// Clears the bar and counts the table.
    pub fn summary(&self, run: RunInfo) -> Summary {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
        let table = self.lock();
        let mut summary = Summary {
            mode: run.mode,
            jobs: run.jobs,
            plugin: run.plugin,
            plugin_hash: run.plugin_hash,
            images: table.rows.len(),
            done: 0,
            skipped: 0,
            failed: 0,
            unfinished: 0,
            wall_seconds: run.wall.as_secs_f64(),
            images_per_second: 0.0,
            worker_deaths: run.worker_deaths,
            retried: run.retried,
            failures: Vec::new(),
        };
        for row in &table.rows {
            match &row.status {
                Status::Done(_) => summary.done += 1,
                Status::Skipped => summary.skipped += 1,
                Status::Failed(f) => {
                    summary.failed += 1;
                    summary.failures.push(FailureRow {
                        source: row.source.display().to_string(),
                        kind: f.kind.clone(),
                        error: f.message.clone(),
                    });
                }
                Status::Pending | Status::Running { .. } => summary.unfinished += 1,
            }
        }
        if summary.wall_seconds > 0.0 {
            summary.images_per_second = summary.done as f64 / summary.wall_seconds;
        }
        summary
    }
}

/// What the runner knows that the table does not.
pub struct RunInfo {
    pub mode: &'static str,
    pub jobs: usize,
    pub plugin: String,
    pub plugin_hash: String,
    pub wall: Duration,
    pub worker_deaths: usize,
    pub retried: usize,
}

/// The end of a run (printed as text, or as JSON with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `threads` or `processes`.
    pub mode: &'static str,
    /// Threads or worker processes used.
    pub jobs: usize,
    /// `builtin:thumbnail` or the plugin file.
    pub plugin: String,
    /// SHA-256 of the plugin's bytes.
    pub plugin_hash: String,
    /// Images found in the folders.
    pub images: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Images left pending (only if the run was cut short; normally 0).
    pub unfinished: usize,
    /// From the start of the scan to the last result.
    pub wall_seconds: f64,
    /// Thumbnails made per second of wall time.
    pub images_per_second: f64,
    /// Worker processes that died during the run (processes mode).
    pub worker_deaths: usize,
    /// Images handed out again after their worker died.
    pub retried: usize,
    pub failures: Vec<FailureRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub source: String,
    pub kind: String,
    pub error: String,
}

impl Summary {
    /// Whether the run should exit 0.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.unfinished == 0
    }

    /// The summary for a person.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} images: {} done, {} skipped, {} failed in {:.2} s ({:.1} images/s, {} -j {})\n",
            self.images,
            self.done,
            self.skipped,
            self.failed,
            self.wall_seconds,
            self.images_per_second,
            self.mode,
            self.jobs,
        );
        if self.worker_deaths > 0 {
            out.push_str(&format!(
                "{} worker process(es) died; {} image(s) retried\n",
                self.worker_deaths, self.retried
            ));
        }
        if self.unfinished > 0 {
            out.push_str(&format!("{} image(s) left unfinished\n", self.unfinished));
        }
        if !self.failures.is_empty() {
            out.push_str("failed:\n");
            for f in &self.failures {
                out.push_str(&format!("  {}: {}\n", f.source, f.error));
            }
        }
        out
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, skip: bool) -> Task {
        Task {
            source: PathBuf::from(name),
            output: PathBuf::from(format!("{name}_thumb.jpg")),
            skip,
        }
    }

    #[test]
    fn counts_and_ignores_second_results() {
        let tasks = [
            task("a.jpg", false),
            task("b.jpg", true),
            task("c.jpg", false),
        ];
        let r = Reporter::new(&tasks, true);
        assert_eq!(r.to_do(), 2);
        let made = Made {
            bytes: 10,
            millis: 1.0,
        };
        r.started(0, 0);
        r.finished(0, Ok(made.clone()));
        r.finished(0, Err(Failure::new("x", "late duplicate")));
        r.started(2, 1);
        r.finished(2, Err(Failure::new("plugin_error", "corrupt jpeg")));
        let s = r.summary(RunInfo {
            mode: "threads",
            jobs: 2,
            plugin: "builtin:thumbnail".into(),
            plugin_hash: "00".into(),
            wall: Duration::from_secs(2),
            worker_deaths: 0,
            retried: 0,
        });
        assert_eq!((s.images, s.done, s.skipped, s.failed), (3, 1, 1, 1));
        assert!(!s.ok());
        assert_eq!(s.images_per_second, 0.5);
        assert_eq!(s.failures[0].source, "c.jpg");
        assert!(s.text().contains("c.jpg: corrupt jpeg"), "{}", s.text());
        assert_eq!(r.rows()[0].status, Status::Done(made));
    }
}
