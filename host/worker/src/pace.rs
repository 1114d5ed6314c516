//! How many tasks the worker leases ahead of its plugin slots.
//!
//! With `--prefetch N`, always `N`. Without it, the worker keeps about [`AHEAD_TIME`] of calls
//! waiting per slot, judged from how long its recent calls took: long calls (a photo, tens of
//! milliseconds) need one task waiting per slot, as before; short ones (a tiny plugin, a
//! failing input) need many, or every slot waits on a round trip to the master, and each lease
//! and each batch of reports carries only a few tasks. Never fewer than one per slot, never
//! more than [`MAX_HELD`] held in all (the master's default cap on one worker's leases), and
//! never more than about [`AHEAD_BYTES`] of sources waiting (judged from the recent sources'
//! sizes), so a run of large inputs that fail at once does not fill the worker's memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Calls kept waiting per slot, measured in time.
pub(crate) const AHEAD_TIME: Duration = Duration::from_millis(20);
/// Most tasks held at once when the pace decides (unless `2 x concurrency` is more).
pub(crate) const MAX_HELD: usize = 64;
/// Most source bytes waiting ahead of the slots when the pace decides.
pub(crate) const AHEAD_BYTES: u64 = 64 << 20;

/// The weight of the newest sample in the running averages, as `1 / SMOOTHING`.
const SMOOTHING: u64 = 8;

pub(crate) struct Pace {
    concurrency: usize,
    /// `--prefetch`, when given.
    fixed: Option<usize>,
    /// Running average of a call's time in its slot, in microseconds (0: none yet).
    call_us: AtomicU64,
    /// Running average of a source's size in bytes (0: none yet).
    source_bytes: AtomicU64,
}

impl Pace {
    pub fn new(concurrency: usize, prefetch: Option<usize>) -> Pace {
        Pace {
            concurrency,
            fixed: prefetch,
            call_us: AtomicU64::new(0),
            source_bytes: AtomicU64::new(0),
        }
    }

    /// Tasks to hold now: the slots and the tasks leased ahead of them.
    pub fn held(&self) -> usize {
        self.concurrency + self.ahead()
    }

    fn ahead(&self) -> usize {
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        let least = self.concurrency;
        let most = MAX_HELD.saturating_sub(self.concurrency).max(least);
        let call_us = self.call_us.load(Ordering::Relaxed);
        if call_us == 0 {
            return least;
        }
        let per_slot = (AHEAD_TIME.as_micros() as u64).div_ceil(call_us).max(1);
        let by_time = (self.concurrency as u64).saturating_mul(per_slot);
        let by_bytes = match self.source_bytes.load(Ordering::Relaxed) {
            0 => u64::MAX,
            bytes => AHEAD_BYTES / bytes,
        };
        (by_time.min(by_bytes) as usize).clamp(least, most)
    }

    /// One call's time in its slot, from taking the slot to the call's end.
    pub fn call_took(&self, took: Duration) {
        average(&self.call_us, (took.as_micros() as u64).max(1));
    }

    /// One source's size as it arrived.
    pub fn source_arrived(&self, bytes: usize) {
        average(&self.source_bytes, (bytes as u64).max(1));
    }
}

/// Folds `sample` into the running average in `avg` (the first sample is taken as it is).
/// Updates that race lose one sample, which an average can spare.
fn average(avg: &AtomicU64, sample: u64) {
    let old = avg.load(Ordering::Relaxed);
    let new = if old == 0 {
        sample
    } else {
        (old * (SMOOTHING - 1) + sample) / SMOOTHING
    };
    avg.store(new, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_calls(pace: &Pace, took: Duration, n: usize) {
        for _ in 0..n {
            pace.call_took(took);
        }
    }

    #[test]
    fn a_fixed_prefetch_is_kept_whatever_the_calls_take() {
        let pace = Pace::new(4, Some(2));
        assert_eq!(pace.held(), 6);
        with_calls(&pace, Duration::from_micros(10), 50);
        assert_eq!(pace.held(), 6);
        assert_eq!(Pace::new(4, Some(0)).held(), 4);
    }

    #[test]
    fn one_task_waits_per_slot_until_calls_are_timed_and_when_they_are_long() {
        let pace = Pace::new(2, None);
        assert_eq!(pace.held(), 4);
        with_calls(&pace, Duration::from_millis(80), 50);
        assert_eq!(pace.held(), 4);
    }

    #[test]
    fn short_calls_are_held_deeper_up_to_the_cap() {
        let pace = Pace::new(2, None);
        // 5 ms calls: 4 per slot cover 20 ms.
        with_calls(&pace, Duration::from_millis(5), 50);
        assert_eq!(pace.held(), 2 + 8);
        // 50 us calls would want 400 per slot: the cap holds.
        with_calls(&pace, Duration::from_micros(50), 200);
        assert_eq!(pace.held(), MAX_HELD);
        // A worker with more slots than the cap still keeps one waiting per slot.
        let wide = Pace::new(100, None);
        with_calls(&wide, Duration::from_micros(50), 50);
        assert_eq!(wide.held(), 200);
    }

    #[test]
    fn large_sources_keep_the_bytes_waiting_bounded() {
        let pace = Pace::new(2, None);
        with_calls(&pace, Duration::from_micros(100), 50);
        for _ in 0..50 {
            pace.source_arrived(16 << 20);
        }
        // 64 MiB / 16 MiB = 4 ahead, at least one per slot.
        assert_eq!(pace.held(), 2 + 4);
        for _ in 0..100 {
            pace.source_arrived(60 << 20);
        }
        assert_eq!(pace.held(), 2 + 2);
    }

    #[test]
    fn the_average_follows_a_change_in_the_calls() {
        let pace = Pace::new(1, None);
        with_calls(&pace, Duration::from_micros(100), 50);
        assert_eq!(pace.held(), MAX_HELD);
        with_calls(&pace, Duration::from_millis(40), 60);
        assert_eq!(pace.held(), 2);
    }
}
