//! The master's writers: a few threads that run the storage work of the write requests
//! (register, lease, extend, complete, fail) in batches.
//!
//! A request hands its work to [`writing`] as three steps: the blob puts, the registry writes,
//! and what to read once both are durable. A writer thread takes every job waiting (up to
//! [`MAX_JOBS`]) and runs them step by step across the batch:
//!
//! 1. every job's blob puts, inside one deferring scope of the blob store: the folder store's
//!    pack commits them together, once, when the step ends;
//! 2. every job's registry writes, inside one deferring scope of the registry: one commit for
//!    the batch (shared with whatever the other writers wrote meanwhile);
//! 3. every job's reads, then its answer.
//!
//! So a batch costs one thread handoff and one commit per store, where a request at a time
//! cost a blocking task and a savepoint-and-wait on each store. The order is the durability
//! rule of the whole master: a job's registry writes run only after its blobs are durable (a
//! job whose puts failed, or whose batch's pack commit failed, writes no row), and its answer
//! is built only after the commit that holds its rows; a failed commit fails every job whose
//! writes it held. Several threads, so that one slow put (a large file, an S3 request) does not
//! hold up every other write; their batches still share commits. Two when every store is on
//! this machine (SQLite and the folder), four when a store is across the network (PostgreSQL,
//! S3): each thread more splits the waiting jobs into smaller batches, with more commits and
//! more thread wake-ups, which only pays when puts and reads wait on the network.

use crate::blobs::BlobSpec;
use crate::errors::OpError;
use crate::registry::RegistrySpec;
use crate::state::State;
use crate::MasterConfig;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

/// Writer threads when the registry and the blobs are on this machine (SQLite, the folder).
const LOCAL_THREADS: usize = 2;
/// Writer threads when a store is across the network (PostgreSQL, S3).
const NETWORK_THREADS: usize = 4;
/// Most jobs one writer takes at once.
const MAX_JOBS: usize = 64;

/// Step 2 of a job, with the outcome of the batch's blob commit.
type Rows = Box<dyn FnOnce(&State, Option<&OpError>) -> Finish + Send>;
/// Step 3 of a job, with the outcome of the batch's registry commit: reads and the answer.
type Finish = Box<dyn FnOnce(&State, Option<&OpError>) + Send>;

struct Job {
    state: Arc<State>,
    /// Step 1: the blob puts; returns step 2.
    blobs: Box<dyn FnOnce(&State) -> Rows + Send>,
}

/// The queue the writer threads take jobs from. Dropping it (with the master's state) ends
/// the threads once they are idle.
pub(crate) struct Writers {
    queue: mpsc::Sender<Job>,
}

impl Writers {
    /// Starts the writer threads for the stores `config` names ([`LOCAL_THREADS`] or
    /// [`NETWORK_THREADS`]).
    pub fn start(config: &MasterConfig) -> std::io::Result<Writers> {
        let network = matches!(config.registry, Some(RegistrySpec::Postgres(_)))
            || matches!(config.blobs, Some(BlobSpec::S3(_)));
        let threads = if network {
            NETWORK_THREADS
        } else {
            LOCAL_THREADS
        };
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("cdn-writer-{n}"))
                .spawn(move || {
                    while let Some(batch) = next_batch(&jobs) {
                        // A job that panics loses its answer (its caller gets an error), not
                        // the thread.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| run(batch)));
                    }
                })?;
        }
        Ok(Writers { queue })
    }
}

/// Waits for a job, then takes whatever else is waiting; `None` once the queue is closed.
fn next_batch(jobs: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
    let mut batch = vec![jobs.recv().ok()?];
    while batch.len() < MAX_JOBS {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// One batch, step by step (see the module's text).
fn run(batch: Vec<Job>) {
    let Some(state) = batch.first().map(|job| job.state.clone()) else {
        return;
    };
    let mut jobs = batch.into_iter();
    let mut rows = Vec::with_capacity(jobs.len());
    let blobs_committed = state.blobs.deferring(&mut || {
        rows.extend(jobs.by_ref().map(|job| (job.blobs)(&state)));
        Ok(())
    });
    let blob_failure = blobs_committed.err().map(OpError::from);
    let mut rows = rows.into_iter();
    let mut finishes = Vec::with_capacity(rows.len());
    let rows_committed = state.registry.deferring(&mut || {
        finishes.extend(
            rows.by_ref()
                .map(|step| step(&state, blob_failure.as_ref())),
        );
        Ok(())
    });
    let row_failure = rows_committed.err().map(OpError::from);
    for finish in finishes {
        finish(&state, row_failure.as_ref());
    }
}

/// Runs a write request's storage work on a writer (see the module's text): `blobs` puts,
/// `rows` writes the registry with what `blobs` returned, `then` reads with what `rows`
/// returned once it is committed. An error at one step skips the later ones.
pub(crate) async fn writing<A, B, T>(
    state: &Arc<State>,
    blobs: impl FnOnce(&State) -> Result<A, OpError> + Send + 'static,
    rows: impl FnOnce(&State, A) -> Result<B, OpError> + Send + 'static,
    then: impl FnOnce(&State, B) -> Result<T, OpError> + Send + 'static,
) -> Result<T, OpError>
where
    A: Send + 'static,
    B: Send + 'static,
    T: Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job = Job {
        state: state.clone(),
        blobs: Box::new(move |s: &State| -> Rows {
            let a = blobs(s);
            Box::new(move |s: &State, blob_failure: Option<&OpError>| -> Finish {
                let b = after(a, blob_failure).and_then(|a| rows(s, a));
                Box::new(move |s: &State, row_failure: Option<&OpError>| {
                    let _ = answer.send(after(b, row_failure).and_then(|b| then(s, b)));
                })
            })
        }),
    };
    state
        .writers
        .queue
        .send(job)
        .map_err(|_| OpError::internal("the master's writers have stopped"))?;
    answered
        .await
        .map_err(|_| OpError::internal("a write was lost (its writer thread panicked)"))?
}

/// [`writing`] for a request that puts no blob and reads nothing after its commit: `rows`
/// writes the registry, and its value is the answer once committed.
pub(crate) async fn writing_rows<T: Send + 'static>(
    state: &Arc<State>,
    rows: impl FnOnce(&State) -> Result<T, OpError> + Send + 'static,
) -> Result<T, OpError> {
    writing(
        state,
        |_| Ok(()),
        move |s, ()| rows(s),
        |_, value| Ok(value),
    )
    .await
}

