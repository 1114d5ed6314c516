//! One leased task, start to end: get the plugin, run it off the async threads while extending
//! the lease, then report `complete` (with the thumbnail) or `fail` (with the plugin's error).
//! A lease the master no longer recognises (`stale`) is given up: its late result is not sent
//! again, and the master would refuse it.

use crate::link::{Backoff, CallError, Link};
use crate::output;
use crate::plugins::Plugins;
use crate::{reached, Stop};
use cdn_common::{now_ms, ContentHash};
use cdn_proto::{kind, ExtendResponse, FailResponse, LeaseGrant, Request};
use cdn_runtime::RunError;
use serde::de::IgnoredAny;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How a task ended, for the worker's counters and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Failed,
    /// The lease was lost (expired or superseded) or handed back; the master decides what next.
    Dropped,
}

/// What to report to the master.
enum Report {
    Complete(Vec<u8>, output::Made),
    Fail {
        kind: String,
        message: String,
        retryable: bool,
    },
}

impl Report {
    fn failure(kind: &str, message: impl Into<String>, retryable: bool) -> Report {
        Report::Fail {
            kind: kind.to_string(),
            message: message.into(),
            retryable,
        }
    }
}

pub(crate) async fn run(
    link: &Link,
    plugins: &Plugins,
    grant: LeaseGrant,
    source: Vec<u8>,
    stop: &mut watch::Receiver<Stop>,
) -> Outcome {
    let started = Instant::now();
    tracing::info!(image = %grant.image_id, attempt = grant.attempt, plugin = %grant.plugin_name, "working");
    let report = match work(link, plugins, &grant, source, stop).await {
        Some(report) => report,
        None => return Outcome::Dropped,
    };
    let outcome = send_report(link, &grant, report).await;
    let ms = started.elapsed().as_millis();
    match outcome {
        Outcome::Done => tracing::info!(image = %grant.image_id, ms, "done"),
        Outcome::Failed => tracing::info!(image = %grant.image_id, ms, "reported a failure"),
        Outcome::Dropped => {}
    }
    outcome
}

/// Runs the plugin, extending the lease until it returns. `None` when the lease was lost or
/// handed back (nothing more to report).
async fn work(
    link: &Link,
    plugins: &Plugins,
    grant: &LeaseGrant,
    source: Vec<u8>,
    stop: &mut watch::Receiver<Stop>,
) -> Option<Report> {
    if ContentHash::of(&source) != grant.source_hash {
        return Some(Report::failure(
            "transfer",
            "the source bytes received do not match their hash",
            true,
        ));
    }
    let plugin = match plugins.get(&grant.plugin_hash, link).await {
        Ok(plugin) => plugin,
        Err(e) => return Some(Report::failure(e.kind, e.to_string(), e.retryable)),
    };
    let args = grant.args.clone();
    let job = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = plugin.run(&args, &source);
        crate::metrics::plugin_call(started.elapsed());
        result
    });
    tokio::pin!(job);
    let mut deadline_ms = grant.deadline_ms;
    loop {
        tokio::select! {
            result = &mut job => {
                return Some(match result {
                    Ok(Ok(bytes)) => made(bytes),
                    Ok(Err(e)) => ran_into(&e),
                    Err(e) => Report::failure("host_error", format!("plugin task failed: {e}"), true),
                });
            }
            _ = tokio::time::sleep(extend_after(deadline_ms)) => {
                match extend(link, grant).await {
                    Ok(Some(new_deadline)) => deadline_ms = new_deadline,
                    Ok(None) => {}
                    Err(Lost(why)) => {
                        tracing::warn!(image = %grant.image_id, token = grant.token, "lease lost, giving the task up: {why}");
                        return None;
                    }
                }
            }
            _ = reached(stop, Stop::HandBack) => {
                hand_back(link, grant).await;
                return None;
            }
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

/// Extend when a third of the time left has passed (at least every 50 ms, at most every 10 s),
/// so two missed extends still leave time.
fn extend_after(deadline_ms: i64) -> Duration {
    let left = deadline_ms.saturating_sub(now_ms()).max(0) as u64;
    Duration::from_millis((left / 3).clamp(50, 10_000))
}

struct Lost(String);

/// Extends the lease: its new deadline, or `None` when the master cannot be reached now (not a
/// loss: the next tick tries again, and the deadline decides).
async fn extend(link: &Link, grant: &LeaseGrant) -> Result<Option<i64>, Lost> {
    let request = Request::Extend {
        image_id: grant.image_id.clone(),
        token: grant.token,
    };
    match link.call::<ExtendResponse>(&request, Vec::new()).await {
        Ok((r, _)) => Ok(Some(r.deadline_ms)),
        Err(CallError::Refused { kind, message }) => Err(Lost(format!("{kind}: {message}"))),
        Err(e @ (CallError::Unreachable(_) | CallError::Invalid(_))) => {
            tracing::warn!(image = %grant.image_id, "cannot extend the lease now: {e}");
            Ok(None)
        }
    }
}

/// Gives the task back (a retryable failure) so another worker can take it at once.
async fn hand_back(link: &Link, grant: &LeaseGrant) {
    let request = Request::Fail {
        image_id: grant.image_id.clone(),
        token: grant.token,
        kind: "worker_stopped".into(),
        message: "the worker was stopped before it finished".into(),
        retryable: true,
    };
    match link.call::<FailResponse>(&request, Vec::new()).await {
        Ok(_) => tracing::info!(image = %grant.image_id, "handed back"),
        Err(e) => {
            tracing::warn!(image = %grant.image_id, "could not hand back (the lease will expire): {e}")
        }
    }
}

/// Sends the result, retrying while the master is unreachable; gives up when the master
/// refuses it (`stale`: the lease was lost) or after trying for 60 s.
async fn send_report(link: &Link, grant: &LeaseGrant, report: Report) -> Outcome {
    let (request, body, outcome) = match report {
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
        } => {
            tracing::warn!(image = %grant.image_id, kind, retryable, "task failed: {message}");
            crate::metrics::error(&kind);
            (
                Request::Fail {
                    image_id: grant.image_id.clone(),
                    token: grant.token,
                    kind,
                    message,
                    retryable,
                },
                Vec::new(),
                Outcome::Failed,
            )
        }
    };
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut backoff = Backoff::new();
    loop {
        // Either answer is an empty acknowledgement; only whether it came matters.
        match link.call::<IgnoredAny>(&request, body.clone()).await {
            Ok(_) => return outcome,
            Err(CallError::Refused { kind: k, message }) => {
                if k == kind::STALE {
                    tracing::warn!(image = %grant.image_id, token = grant.token, "late result refused by the master: {message}");
                    crate::metrics::lease_lost();
                } else {
                    tracing::error!(image = %grant.image_id, "the master refused the result: {k}: {message}");
                }
                return Outcome::Dropped;
            }
            Err(e @ (CallError::Unreachable(_) | CallError::Invalid(_))) => {
                if Instant::now() > give_up {
                    tracing::error!(image = %grant.image_id, "giving up reporting the result: {e}");
                    return Outcome::Dropped;
                }
                let wait = backoff.next_wait();
                tracing::warn!(image = %grant.image_id, "cannot report the result yet, retrying in {wait:?}: {e}");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_at_a_third_of_the_time_left() {
        let in_30s = now_ms() + 30_000;
        let wait = extend_after(in_30s);
        assert!(wait <= Duration::from_millis(10_000) && wait >= Duration::from_millis(9_000));
        assert_eq!(extend_after(now_ms() - 5), Duration::from_millis(50));
        assert_eq!(extend_after(now_ms() + 600_000), Duration::from_secs(10));
    }
}
