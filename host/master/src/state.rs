//! What every request shares: registry, blobs, configuration, the "work arrived" signal and the
//! workers seen; and the one way to run blocking storage work off the async threads.

use crate::blobs::BlobStore;
use crate::errors::OpError;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::workers::SeenWorkers;
use crate::writers::Writers;
use crate::{MasterConfig, MasterError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub(crate) use cdn_common::now_ms;
use tokio::sync::Notify;

pub(crate) struct State {
    pub registry: Registry,
    pub blobs: BlobStore,
    pub config: MasterConfig,
    /// Poked (all waiters) whenever an image may have become `pending`.
    pub work: Notify,
    pub workers: SeenWorkers,
    pub metrics: Metrics,
    /// The threads that run write requests' storage work in batches ([`crate::writers`]).
    pub writers: Writers,
    /// Set by shutdown: waiting leases answer "no lease" instead of taking work.
    closing: AtomicBool,
}

impl State {
    pub fn new(
        registry: Registry,
        blobs: BlobStore,
        config: MasterConfig,
    ) -> Result<State, MasterError> {
        let workers = SeenWorkers::new(config.workers_window);
        let writers = Writers::start(&config).map_err(MasterError::Writers)?;
        Ok(State {
            registry,
            blobs,
            config,
            work: Notify::new(),
            workers,
            metrics: Metrics::new(),
            writers,
            closing: AtomicBool::new(false),
        })
    }

    /// Work may be waiting: wake every long-polling `lease`.
    pub fn poke(&self) {
        self.work.notify_waiters();
    }

    /// The server is closing: wake waiting leases so they answer (nothing) at once.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.work.notify_waiters();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub fn lease_ttl_ms(&self) -> i64 {
        i64::try_from(self.config.lease_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Runs SQLite and blob work on the blocking pool (never on the async threads): reads, and
/// the rarer writes (write requests go through [`crate::writers::writing`]).
pub(crate) async fn blocking<T, F>(state: &Arc<State>, f: F) -> Result<T, OpError>
where
    T: Send + 'static,
    F: FnOnce(&State) -> Result<T, OpError> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| OpError::internal(format!("storage task failed: {e}")))?
}
