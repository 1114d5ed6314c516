//! Processes mode: N worker processes (this binary re-executed as `cdn-local __child`), each
//! loading the plugin once and handed one image at a time.
//!
//! Protocol, one JSON object per line:
//! - child -> parent, once, after loading the plugin: `{"type":"ready","pid":..,"plugin_hash":..}`
//!   (or `{"type":"fatal","error":..}` and exit);
//! - parent -> child: `{"id":3,"source":"/tmp/node_a/img_400.jpg","output":"..._thumb.jpg"}`;
//! - child -> parent: `{"type":"done","id":3,"made":{..}}` or `{"type":"failed","id":3,"failure":{..}}`.
//!
//! A child gets its next image only when it has answered for the previous one, so work goes to
//! whoever is free. The child reads the source, runs the plugin and writes the output atomically
//! itself; the parent only moves paths and results, and keeps the status table.
//!
//! A child that dies (its stdout closes) is reaped; the image it held goes back to the front of
//! the queue, and a replacement child is started. An image whose worker died twice is failed
//! ("worker process died twice"), so a plugin input that kills its host cannot loop forever.
//! When the queue is empty, each child's stdin is closed: it exits, and is reaped.

use crate::cli::{ChildArgs, LimitArgs};
use crate::job::{thumbnail_one, Failure, Made, PluginSource};
use crate::report::Reporter;
use crate::scan::Task;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Deaths of workers holding the same image after which that image is failed.
const MAX_DEATHS_PER_IMAGE: u32 = 2;

/// The parent's request: make one thumbnail.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: usize,
    source: PathBuf,
    output: PathBuf,
}

/// A child's message.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    Ready { pid: u32, plugin_hash: String },
    Done { id: usize, made: Made },
    Failed { id: usize, failure: Failure },
    Fatal { error: String },
}

/// What the parent learns from the reader threads.
enum Event {
    Reply(usize, Reply),
    /// The child's stdout closed (it exited or died), or it wrote something that is not a reply.
    Closed(usize, Option<String>),
}

struct Worker {
    child: Child,
    pid: u32,
    /// `None` once closed (no more work for this child) or found broken.
    stdin: Option<ChildStdin>,
    ready: bool,
    in_flight: Option<usize>,
    reaped: bool,
    reader: Option<JoinHandle<()>>,
}

/// What a processes run did, beyond the status table.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Worker processes started at once (not counting replacements).
    pub jobs: usize,
    pub worker_deaths: usize,
    pub retried: usize,
    /// When the last image was resolved (the run's end; reaping the workers comes after).
    pub last_result: Option<std::time::Instant>,
}

struct Parent<'a> {
    tasks: &'a [Task],
    reporter: &'a Reporter,
    command: Vec<String>,
    exe: PathBuf,
    workers: Vec<Worker>,
    queue: VecDeque<usize>,
    deaths_on: Vec<u32>,
    unresolved: usize,
    alive: usize,
    spawns_left: usize,
    startup_failures: usize,
    last_startup_error: Option<String>,
    events_tx: mpsc::Sender<Event>,
    outcome: Outcome,
}

impl Outcome {
    fn finish(&mut self) {
        self.last_result = Some(std::time::Instant::now());
    }
}