/// A step's outcome, failed when the commit that had to hold it failed.
fn after<T>(outcome: Result<T, OpError>, commit: Option<&OpError>) -> Result<T, OpError> {
    match (outcome, commit) {
        (Ok(_), Some(failed)) => Err(failed.clone()),
        (outcome, _) => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobStore, MasterConfig, Registry};
    use cdn_common::ContentHash;
    use std::path::Path;

    fn state(dir: &Path) -> Arc<State> {
        let registry = Registry::open(dir.join("registry.sqlite3")).unwrap();
        let blobs = BlobStore::open_dir(dir.join("blobs")).unwrap();
        registry
            .add_plugin("p", &ContentHash::of(b"plugin"), 1)
            .unwrap();
        Arc::new(State::new(registry, blobs, MasterConfig::default()).unwrap())
    }

    /// Whether another connection sees the image's row and its source's pack row: what is
    /// committed.
    fn committed(dir: &Path, id: &str, source: &ContentHash) -> (bool, bool) {
        let count = |file: &Path, sql: &str, key: &dyn rusqlite::ToSql| -> bool {
            let conn = rusqlite::Connection::open(file).unwrap();
            conn.query_row(sql, [key], |r| r.get::<_, i64>(0)).unwrap() > 0
        };
        (
            count(
                &dir.join("registry.sqlite3"),
                "SELECT count(*) FROM images WHERE id = ?1",
                &id,
            ),
            count(
                &dir.join("blobs").join(crate::blobs::packed::PACK_FILE),
                "SELECT count(*) FROM blobs WHERE hash = ?1",
                &source.as_bytes().as_slice(),
            ),
        )
    }

    /// Registrations arriving together (as a `batch` of them does): each one's bytes are
    /// durable before its row is written, its third step (which builds the answer) runs only
    /// once both are committed, seen from another connection, and they share commits. A job
    /// that fails at its own step fails alone, with nothing of it written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_answered_only_after_its_commits_and_shares_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let state = state(&path);
        let before = state.registry.commit_stats();
        let jobs = (0..48).map(|i| {
            let (state, path) = (state.clone(), path.clone());
            async move {
                let id = if i == 7 {
                    "../bad".to_string()
                } else {
                    format!("img{i}.jpg")
                };
                let body = format!("source {i}").into_bytes();
                let path2 = path.clone();
                writing(
                    &state,
                    move |s| {
                        let source = s.blobs.put(&body)?;
                        Ok((id, source, body.len() as u64))
                    },
                    move |s, (id, source, size)| {
                        assert_eq!(
                            committed(&path, &id, &source),
                            (false, true),
                            "the source is durable before the row is written"
                        );
                        s.registry.register(
                            &id,
                            &source,
                            size,
                            "{}",
                            "p",
                            &ContentHash::of(b"plugin"),
                            2,
                        )?;
                        Ok((id, source))
                    },
                    move |_, (id, source)| {
                        assert_eq!(
                            committed(&path2, &id, &source),
                            (true, true),
                            "answered before its commit"
                        );
                        Ok(id)
                    },
                )
                .await
            }
        });
        let answers = futures_util::future::join_all(jobs).await;
        for (i, answer) in answers.iter().enumerate() {
            match (i, answer) {
                (7, Err(e)) => assert_eq!(e.kind, cdn_proto::kind::INVALID_ID),
                (7, Ok(id)) => panic!("{id} was registered"),
                (_, Ok(id)) => assert_eq!(id, &format!("img{i}.jpg")),
                (_, Err(e)) => panic!("image {i}: {}", e.message),
            }
        }
        let after = state.registry.commit_stats();
        let commits = after.commits - before.commits;
        assert_eq!(after.writes - before.writes, 47);
        assert!(
            commits < 47,
            "47 registrations arriving together took {commits} commits"
        );
    }
}
