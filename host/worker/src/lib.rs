//! `cdn-worker`: the imagecdn worker. It leases thumbnail tasks from the master, runs each
//! task's plugin in the sandboxed wasm runtime (`cdn-runtime`), and reports the result. The
//! `cdn-host worker` command (`host/cdn-host`) is a thin command line over [`run`].
//!
//! - [`link`]: the one connection to a master of the list, made again to the next master
//!   (with back-off) when it breaks.
//! - [`plugins`]: plugins by hash, in memory, on disk, or fetched from the master once.
//! - [`task`]: one task: run the plugin off the async threads, report the result.
//! - [`keeper`]: the lease timed on this machine's clock, extended from the grant's receipt
//!   until the report is acknowledged.
//! - [`output`]: the thumbnail's format and size, read from its header.
//! - [`pace`]: how many tasks to lease ahead of the plugin slots.
//!
//! - [`batching`]: reports on tasks held leave in batches (one frame, one master commit).
//!
//! [`run`] is a pipeline: one fetch loop keeps `concurrency + prefetch` tasks held before and
//! in their plugin calls (without `--prefetch`, as many ahead as cover about 20 ms of calls per
//! slot: [`pace`]), asking for as many as there is room for in one `lease` long poll;
//! each task runs in a task of its own that waits for one of `concurrency` plugin slots, so the
//! next source is already here when a call ends. A task whose call has ended makes room for the
//! next lease while its report travels (up to [`REPORTS_PER_HELD`] reports per place held), so
//! short tasks are not held back by the round trip of their reports. On
//! [`Stop::Drain`] the fetch loop stops asking for work and the tasks held are finished; on
//! [`Stop::HandBack`] they are given back to the master at once.

mod batching;
mod keeper;
mod link;
pub mod metrics;
mod output;
mod pace;
mod plugins;
mod task;

use bytes::Bytes;
use cdn_certs::Role;
use cdn_common::MasterList;
use cdn_proto::{
    split_body, LeaseGrant, LeaseResponse, Request, MAX_LEASE_BATCH, MAX_LEASE_WAIT_MS,
};
use cdn_runtime::{Limits, Runtime};
use cdn_transport::{Dialer, Identity, NoMaster, TlsError};
use link::{Backoff, CallError, Link};
use plugins::Plugins;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use task::{Outcome, TaskEnv};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The masters (`HOST:PORT` each), tried in this order; the worker moves to the next when
    /// its connection breaks.
    pub masters: MasterList,
    /// The certificate folder (`worker.pem` or `worker-NAME.pem`, `ca.pem`).
    pub certs: PathBuf,
    /// The worker's name (its certificate `worker-NAME.pem`); `None` for `worker.pem`.
    pub name: Option<String>,
    /// Tasks held at once.
    pub concurrency: usize,
    /// `.wasm` files this worker has locally (besides the built-in `thumbnail`), so tasks that
    /// name them need no fetch.
    pub plugins: Vec<PathBuf>,
    /// Fetched plugins (`DIR/plugins`) and compiled code (`DIR/modules`).
    pub cache: PathBuf,
    /// The caps of every plugin call.
    pub limits: Limits,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How long one lease request waits for work.
    pub lease_wait: Duration,
    /// Tasks leased ahead of the plugin slots (`None`: as many as `concurrency`), so a slot
    /// that frees finds its next source already here.
    pub prefetch: Option<usize>,
}

impl WorkerConfig {
    /// The defaults of DESIGN §6 for a worker of `masters` with certificates in `certs`.
    pub fn new(masters: MasterList, certs: impl Into<PathBuf>, cache: PathBuf) -> Self {
        WorkerConfig {
            masters,
            certs: certs.into(),
            name: None,
            concurrency: 1,
            plugins: Vec::new(),
            cache,
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(10),
            lease_wait: Duration::from_millis(MAX_LEASE_WAIT_MS),
            prefetch: None,
        }
    }
}

/// Where a worker is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Run,
    /// Take no more work; finish the tasks held.
    Drain,
    /// Give the tasks held back to the master now.
    HandBack,
}

