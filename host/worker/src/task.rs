//! One leased task, start to end: get the plugin, run it off the async threads, then report
//! `complete` (with the thumbnail) or `fail` (with the plugin's error). From the grant's receipt
//! until the report is acknowledged, a keeper ([`keeper`]) extends the lease on this machine's
//! clock. A lease the master no longer recognises (`stale`) is given up: its late result is not
//! sent again, and the master would refuse it.

use crate::batching::Ticket;
use crate::keeper::{self, LeaseClock};
use crate::link::{Backoff, CallError, Link};
use crate::output;
use crate::plugins::Plugins;
use crate::{reached, Stop};
use bytes::Bytes;
use cdn_common::ContentHash;
use cdn_proto::{error_text, kind, FailResponse, LeaseGrant, Request};
use cdn_runtime::RunError;
use serde::de::IgnoredAny;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How long past its time cap a plugin call may run before the worker gives it up and reports
/// `time_limit` itself (the runtime's own cap should have ended it first).
pub(crate) const TIME_CAP_GRACE: Duration = Duration::from_secs(5);

/// How a task ended, for the worker's counters and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Failed,
    /// The lease was lost (expired or superseded) or handed back; the master decides what next.
    Dropped,
}

/// What to report to the master.
pub(crate) enum Report {
    Complete(Vec<u8>, output::Made),
    Fail {
        kind: String,
        message: String,
        retryable: bool,
    },
}

/// The largest report whose task gives up its place among the tasks held before the master
/// acknowledges it (see `held`).
const EARLY_ROOM_MAX_BYTES: usize = 1 << 20;

impl Report {
    /// The bytes it uploads.
    fn body_len(&self) -> usize {
        match self {
            Report::Complete(bytes, _) => bytes.len(),
            Report::Fail { .. } => 0,
        }
    }

    /// A failure; kind and message are cut to [`cdn_proto::MAX_ERROR_TEXT`] (plugin stderr can
    /// be 64 KiB, over the request-header cap once JSON-escaped).
    fn failure(kind: &str, message: impl AsRef<str>, retryable: bool) -> Report {
        Report::Fail {
            kind: error_text(kind),
            message: error_text(message.as_ref()),
            retryable,
        }
    }
}

/// What a task needs besides its grant.
pub(crate) struct TaskEnv<'a> {
    pub link: &'a Arc<Link>,
    pub plugins: &'a Plugins,
    /// The plugin call's time cap (the runtime's limit).
    pub plugin_time: Duration,
    /// One permit per plugin call that may run at once (`--concurrency`).
    pub slots: &'a Semaphore,
    /// One permit per report in flight past its task's place among those held.
    pub reporting: &'a Semaphore,
    /// Told how long each call took in its slot.
    pub pace: &'a crate::pace::Pace,
}

pub(crate) async fn run(
    env: &TaskEnv<'_>,
    grant: LeaseGrant,
    source: Bytes,
    received: Instant,
    stop: &mut watch::Receiver<Stop>,
    room: OwnedSemaphorePermit,
) -> Outcome {
    let clock = Arc::new(LeaseClock::from_grant(&grant, received));
    let (lost_tx, lost) = watch::channel(None);
    let keeper = tokio::spawn(keeper::keep(
        env.link.clone(),
        grant.clone(),
        clock.clone(),
        lost_tx,
    ));
    let outcome = held(env, &grant, source, &clock, lost, stop, room).await;
    keeper.abort();
    outcome
}

async fn held(
    env: &TaskEnv<'_>,
    grant: &LeaseGrant,
    source: Bytes,
    clock: &LeaseClock,
    mut lost: watch::Receiver<Option<String>>,
    stop: &mut watch::Receiver<Stop>,
    room: OwnedSemaphorePermit,
) -> Outcome {
    let started = Instant::now();
    tracing::info!(image = %grant.image_id, attempt = grant.attempt, plugin = %grant.plugin_name, "working");
    let report = tokio::select! {
        report = work(env, grant, source, stop) => report,
        _ = lost.wait_for(Option::is_some) => None,
    };
    let Some(report) = report else {
        return Outcome::Dropped;
    };
    // The call is over: a small report gives the task's place to the next lease once it has a
    // place among the reports in flight (`Err` only if the semaphore were closed: then the task
    // keeps its place). A large thumbnail keeps its place, so the memory the reports of a worker
    // hold stays bounded as before.
    let reporting = if report.body_len() <= EARLY_ROOM_MAX_BYTES {
        env.reporting.acquire().await.ok()
    } else {
        None
    };
    if reporting.is_some() {
        drop(room);
    }
    let outcome = send_report(env.link, grant, report, clock, &mut lost).await;
    drop(reporting);
    let ms = started.elapsed().as_millis();
    match outcome {
        Outcome::Done => tracing::info!(image = %grant.image_id, ms, "done"),
        Outcome::Failed => tracing::info!(image = %grant.image_id, ms, "reported a failure"),
        Outcome::Dropped => {}
    }
    outcome
}

