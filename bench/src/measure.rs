//! Timing helpers: run a closure several times and keep the median.

use std::time::{Duration, Instant};

/// Runs `f` once to warm up, then `runs` times, and returns the median duration.
pub fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Items per second for one item taking `d`.
pub fn per_second(d: Duration) -> String {
    format!("{:.1}", 1.0 / d.as_secs_f64().max(1e-12))
}
