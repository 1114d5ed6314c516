//! Bounded waiting.

use std::time::{Duration, Instant};

/// The longest any single command or wait in a test may take.
pub const BOUND: Duration = Duration::from_secs(120);

/// Calls `check` every `every` until it gives a value; `None` once `within` has passed.
pub fn eventually<T>(
    within: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_value_or_none_in_time() {
        let mut n = 0;
        let got = eventually(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(got, Some(3));
        let start = Instant::now();
        let never: Option<()> =
            eventually(Duration::from_millis(50), Duration::from_millis(5), || None);
        assert!(never.is_none());
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