/// Gets the plugin and runs it. `None` when the lease was lost or handed back (nothing more to
/// report).
async fn work(
    env: &TaskEnv<'_>,
    grant: &LeaseGrant,
    source: Bytes,
    stop: &mut watch::Receiver<Stop>,
) -> Option<Report> {
    if ContentHash::of(&source) != grant.source_hash {
        return Some(Report::failure(
            "transfer",
            "the source bytes received do not match their hash",
            true,
        ));
    }
    let plugin = tokio::select! {
        plugin = env.plugins.get(&grant.plugin_hash, env.link) => plugin,
        _ = reached(stop, Stop::HandBack) => {
            hand_back(env.link, grant).await;
            return None;
        }
    };
    let plugin = match plugin {
        Ok(plugin) => plugin,
        Err(e) => return Some(Report::failure(e.kind, e.to_string(), e.retryable)),
    };
    // A task leased ahead waits here for a plugin slot (its keeper extends the lease meanwhile);
    // the slot is given back when the call ends, before the report goes out.
    let slot = tokio::select! {
        slot = env.slots.acquire() => match slot {
            Ok(slot) => slot,
            Err(_) => return Some(Report::failure("host_error", "the worker's plugin slots are closed", true)),
        },
        _ = reached(stop, Stop::HandBack) => {
            hand_back(env.link, grant).await;
            return None;
        }
    };
    // The plugin is about to run: this extend tells the master, which counts the attempt. The
    // call does not wait for its answer (a round trip to the master's next commit, all that
    // time with the slot taken and no plugin running); the report does, so the master hears of
    // the start before the result, and a start it refuses (the lease is no longer this
    // worker's) drops the result. A call that ends while its start still waits in the queue
    // withdraws it: the report says as much (it spends the attempt itself).
    let ticket = Ticket::default();
    let start = keeper::extend(env.link, grant, Some(ticket.clone()));
    tokio::pin!(start);
    let call = call(env, grant, plugin, source, stop, slot);
    tokio::pin!(call);
    let mut started = None;
    let report = loop {
        tokio::select! {
            answer = &mut start, if started.is_none() => started = Some(answer),
            report = &mut call => break report,
        }
    };
    let started = match started {
        Some(answer) => answer,
        None if ticket.withdraw() => Ok(None),
        None => start.await,
    };
    if let Err(keeper::Lost(why)) = started {
        tracing::warn!(image = %grant.image_id, token = grant.token, "lease lost as the plugin ran: {why}");
        return None;
    }
    report
}

/// One plugin call off the async threads, within its time cap (plus [`TIME_CAP_GRACE`]); its
/// plugin slot is given back when the call ends. `None` when the task was handed back
/// meanwhile.
async fn call(
    env: &TaskEnv<'_>,
    grant: &LeaseGrant,
    plugin: Arc<cdn_runtime::Plugin>,
    source: Bytes,
    stop: &mut watch::Receiver<Stop>,
    _slot: tokio::sync::SemaphorePermit<'_>,
) -> Option<Report> {
    let args = grant.args.clone();
    let in_slot = Instant::now();
    let job = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = plugin.run(&args, &source);
        crate::metrics::plugin_call(started.elapsed());
        result
    });
    let cap = env.plugin_time + TIME_CAP_GRACE;
    tokio::select! {
        result = job => {
            env.pace.call_took(in_slot.elapsed());
            Some(match result {
                Ok(Ok(bytes)) => made(bytes),
                Ok(Err(e)) => ran_into(&e),
                Err(e) => Report::failure("host_error", format!("plugin task failed: {e}"), true),
            })
        }
        _ = tokio::time::sleep(cap) => {
            tracing::error!(image = %grant.image_id, "the plugin call ran past its time cap plus {TIME_CAP_GRACE:?}: giving it up");
            Some(Report::failure(
                RunError::TimeLimit { limit: env.plugin_time }.kind(),
                format!(
                    "the plugin call ran past its time cap of {:?} (and a grace of {TIME_CAP_GRACE:?}); the worker gave it up",
                    env.plugin_time
                ),
                true,
            ))
        }
        _ = reached(stop, Stop::HandBack) => {
            hand_back(env.link, grant).await;
            None
        }
    }
}

fn made(bytes: Vec<u8>) -> Report {
    match output::inspect(&bytes) {
        Some(made) => Report::Complete(bytes, made),
        None => Report::failure(
            "bad_output",
            format!(
                "the plugin's output ({} bytes) is not a JPEG, PNG, WebP or GIF image",
                bytes.len()
            ),
            false,
        ),
    }
}

fn ran_into(error: &RunError) -> Report {
    Report::failure(error.kind(), error.to_string(), error.is_retryable())
}

/// Gives the task back unrun (a retryable failure that spends no attempt) so another worker
/// can take it at once.
async fn hand_back(link: &Link, grant: &LeaseGrant) {
    let request = Request::Fail {
        image_id: grant.image_id.clone(),
        token: grant.token,
        kind: "worker_stopped".into(),
        message: "the worker was stopped before it finished; handed back".into(),
        retryable: true,
        attempted: false,
    };
    match link.call_soon::<FailResponse>(&request, Vec::new()).await {
        Ok(_) => tracing::info!(image = %grant.image_id, "handed back"),
        Err(e) => {
            tracing::warn!(image = %grant.image_id, "could not hand back (the lease will expire): {e}")
        }
    }
}