/// Processes every task not marked `skip` with `jobs` worker processes.
pub fn run(
    tasks: &[Task],
    reporter: &Reporter,
    plugin: &PluginSource,
    plugin_args: &[String],
    limits: LimitArgs,
    jobs: usize,
) -> Result<Outcome> {
    let queue: VecDeque<usize> = (0..tasks.len()).filter(|&i| !tasks[i].skip).collect();
    if queue.is_empty() {
        return Ok(Outcome::default());
    }
    let jobs = jobs.clamp(1, queue.len());
    let exe = std::env::current_exe().context("cannot find this program to start workers")?;
    let mut command = vec!["__child".to_string(), "--plugin".to_string(), plugin.spec()];
    command.extend(limits.to_args());
    command.push("--".to_string());
    command.extend(plugin_args.iter().cloned());
    let (events_tx, events_rx) = mpsc::channel();
    let mut parent = Parent {
        tasks,
        reporter,
        command,
        exe,
        workers: Vec::new(),
        unresolved: queue.len(),
        deaths_on: vec![0; tasks.len()],
        queue,
        alive: 0,
        // Replacements are bounded: a child that cannot even start must not respawn forever.
        spawns_left: jobs + tasks.len(),
        startup_failures: 0,
        last_startup_error: None,
        events_tx,
        outcome: Outcome {
            jobs,
            ..Outcome::default()
        },
    };
    for _ in 0..jobs {
        if let Err(e) = parent.spawn() {
            if parent.alive == 0 {
                return Err(e);
            }
            tracing::warn!("started only {} worker processes: {e:#}", parent.alive);
            break;
        }
    }
    let result = parent.event_loop(&events_rx);
    parent.outcome.finish();
    parent.shut_down();
    result?;
    Ok(parent.outcome)
}

