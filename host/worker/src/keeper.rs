//! Keeping a lease: its deadline timed on this machine's clock from when the grant arrived (the
//! master sends how long the lease lasts, `ttl_ms`, not only its own clock's deadline), and a
//! task that extends it every third of the time left, from receipt until the report is
//! acknowledged (source check, plugin fetch and compile, the call, the upload).

use crate::batching::Ticket;
use crate::link::{CallError, Link};
use cdn_common::now_ms;
use cdn_proto::{kind, ExtendResponse, LeaseGrant, Request};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A lease's deadline on this machine's monotonic clock.
pub(crate) struct LeaseClock {
    deadline: Mutex<Instant>,
}

impl LeaseClock {
    /// The grant's lease, timed from `received`. A master that sends no `ttl_ms` (older) is
    /// timed from its absolute deadline instead.
    pub fn from_grant(grant: &LeaseGrant, received: Instant) -> LeaseClock {
        let ttl = if grant.ttl_ms > 0 {
            Duration::from_millis(grant.ttl_ms)
        } else {
            Duration::from_millis(grant.deadline_ms.saturating_sub(now_ms()).max(0) as u64)
        };
        LeaseClock {
            deadline: Mutex::new(received + ttl),
        }
    }

    pub fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The master extended the lease by `ttl` from an answer to a request sent at `sent`
    /// (so the local deadline is never later than the master's).
    pub fn renewed(&self, sent: Instant, ttl: Duration) {
        let mut deadline = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        *deadline = (*deadline).max(sent + ttl);
    }

    /// When to extend next: a third of the time left (at least 50 ms, at most 10 s), so two
    /// missed extends still leave time.
    pub fn extend_after(&self) -> Duration {
        let left = self.deadline().saturating_duration_since(Instant::now());
        (left / 3).clamp(Duration::from_millis(50), Duration::from_secs(10))
    }
}

/// The master no longer recognises the lease.
pub(crate) struct Lost(pub String);

/// One extend: the lease's new length (`None` when the master cannot be reached now or answered
/// a transient error: not a loss, the next tick tries again and the deadline decides). With a
/// `ticket`, the extend may be withdrawn until it is sent ([`Ticket::withdraw`]).
pub(crate) async fn extend(
    link: &Link,
    grant: &LeaseGrant,
    ticket: Option<Ticket>,
) -> Result<Option<Duration>, Lost> {
    let request = Request::Extend {
        image_id: grant.image_id.clone(),
        token: grant.token,
    };
    match link
        .call_soon_unless::<ExtendResponse>(&request, Vec::new(), ticket)
        .await
    {
        Ok((r, _)) => Ok(Some(if r.ttl_ms > 0 {
            Duration::from_millis(r.ttl_ms)
        } else {
            Duration::from_millis(r.deadline_ms.saturating_sub(now_ms()).max(0) as u64)
        })),
        Err(CallError::Refused { kind: k, message }) if kind::is_transient(&k) => {
            tracing::warn!(image = %grant.image_id, "cannot extend the lease now: {k}: {message}");
            Ok(None)
        }
        Err(CallError::Refused { kind, message }) => Err(Lost(format!("{kind}: {message}"))),
        Err(e @ (CallError::Unreachable(_) | CallError::Invalid(_))) => {
            tracing::warn!(image = %grant.image_id, "cannot extend the lease now: {e}");
            Ok(None)
        }
    }
}

/// Extends the lease until aborted; says on `lost` why, when the master no longer recognises it.
pub(crate) async fn keep(
    link: Arc<Link>,
    grant: LeaseGrant,
    clock: Arc<LeaseClock>,
    lost: watch::Sender<Option<String>>,
) {
    loop {
        tokio::time::sleep(clock.extend_after()).await;
        let sent = Instant::now();
        match extend(&link, &grant, None).await {
            Ok(Some(ttl)) => clock.renewed(sent, ttl),
            Ok(None) => {}
            Err(Lost(why)) => {
                tracing::warn!(image = %grant.image_id, token = grant.token, "lease lost, giving the task up: {why}");
                lost.send_replace(Some(why));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_common::ContentHash;

    fn grant(deadline_ms: i64, ttl_ms: u64) -> LeaseGrant {
        LeaseGrant {
            image_id: "a".into(),
            lease_id: "l".into(),
            token: 1,
            deadline_ms,
            ttl_ms,
            plugin_name: "thumbnail".into(),
            plugin_hash: ContentHash::of(b"p"),
            args: vec![],
            source_hash: ContentHash::of(b"s"),
            attempt: 1,
            source_size: 0,
        }
    }

    #[test]
    fn the_lease_is_timed_from_receipt_not_the_masters_clock() {
        // The master's clock is an hour behind: its absolute deadline has long passed here.
        let received = Instant::now();
        let clock = LeaseClock::from_grant(&grant(now_ms() - 3_600_000, 30_000), received);
        assert_eq!(clock.deadline(), received + Duration::from_secs(30));
        let wait = clock.extend_after();
        assert!(
            wait >= Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
    }

    #[test]
    fn extends_at_a_third_of_the_time_left() {
        let received = Instant::now();
        let clock = LeaseClock::from_grant(&grant(0, 600_000), received);
        assert_eq!(clock.extend_after(), Duration::from_secs(10));
        let expired = LeaseClock::from_grant(&grant(0, 1), received - Duration::from_secs(1));
        assert_eq!(expired.extend_after(), Duration::from_millis(50));
        expired.renewed(Instant::now(), Duration::from_secs(3));
        assert!(expired.extend_after() > Duration::from_millis(900));
    }
}