/// Waits until `stop` reaches at least `level` (a dropped sender counts as [`Stop::HandBack`]).
pub(crate) async fn reached(stop: &mut watch::Receiver<Stop>, level: Stop) {
    let _ = stop.wait_for(|s| s.at_least(level)).await;
}

impl Stop {
    fn rank(self) -> u8 {
        match self {
            Stop::Run => 0,
            Stop::Drain => 1,
            Stop::HandBack => 2,
        }
    }

    /// Whether this is `level` or further along.
    pub fn at_least(self, level: Stop) -> bool {
        self.rank() >= level.rank()
    }
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// No master could be connected to, each for a reason that retrying will not fix.
    #[error(transparent)]
    Connect(#[from] NoMaster),
    #[error("plugin runtime: {0}")]
    Runtime(#[from] cdn_runtime::RunError),
    #[error("plugin {path}: {source}")]
    Plugin {
        path: String,
        source: cdn_runtime::RunError,
    },
    #[error("plugin cache folder {path}: {source}")]
    Cache {
        path: String,
        source: std::io::Error,
    },
    #[error("--concurrency must be at least 1")]
    Concurrency,
}

/// What a worker did, counted when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub done: u64,
    pub failed: u64,
    /// Tasks lost (lease expired or superseded) or handed back.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    done: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Runs a worker until `stop` says so and its tasks are finished (or handed back).
pub async fn run(
    config: WorkerConfig,
    stop: watch::Receiver<Stop>,
) -> Result<WorkerSummary, WorkerError> {
    if config.concurrency == 0 {
        return Err(WorkerError::Concurrency);
    }
    if let Some(warning) = cdn_transport::ca_key_warning(&config.certs) {
        tracing::warn!("{warning}");
    }
    let identity = Identity::load(&config.certs, Role::Worker, config.name.as_deref())?;
    tracing::info!(worker = %identity.peer, masters = %config.masters, concurrency = config.concurrency, "worker starting");
    let link = Link::start(Dialer::new(
        config.masters.clone(),
        &identity,
        config.connect_timeout,
    )?);
    link.first_connect().await?;
    let plugins = Arc::new(load_plugins(&config).await?);
    let pace = pace::Pace::new(config.concurrency, config.prefetch);
    // Before any call is timed: one task ahead per slot, or the fixed `--prefetch`.
    let held = pace.held();
    let shared = Arc::new(Shared {
        link: link.clone(),
        plugins,
        counters: Counters::default(),
        slots: Semaphore::new(config.concurrency),
        reporting: Semaphore::new(REPORTS_PER_HELD * held),
        plugin_time: config.limits.time,
        pace,
    });
    let mut tasks = tokio::task::JoinSet::new();
    fetch_loop(&shared, &mut tasks, stop, config.lease_wait).await;
    while tasks.join_next().await.is_some() {}
    link.close().await;
    let summary = WorkerSummary {
        done: shared.counters.done.load(Ordering::Relaxed),
        failed: shared.counters.failed.load(Ordering::Relaxed),
        dropped: shared.counters.dropped.load(Ordering::Relaxed),
    };
    tracing::info!(?summary, "worker stopped");
    Ok(summary)
}

async fn load_plugins(config: &WorkerConfig) -> Result<Plugins, WorkerError> {
    let cache_error = |source| WorkerError::Cache {
        path: config.cache.display().to_string(),
        source,
    };
    let runtime = Runtime::with_cache_dir(config.limits, Some(config.cache.join("modules")))?;
    let plugins = Plugins::new(runtime, config.cache.join("plugins")).map_err(cache_error)?;
    let files = config.plugins.clone();
    tokio::task::spawn_blocking(move || {
        let hash = plugins.preload(cdn_plugin_bundle::THUMBNAIL)?;
        tracing::info!(plugin = "thumbnail", %hash, "built-in plugin ready");
        for path in files {
            let plugin_error = |source| WorkerError::Plugin {
                path: path.display().to_string(),
                source,
            };
            let wasm = std::fs::read(&path).map_err(|e| {
                plugin_error(cdn_runtime::RunError::InvalidModule(format!(
                    "cannot read: {e}"
                )))
            })?;
            let hash = plugins.preload(&wasm).map_err(plugin_error)?;
            tracing::info!(path = %path.display(), %hash, "local plugin ready");
        }
        Ok(plugins)
    })
    .await
    .map_err(|e| WorkerError::Runtime(cdn_runtime::RunError::Host(e.to_string())))?
}

/// What every lease loop shares.
struct Shared {
    link: Arc<Link>,
    plugins: Arc<Plugins>,
    counters: Counters,
    /// One permit per plugin call at once.
    slots: Semaphore,
    /// One permit per report awaiting its acknowledgement, past its place among the tasks held.
    reporting: Semaphore,
    plugin_time: Duration,
    /// How many tasks to hold.
    pace: pace::Pace,
}

/// Reports that may await their acknowledgement per place among the tasks held: with tasks
/// shorter than a round trip to the master, most tasks of a worker are reports in flight.
/// Past that, a finished task keeps its place until a report is acknowledged, so a master
/// that stops acknowledging stops the leasing too. Only small reports (up to 1 MiB) take such
/// a place; a larger thumbnail keeps its task's place, so reports hold at most that much more
/// memory than before.
pub const REPORTS_PER_HELD: usize = 4;

/// Leases tasks while there is room for them (as many held as the pace says) until told to
/// drain, starting each in a task of its own (in `tasks`). One long poll at a time, for as
/// many tasks as there is room for.
async fn fetch_loop(
    shared: &Arc<Shared>,
    tasks: &mut tokio::task::JoinSet<()>,
    mut stop: watch::Receiver<Stop>,
    lease_wait: Duration,
) {
    let mut room = Room::new(shared.pace.held());
    let wait_ms = u64::try_from(lease_wait.as_millis()).unwrap_or(MAX_LEASE_WAIT_MS);
    let mut backoff = Backoff::new();
    loop {
        if *stop.borrow() != Stop::Run {
            return;
        }
        room.resize(shared.pace.held());
        // Reap the tasks that ended, so the set does not grow with every task ever run.
        while tasks.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = room.places.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = reached(&mut stop, Stop::Drain) => return,
        };
        let mut permits = vec![first];
        while permits.len() < MAX_LEASE_BATCH as usize {
            match room.places.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        room.shrink_with(&mut permits);
        if permits.is_empty() {
            continue;
        }
        let request = Request::Lease {
            wait_ms,
            max: permits.len() as u32,
        };
        // Dropping the request when told to stop abandons it; the master then releases what it
        // was leasing. `biased`: an answer that is already here is taken (and worked on), not
        // dropped for the stop signal.
        let polled = tokio::select! {
            biased;
            polled = shared.link.call::<LeaseResponse>(&request, Vec::new()) => polled,
            _ = reached(&mut stop, Stop::Drain) => return,
        };
        let received = std::time::Instant::now();
        match polled {
            Ok((response, body)) => {
                backoff.reset();
                let grants = response.grants();
                let bytes = body.len();
                let Some(sources) = split_sources(&grants, body) else {
                    tracing::error!(
                        grants = grants.len(),
                        bytes,
                        "the master's lease answer does not add up (source sizes against its \
                         body); the leases will expire"
                    );
                    continue;
                };
                for ((grant, source), permit) in grants.into_iter().zip(sources).zip(permits) {
                    shared.pace.source_arrived(source.len());
                    tasks.spawn(run_task(
                        shared.clone(),
                        grant,
                        source,
                        received,
                        stop.clone(),
                        permit,
                    ));
                }
            }
            Err(e) => {
                let wait = backoff.next_wait();
                match &e {
                    CallError::Unreachable(_) => {
                        tracing::warn!(masters = %shared.link.masters(), "{e}; retrying in {wait:?}")
                    }
                    CallError::Refused { .. } | CallError::Invalid(_) => {
                        tracing::error!(masters = %shared.link.masters(), "lease refused: {e}; retrying in {wait:?}")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = reached(&mut stop, Stop::Drain) => return,
                }
            }
        }
    }
}

/// The places among the tasks held: one permit each, as many as the pace last said. Growing
/// adds places at once; shrinking takes places out as they come free (`owed`).
struct Room {
    places: Arc<Semaphore>,
    size: usize,
    /// Places still to take out.
    owed: usize,
}

impl Room {
    fn new(size: usize) -> Room {
        let size = size.max(1);
        Room {
            places: Arc::new(Semaphore::new(size)),
            size,
            owed: 0,
        }
    }

    /// Makes the room `size` places (at least one).
    fn resize(&mut self, size: usize) {
        let size = size.max(1);
        if size > self.size {
            let grow = size - self.size;
            let cancelled = grow.min(self.owed);
            self.owed -= cancelled;
            self.places.add_permits(grow - cancelled);
        } else {
            self.owed += self.size - size;
        }
        self.size = size;
        self.owed -= self.places.forget_permits(self.owed);
    }

    /// Takes out of `permits` the places still owed.
    fn shrink_with(&mut self, permits: &mut Vec<OwnedSemaphorePermit>) {
        while self.owed > 0 {
            let Some(permit) = permits.pop() else {
                return;
            };
            permit.forget();
            self.owed -= 1;
        }
    }
}

/// Each grant's source bytes, cut from the answer's body without copying them (one grant with
/// no size given gets the whole body). The body's memory is freed when the last of its tasks
/// is done with its source.
fn split_sources(grants: &[LeaseGrant], body: Vec<u8>) -> Option<Vec<Bytes>> {
    let body = Bytes::from(body);
    if let [one] = grants {
        if one.source_size == 0 {
            return Some(vec![body]);
        }
    }
    let parts = split_body(&body, grants.iter().map(|g| g.source_size))?;
    Some(parts.into_iter().map(|part| body.slice_ref(part)).collect())
}

/// One task from its grant to its report; `room` (its place among the tasks held) is given
/// back when its plugin call has ended and its report may go out.
async fn run_task(
    shared: Arc<Shared>,
    grant: LeaseGrant,
    source: Bytes,
    received: std::time::Instant,
    mut stop: watch::Receiver<Stop>,
    room: OwnedSemaphorePermit,
) {
    let env = TaskEnv {
        link: &shared.link,
        plugins: &shared.plugins,
        plugin_time: shared.plugin_time,
        slots: &shared.slots,
        reporting: &shared.reporting,
        pace: &shared.pace,
    };
    let counter = match task::run(&env, grant, source, received, &mut stop, room).await {
        Outcome::Done => &shared.counters.done,
        Outcome::Failed => &shared.counters.failed,
        Outcome::Dropped => &shared.counters.dropped,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod room_tests {
    use super::Room;

    /// Takes every free place, as the fetch loop does, less those owed.
    fn take_all(room: &mut Room) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        let mut permits = Vec::new();
        while let Ok(permit) = room.places.clone().try_acquire_owned() {
            permits.push(permit);
        }
        room.shrink_with(&mut permits);
        permits
    }

    #[test]
    fn growing_adds_places_at_once() {
        let mut room = Room::new(4);
        let held = take_all(&mut room);
        assert_eq!(held.len(), 4);
        room.resize(10);
        assert_eq!(take_all(&mut room).len(), 6);
    }

    #[test]
    fn shrinking_takes_places_out_as_they_come_free() {
        let mut room = Room::new(10);
        let mut held = take_all(&mut room);
        assert_eq!(held.len(), 10);
        // All ten are held: the shrink to four is owed until places come free.
        room.resize(4);
        assert_eq!(room.owed, 6);
        held.truncate(3); // seven tasks end
        let taken = take_all(&mut room);
        assert_eq!(taken.len(), 1, "7 free, 6 of them owed");
        assert_eq!(room.owed, 0);
        // Three held and the one just taken: the room is four.
        assert!(take_all(&mut room).is_empty());
        drop((held, taken));
        assert_eq!(take_all(&mut room).len(), 4);
    }

    #[test]
    fn a_shrink_is_cancelled_by_a_growth_before_it_is_paid() {
        let mut room = Room::new(8);
        let held = take_all(&mut room);
        room.resize(2);
        room.resize(6);
        assert_eq!(room.owed, 2);
        drop(held);
        assert_eq!(take_all(&mut room).len(), 6);
        // A free place is taken out at once.
        room.resize(5);
        assert_eq!(room.owed, 0);
    }
}
