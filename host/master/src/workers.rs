//! "Workers connected": the distinct worker names that made a request within a window (default
//! 30 s, longer than the longest lease poll of 20 s, so an idle worker that keeps polling
//! counts). The transport's handler sees requests, not connections, hence requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct SeenWorkers {
    window: Duration,
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl SeenWorkers {
    pub fn new(window: Duration) -> SeenWorkers {
        SeenWorkers {
            window,
            last_seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn seen(&self, worker: &str) {
        let now = Instant::now();
        let mut map = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(worker.to_string(), now);
        let window = self.window;
        map.retain(|_, at| now.duration_since(*at) <= window);
    }

    /// Each worker seen within the window, with how long ago, most recent first.
    pub fn snapshot(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let map = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen: Vec<_> = map
            .iter()
            .map(|(name, at)| (name.clone(), now.duration_since(*at)))
            .filter(|(_, ago)| *ago <= self.window)
            .collect();
        seen.sort_by_key(|(_, ago)| *ago);
        seen
    }

    pub fn count(&self) -> u64 {
        let now = Instant::now();
        let map = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter(|at| now.duration_since(**at) <= self.window)
            .count() as u64
    }
}
