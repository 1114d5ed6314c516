//! A sync face for async storage drivers (PostgreSQL, S3): a small tokio runtime of the
//! backend's own that runs its futures while the calling thread waits.
//!
//! The master calls its registry and blob store from the blocking pool (`state::blocking`), and
//! tests call them from plain threads; both may block. The runtime here is the backend's alone,
//! so it never waits on the server's own runtime (no deadlock when every server thread is busy)
//! and it keeps driving the backend's connections (and its `LISTEN` socket) between calls.

use std::future::Future;
use std::sync::mpsc;

/// Why a bridged call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("starting the {0} runtime: {1}")]
    Start(&'static str, #[source] std::io::Error),
    #[error("the {0} runtime stopped before answering (a task panicked or it is shutting down)")]
    Gone(&'static str),
}

/// Owns the runtime; dropping it stops the runtime's threads (without waiting, so that it may
/// be dropped anywhere, also inside another runtime's task).
#[derive(Debug)]
pub struct Bridge {
    name: &'static str,
    handle: tokio::runtime::Handle,
    /// Taken only by `drop`.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Bridge {
    /// A runtime of `threads` worker threads named after `name` (as in `cdn-postgres-0`).
    pub fn new(name: &'static str, threads: usize) -> Result<Bridge, BridgeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(format!("cdn-{name}"))
            .enable_all()
            .build()
            .map_err(|e| BridgeError::Start(name, e))?;
        Ok(Bridge {
            name,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the bridge's runtime and waits for its output. Call it from a thread
    /// that may block (the blocking pool, a test, `main` before serving), never from an async
    /// task of another runtime.
    pub fn run<T, F>(&self, future: F) -> Result<T, BridgeError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            // The receiver only goes away if the caller did; nothing to tell then.
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| BridgeError::Gone(self.name))
    }

    /// Starts `future` in the background (a listener, a pool's housekeeping).
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_from_plain_and_blocking_threads() {
        let bridge = std::sync::Arc::new(Bridge::new("test", 1).expect("runtime"));
        assert_eq!(bridge.run(async { 40 + 2 }).expect("answer"), 42);
        // From another runtime's blocking pool, as the master calls it.
        let outer = tokio::runtime::Runtime::new().expect("outer runtime");
        let b = bridge.clone();
        let got = outer
            .block_on(async { tokio::task::spawn_blocking(move || b.run(async { "ok" })).await })
            .expect("join")
            .expect("answer");
        assert_eq!(got, "ok");
    }

    #[test]
    fn a_panicking_future_is_an_error_not_a_hang() {
        let bridge = Bridge::new("test", 1).expect("runtime");
        let err = bridge
            .run(async {
                if true {
                    panic!("boom");
                }
            })
            .expect_err("no answer");
        assert!(
            err.to_string().contains("stopped before answering"),
            "{err}"
        );
    }
}