/// The request (and body) that reports `report`, and the outcome it stands for.
pub(crate) fn report_request(grant: &LeaseGrant, report: Report) -> (Request, Vec<u8>, Outcome) {
    match report {
        Report::Complete(bytes, made) => (
            Request::Complete {
                image_id: grant.image_id.clone(),
                token: grant.token,
                width: made.width,
                height: made.height,
                format: made.format.to_string(),
            },
            bytes,
            Outcome::Done,
        ),
        Report::Fail {
            kind,
            message,
            retryable,
        } => (
            Request::Fail {
                image_id: grant.image_id.clone(),
                token: grant.token,
                kind: error_text(&kind),
                message: error_text(&message),
                retryable,
                attempted: true,
            },
            Vec::new(),
            Outcome::Failed,
        ),
    }
}

/// Sends the result until it is acknowledged (the keeper extends the lease meanwhile). A
/// transient refusal (`internal`, `busy`) or no answer is retried until the lease's deadline as
/// it stood when reporting began; `stale` gives up (the lease is lost); any other refusal of a
/// thumbnail (too large, ...) is reported as a final failure with the master's reason.
async fn send_report(
    link: &Link,
    grant: &LeaseGrant,
    report: Report,
    clock: &LeaseClock,
    lost: &mut watch::Receiver<Option<String>>,
) -> Outcome {
    if let Report::Fail {
        kind,
        message,
        retryable,
    } = &report
    {
        tracing::warn!(image = %grant.image_id, kind, retryable, "task failed: {message}");
        crate::metrics::error(kind);
    }
    let (mut request, mut body, mut outcome) = report_request(grant, report);
    let give_up = clock.deadline();
    let mut backoff = Backoff::new();
    loop {
        // Either answer is an empty acknowledgement; only whether it came matters.
        let error = match link.call_soon::<IgnoredAny>(&request, body.clone()).await {
            Ok(_) => return outcome,
            Err(CallError::Refused { kind: k, message }) => {
                if k == kind::STALE || k == kind::NOT_FOUND {
                    tracing::warn!(image = %grant.image_id, token = grant.token, "late result refused by the master: {k}: {message}");
                    crate::metrics::lease_lost();
                    return Outcome::Dropped;
                }
                if !kind::is_transient(&k) {
                    if matches!(request, Request::Complete { .. }) {
                        tracing::error!(image = %grant.image_id, "the master refused the thumbnail: {k}: {message}; reporting it as the task's failure");
                        let why = format!(
                            "the master refused the thumbnail ({} bytes): {message}",
                            body.len()
                        );
                        (request, body, outcome) =
                            report_request(grant, Report::failure(&k, why, false));
                        continue;
                    }
                    tracing::error!(image = %grant.image_id, "the master refused the failure report: {k}: {message}");
                    return Outcome::Dropped;
                }
                format!("{k}: {message}")
            }
            Err(e @ (CallError::Unreachable(_) | CallError::Invalid(_))) => e.to_string(),
        };
        if lost.borrow().is_some() {
            tracing::warn!(image = %grant.image_id, "lease lost while reporting: {error}");
            return Outcome::Dropped;
        }
        let now = Instant::now();
        if now >= give_up {
            tracing::error!(image = %grant.image_id, "giving up reporting the result (the lease's deadline passed): {error}");
            return Outcome::Dropped;
        }
        let wait = backoff.next_wait().min(give_up - now);
        tracing::warn!(image = %grant.image_id, "cannot report the result yet, retrying in {wait:?}: {error}");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_proto::to_header;

    fn grant() -> LeaseGrant {
        LeaseGrant {
            image_id: "a.jpg".into(),
            lease_id: "lease-1".into(),
            token: 1,
            deadline_ms: 0,
            ttl_ms: 30_000,
            plugin_name: "thumbnail".into(),
            plugin_hash: ContentHash::of(b"p"),
            args: vec![],
            source_hash: ContentHash::of(b"s"),
            attempt: 1,
            source_size: 0,
        }
    }

    #[test]
    fn a_64_kib_trap_message_fits_the_fail_header() {
        // 64 KiB of stderr that JSON escapes six times over (control characters).
        let stderr = "\u{1}".repeat(64 << 10);
        let report = ran_into(&RunError::Trap {
            trap: "unreachable".into(),
            stderr,
        });
        let (request, _, _) = report_request(&grant(), report);
        let frame = cdn_transport::Frame {
            header: to_header(&request).unwrap(),
            body: Vec::new(),
        };
        let bytes = frame.encode().len();
        assert!(bytes < 8 << 10, "a fail frame of {bytes} bytes");
        let Request::Fail { message, .. } = request else {
            panic!("not a fail")
        };
        assert!(message.len() <= cdn_proto::MAX_ERROR_TEXT);
    }
}