impl Parent<'_> {
    fn spawn(&mut self) -> Result<()> {
        self.spawns_left = self.spawns_left.saturating_sub(1);
        let mut child = Command::new(&self.exe)
            .args(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start a worker process ({})", self.exe.display()))?;
        let pid = child.id();
        let slot = self.workers.len();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("a worker process came without pipes");
        };
        let tx = self.events_tx.clone();
        let reader = std::thread::Builder::new()
            .name(format!("worker-{slot}-reader"))
            .spawn(move || read_replies(slot, stdout, tx));
        let reader = match reader {
            Ok(handle) => handle,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e).context("cannot start a thread to read a worker");
            }
        };
        tracing::info!(worker = slot, pid, "started worker process");
        self.workers.push(Worker {
            child,
            pid,
            stdin: Some(stdin),
            ready: false,
            in_flight: None,
            reaped: false,
            reader: Some(reader),
        });
        self.alive += 1;
        Ok(())
    }

    fn event_loop(&mut self, events: &mpsc::Receiver<Event>) -> Result<()> {
        while self.unresolved > 0 {
            if self.alive == 0 && !self.respawn() {
                self.fail_queue();
                break;
            }
            // Every live worker has a reader thread holding a sender, and it always sends a
            // `Closed` before it ends: with `alive > 0` this cannot wait forever.
            let event = events
                .recv()
                .context("lost contact with every worker process")?;
            match event {
                Event::Reply(slot, reply) => self.on_reply(slot, reply),
                Event::Closed(slot, problem) => self.on_closed(slot, problem),
            }
        }
        Ok(())
    }

    fn on_reply(&mut self, slot: usize, reply: Reply) {
        match reply {
            Reply::Ready { pid, plugin_hash } => {
                tracing::debug!(worker = slot, pid, plugin = %plugin_hash, "worker ready");
                self.workers[slot].ready = true;
                self.dispatch(slot);
            }
            Reply::Done { id, made } => self.on_result(slot, id, Ok(made)),
            Reply::Failed { id, failure } => self.on_result(slot, id, Err(failure)),
            Reply::Fatal { error } => {
                tracing::error!(worker = slot, "worker process cannot start: {error}");
                self.last_startup_error = Some(error);
            }
        }
    }

    fn on_result(&mut self, slot: usize, id: usize, result: Result<Made, Failure>) {
        let worker = &mut self.workers[slot];
        if worker.in_flight != Some(id) {
            tracing::error!(
                worker = slot,
                id,
                "a reply for an image this worker was not given"
            );
            self.kill(slot);
            return;
        }
        worker.in_flight = None;
        self.reporter.finished(id, result);
        self.unresolved -= 1;
        self.dispatch(slot);
    }

    /// Gives `slot` its next image, or closes its stdin when there is none.
    fn dispatch(&mut self, slot: usize) {
        let worker = &mut self.workers[slot];
        if !worker.ready || worker.in_flight.is_some() || worker.stdin.is_none() {
            return;
        }
        let Some(index) = self.queue.pop_front() else {
            // No more work: EOF on stdin makes the child exit.
            worker.stdin = None;
            return;
        };
        let task = &self.tasks[index];
        let request = Request {
            id: index,
            source: task.source.clone(),
            output: task.output.clone(),
        };
        let sent = match (&mut worker.stdin, serde_json::to_string(&request)) {
            (Some(stdin), Ok(mut line)) => {
                line.push('\n');
                stdin
                    .write_all(line.as_bytes())
                    .and_then(|()| stdin.flush())
            }
            (_, Err(e)) => Err(std::io::Error::other(e)),
            (None, _) => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        match sent {
            Ok(()) => {
                worker.in_flight = Some(index);
                self.reporter.started(index, slot);
            }
            Err(e) => {
                // The child is gone (its death will be reported by its reader); the image was
                // never received, so it goes back without counting against it.
                tracing::debug!(worker = slot, "cannot send to worker: {e}");
                worker.stdin = None;
                self.queue.push_front(index);
            }
        }
    }

    fn on_closed(&mut self, slot: usize, problem: Option<String>) {
        if let Some(problem) = &problem {
            tracing::error!(worker = slot, "{problem}");
            self.kill(slot);
        }
        let status = self.reap(slot);
        let worker = &mut self.workers[slot];
        let expected = worker.stdin.is_none()
            && worker.in_flight.is_none()
            && problem.is_none()
            && status.is_some_and(|s| s.success());
        let pid = worker.pid;
        let was_ready = worker.ready;
        let in_flight = worker.in_flight.take();
        worker.stdin = None;
        if expected {
            tracing::debug!(worker = slot, pid, "worker process exited");
            return;
        }
        let how = match (&problem, status) {
            (Some(problem), _) => problem.clone(),
            (None, Some(status)) => describe(status),
            (None, None) => "exit status unknown".to_string(),
        };
        self.outcome.worker_deaths += 1;
        tracing::warn!(worker = slot, pid, "worker process died ({how})");
        if !was_ready {
            self.startup_failures += 1;
            if self.last_startup_error.is_none() {
                self.last_startup_error = Some(format!("worker process died at start ({how})"));
            }
        }
        if let Some(index) = in_flight {
            self.deaths_on[index] += 1;
            if self.deaths_on[index] >= MAX_DEATHS_PER_IMAGE {
                self.reporter.finished(
                    index,
                    Err(Failure::new(
                        "worker_died",
                        format!(
                            "worker process died twice while making this thumbnail \
                             (last: pid {pid}, {how})"
                        ),
                    )),
                );
                self.unresolved -= 1;
            } else {
                self.outcome.retried += 1;
                self.queue.push_front(index);
                self.reporter
                    .requeued(index, &format!("worker process {pid} died ({how})"));
            }
        }
        if !self.queue.is_empty() {
            self.respawn();
        }
    }

    /// Starts a replacement worker if the budget allows and children are not failing at start.
    /// Returns whether one was started.
    fn respawn(&mut self) -> bool {
        if self.spawns_left == 0 || self.startup_failures > self.outcome.jobs + 1 {
            return false;
        }
        match self.spawn() {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("{e:#}");
                self.last_startup_error = Some(format!("{e:#}"));
                false
            }
        }
    }

    /// No worker can be started: every image still queued fails with the reason.
    fn fail_queue(&mut self) {
        let why = self
            .last_startup_error
            .clone()
            .unwrap_or_else(|| "no worker process left".to_string());
        while let Some(index) = self.queue.pop_front() {
            self.reporter.finished(
                index,
                Err(Failure::new(
                    "worker_died",
                    format!("no worker process could take this image: {why}"),
                )),
            );
            self.unresolved -= 1;
        }
    }

    fn kill(&mut self, slot: usize) {
        let worker = &mut self.workers[slot];
        if !worker.reaped {
            let _ = worker.child.kill();
        }
    }

    /// Waits for `slot`'s process (once) and returns its exit status.
    fn reap(&mut self, slot: usize) -> Option<ExitStatus> {
        let worker = &mut self.workers[slot];
        if worker.reaped {
            return None;
        }
        worker.reaped = true;
        self.alive -= 1;
        match worker.child.wait() {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::warn!(pid = worker.pid, "cannot wait for worker process: {e}");
                None
            }
        }
    }

    /// Closes every child's stdin, stops those still starting, and reaps them all.
    fn shut_down(&mut self) {
        for slot in 0..self.workers.len() {
            let worker = &mut self.workers[slot];
            worker.stdin = None;
            if !worker.ready && !worker.reaped {
                let _ = worker.child.kill();
            }
        }
        for slot in 0..self.workers.len() {
            if let Some(status) = self.reap(slot) {
                if !status.success() && self.workers[slot].ready {
                    tracing::debug!(pid = self.workers[slot].pid, "worker ended: {status}");
                }
            }
            if let Some(reader) = self.workers[slot].reader.take() {
                let _ = reader.join();
            }
        }
    }
}

