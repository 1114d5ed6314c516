//! The worker's ops: long-poll `lease`, `extend`, `complete`, `fail`; and the task that sends
//! overdue leases back to the queue.
//!
//! A waiting `lease` registers interest in the "work" signal *before* it looks for work, then
//! sleeps on it with the time it has left, so a registration between the look and the sleep is
//! never missed and nothing polls in a loop.
//!
//! A lease is taken in a task of its own that hands the grant to the poll through a oneshot
//! channel: when the poll was abandoned meanwhile (the worker stopped or its connection
//! dropped), the send fails and the lease is released at once, with no attempt spent. A worker
//! holding `max_leases_per_worker` leases gets no more: its poll waits (for one of its leases to
//! end, or its time) and then answers "no task". A `lease` with `max` above 1 takes up to that
//! many tasks in one registry commit and answers them in one frame.

use crate::errors::OpError;
use crate::ops::respond;
use crate::registry::{Lease, ThumbInfo};
use crate::state::{blocking, now_ms, State};
use crate::views::params_of;
use crate::writers::{writing, writing_rows};
use cdn_proto::{
    kind, CompleteResponse, ExtendResponse, FailResponse, LeaseGrant, LeaseResponse,
    MAX_LEASE_BATCH, MAX_LEASE_WAIT_MS,
};
use cdn_transport::Frame;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A thumbnail a worker uploads.
pub(crate) struct Thumb {
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub bytes: Vec<u8>,
}

pub(crate) async fn lease(
    state: &Arc<State>,
    worker: &str,
    wait_ms: u64,
    max: u32,
) -> Result<Frame, OpError> {
    let deadline = Instant::now() + Duration::from_millis(wait_ms.min(MAX_LEASE_WAIT_MS));
    let max = max.clamp(1, MAX_LEASE_BATCH);
    loop {
        let notified = state.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if state.is_closing() {
            return respond(&LeaseResponse::none(), Vec::new());
        }
        let granted = deliver(state, worker.to_string(), max).await?;
        if !granted.is_empty() {
            let mut body = Vec::with_capacity(granted.iter().map(|(_, s)| s.len()).sum());
            let mut grants = Vec::with_capacity(granted.len());
            for (grant, source) in granted {
                tracing::info!(image = %grant.image_id, token = grant.token, worker, "leased");
                state.metrics.lease_granted(grant.token);
                body.extend_from_slice(&source);
                grants.push(grant);
            }
            let mut grants = grants.into_iter();
            let response = LeaseResponse {
                lease: grants.next(),
                more: grants.collect(),
            };
            return respond(&response, body);
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return respond(&LeaseResponse::none(), Vec::new());
        }
    }
}

type Granted = Vec<(LeaseGrant, Vec<u8>)>;

/// [`try_lease`] in a task of its own: if this poll is dropped (abandoned by its worker) while
/// the leases are being taken, the grants cannot be delivered and are released at once.
async fn deliver(state: &Arc<State>, worker: String, max: u32) -> Result<Granted, OpError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    tokio::spawn(async move {
        let result = try_lease(&task_state, worker, max).await;
        if let Err(Ok(granted)) = tx.send(result) {
            for (grant, _) in granted {
                release_undelivered(&task_state, grant).await;
            }
        }
    });
    rx.await
        .map_err(|_| OpError::internal("the lease task ended without an answer"))?
}

async fn release_undelivered(state: &Arc<State>, grant: LeaseGrant) {
    let image = grant.image_id.clone();
    let token = grant.token;
    let released = blocking(state, move |s| {
        Ok(s.registry
            .release_undelivered(&grant.image_id, grant.token, now_ms())?)
    })
    .await;
    match released {
        Ok(_) => {
            tracing::info!(%image, token, "grant not delivered (the poll was abandoned): released");
            state.poke();
        }
        Err(e) => tracing::error!(%image, token, "releasing an undelivered grant: {}", e.message),
    }
}

/// Leases up to `max` of the oldest pending images (fewer when the worker nears its lease
/// cap), with their source bytes, all in one commit. An image whose source or params cannot be
/// read is failed (not retryable) and the next one tried.
async fn try_lease(state: &Arc<State>, worker: String, max: u32) -> Result<Granted, OpError> {
    // On a writer: the batch's one registry commit holds all these leases.
    writing_rows(state, move |s| {
        let held = s.registry.leases_held(&worker)?;
        let room = u64::from(s.config.max_leases_per_worker).saturating_sub(held);
        let want = room.min(u64::from(max));
        let mut granted = Vec::new();
        while (granted.len() as u64) < want {
            let now = now_ms();
            let Some(lease) = s.registry.lease(&worker, s.lease_ttl_ms(), now)? else {
                break;
            };
            match grant(s, &lease) {
                Ok(found) => granted.push(found),
                Err(e) => {
                    tracing::error!(image = %lease.image_id, "cannot hand out: {}", e.message);
                    s.registry.fail(
                        lease.image_id.as_str(),
                        lease.token,
                        "master",
                        &e.message,
                        false,
                        false,
                        s.config.max_attempts,
                        now,
                    )?;
                }
            }
        }
        Ok(granted)
    })
    .await
}

/// The grant of `lease` and its source bytes, read without hashing them again: the worker
/// checks them against `source_hash` (hashing each byte once on each side).
fn grant(s: &State, lease: &Lease) -> Result<(LeaseGrant, Vec<u8>), OpError> {
    let params = params_of(lease.image_id.as_str(), &lease.params_json)?;
    let source = s.blobs.get_unverified(&lease.source_blob)?;
    Ok((
        LeaseGrant {
            image_id: lease.image_id.as_str().to_string(),
            lease_id: lease.lease_id.clone(),
            token: lease.token,
            deadline_ms: lease.deadline_ms,
            ttl_ms: s.lease_ttl_ms().max(0) as u64,
            plugin_name: lease.plugin_name.clone(),
            plugin_hash: lease.plugin_hash,
            args: params.to_args(),
            source_hash: lease.source_blob,
            attempt: lease.attempt,
            source_size: source.len() as u64,
        },
        source,
    ))
}

/// Refuses, without writing anything, a request that does not carry the current lease of
/// `image_id` held by `worker` (the registry decides, and checks the token again in its
/// transaction).
fn check_current(s: &State, worker: &str, image_id: &str, token: u64) -> Result<(), OpError> {
    Ok(s.registry.check_lease(image_id, token, worker, now_ms())?)
}

pub(crate) async fn extend(
    state: &Arc<State>,
    worker: &str,
    image_id: String,
    token: u64,
) -> Result<Frame, OpError> {
    let worker = worker.to_string();
    // The registry checks the lease (token, holder, deadline) in the update itself.
    let deadline_ms = writing_rows(state, move |s| {
        Ok(s.registry
            .extend(&image_id, token, &worker, s.lease_ttl_ms(), now_ms())?)
    })
    .await?;
    state.metrics.lease_extended();
    respond(
        &ExtendResponse {
            deadline_ms,
            ttl_ms: state.lease_ttl_ms().max(0) as u64,
        },
        Vec::new(),
    )
}

/// The thumbnail's bytes are stored only once the lease is known to be current, so a stale
/// completion leaves nothing behind; then the registry commits the result under the token check.
pub(crate) async fn complete(
    state: &Arc<State>,
    worker: &str,
    image_id: String,
    token: u64,
    thumb: Thumb,
) -> Result<Frame, OpError> {
    if thumb.bytes.is_empty() {
        return Err(OpError::new(kind::EMPTY_BODY, "no thumbnail bytes"));
    }
    let worker = worker.to_string();
    let id = image_id.clone();
    writing(
        state,
        move |s| {
            check_current(s, &worker, &image_id, token)?;
            let blob = s.blobs.put(&thumb.bytes)?;
            let info = ThumbInfo {
                blob,
                size: thumb.bytes.len() as u64,
                width: thumb.width,
                height: thumb.height,
                format: thumb.format,
            };
            Ok((worker, image_id, info))
        },
        move |s, (worker, image_id, info)| {
            let finished_ms = now_ms();
            let created_ms = s
                .registry
                .complete(&image_id, token, &info, &worker, finished_ms)?;
            Ok(finished_ms.saturating_sub(created_ms))
        },
        move |s, time_to_done_ms| {
            s.metrics.completed(token, time_to_done_ms);
            Ok(())
        },
    )
    .await?;
    tracing::info!(image = %id, token, "done");
    // A worker at its lease cap may be waiting for one of its leases to end.
    state.poke();
    respond(&CompleteResponse {}, Vec::new())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn fail(
    state: &Arc<State>,
    worker: &str,
    image_id: String,
    token: u64,
    error_kind: String,
    message: String,
    retryable: bool,
    attempted: bool,
) -> Result<Frame, OpError> {
    let worker = worker.to_string();
    let id = image_id.clone();
    let new_status = writing_rows(state, move |s| {
        check_current(s, &worker, &image_id, token)?;
        s.metrics.failed(&error_kind, token);
        Ok(s.registry.fail(
            &image_id,
            token,
            &error_kind,
            &message,
            retryable,
            attempted,
            s.config.max_attempts,
            now_ms(),
        )?)
    })
    .await?;
    tracing::info!(image = %id, token, status = %new_status, "failure reported");
    state.poke();
    respond(&FailResponse { status: new_status }, Vec::new())
}

/// Every `expiry_interval`: overdue leases go back to `pending` (or `failed` after
/// `max_attempts`); waiting leases are woken when any did.
pub(crate) async fn expiry_task(state: Arc<State>) {
    let mut tick = tokio::time::interval(state.config.expiry_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let max_attempts = state.config.max_attempts;
        match blocking(&state, move |s| {
            Ok(s.registry.expire(now_ms(), max_attempts)?)
        })
        .await
        {
            Ok(expired) if !expired.is_empty() => {
                tracing::info!(count = expired.len(), ids = ?expired, "leases expired");
                state.metrics.leases_expired(expired.len());
                state.poke();
            }
            Ok(_) => {}
            Err(e) => tracing::error!("expiring leases: {}", e.message),
        }
    }
}