/// Reads a child's replies until its stdout closes, then says so.
fn read_replies(slot: usize, stdout: std::process::ChildStdout, events: mpsc::Sender<Event>) {
    let mut problem = None;
    for line in BufReader::new(stdout).lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                problem = Some(format!("cannot read from the worker process: {e}"));
                break;
            }
        };
        match serde_json::from_str::<Reply>(&line) {
            Ok(reply) => {
                if events.send(Event::Reply(slot, reply)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let shown: String = line.chars().take(200).collect();
                problem = Some(format!("the worker process wrote {shown:?}: {e}"));
                break;
            }
        }
    }
    let _ = events.send(Event::Closed(slot, problem));
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

/// The worker role: load the plugin once, then make one thumbnail per request line.
pub fn child_main(args: ChildArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let loaded = (|| -> Result<_> {
        let source = PluginSource::parse(Some(&args.plugin))?;
        let runtime = cdn_runtime::Runtime::new(args.limits.limits())
            .context("cannot start the plugin runtime")?;
        let plugin = source.load(&runtime)?;
        Ok((runtime, plugin))
    })();
    let (runtime, plugin) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = send(
                &mut out,
                &Reply::Fatal {
                    error: format!("{e:#}"),
                },
            );
            return Err(e);
        }
    };
    let input_limit = runtime.limits().input_bytes;
    send(
        &mut out,
        &Reply::Ready {
            pid: std::process::id(),
            plugin_hash: plugin.hash().to_string(),
        },
    )?;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("cannot read a request")?;
        if line.trim().is_empty() {
            continue;
        }
        let request: Request =
            serde_json::from_str(&line).with_context(|| format!("bad request {line:?}"))?;
        let reply = match thumbnail_one(
            &plugin,
            &args.plugin_args,
            &request.source,
            &request.output,
            input_limit,
        ) {
            Ok(made) => Reply::Done {
                id: request.id,
                made,
            },
            Err(failure) => Reply::Failed {
                id: request.id,
                failure,
            },
        };
        send(&mut out, &reply)?;
    }
    // EOF: no more work. The process ends right after this, so the runtime is not dropped:
    // dropping it joins the epoch ticker, which can take a whole tick (10 ms) that the parent
    // would spend waiting to reap this process.
    std::mem::forget(plugin);
    std::mem::forget(runtime);
    Ok(())
}

fn send(out: &mut impl Write, reply: &Reply) -> Result<()> {
    let mut line = serde_json::to_string(reply).context("cannot encode a reply")?;
    line.push('\n');
    out.write_all(line.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot answer the parent process")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines() {
        let reply = Reply::Done {
            id: 3,
            made: Made {
                bytes: 5,
                millis: 1.5,
            },
        };
        let line = serde_json::to_string(&reply).expect("encode");
        assert_eq!(
            line,
            r#"{"type":"done","id":3,"made":{"bytes":5,"millis":1.5}}"#
        );
        assert!(matches!(
            serde_json::from_str::<Reply>(&line).expect("decode"),
            Reply::Done { id: 3, .. }
        ));
        let request: Request =
            serde_json::from_str(r#"{"id":1,"source":"/a.jpg","output":"/a.jpg_thumb.jpg"}"#)
                .expect("decode");
        assert_eq!(request.source, PathBuf::from("/a.jpg"));
    }
}
