//! Group commit: many writers, one transaction, one WAL fsync.
//!
//! Every registry write runs on its caller's thread, inside a savepoint of the one open
//! transaction of the write connection. A writer that finds nobody queued behind it commits the
//! transaction (for itself and everyone whose savepoint is in it) and wakes them; one that sees
//! others queued leaves the commit to the last of them and waits. So a lone request commits at
//! once (latency unchanged at low load), while under load one `COMMIT` (one fsync with
//! `synchronous=FULL`) carries a whole batch. No writer returns before the commit that holds its
//! work: an acknowledgement built on a write is always durable.

use rusqlite::Connection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Most writes one transaction carries before it is committed even with writers queued (bounds
/// the latency of the first writer of a batch).
const MAX_BATCH: usize = 256;

/// Why the transaction around a write could not be kept or committed (the write's own error is
/// returned as it is).
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The database refused to begin, keep a savepoint or commit.
    #[error("{context}: {source}")]
    Db {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The write was done but the commit of its batch failed (another writer saw the error
    /// itself); nothing of the batch is durable.
    #[error("committing a batch of writes failed: {0}")]
    BatchFailed(String),
    /// A thread panicked while holding the connection.
    #[error("the write connection is poisoned (a thread panicked while using it)")]
    Poisoned,
}

/// What [`GroupCommit::stats`] counts since the database was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Writes that were committed.
    pub writes: u64,
    /// `COMMIT`s (each one WAL fsync).
    pub commits: u64,
}

struct Writer {
    conn: Connection,
    /// Whether a transaction is open (holding savepoints not committed yet).
    open: bool,
    /// Writes in the open transaction.
    in_batch: usize,
    /// The number of the open (or next) transaction.
    batch: u64,
    /// The last batch that ended, and whether its commit failed (with the error's text).
    ended: u64,
    failed: Option<(u64, String)>,
    stats: CommitStats,
}

/// The write connection with group commit. `Sync`: shared by every thread that writes.
pub struct GroupCommit {
    writer: Mutex<Writer>,
    /// Writers that have asked for the connection but not got it yet.
    queued: AtomicUsize,
    committed: Condvar,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    pub fn new(conn: Connection) -> GroupCommit {
        GroupCommit {
            writer: Mutex::new(Writer {
                conn,
                open: false,
                in_batch: 0,
                batch: 1,
                ended: 0,
                failed: None,
                stats: CommitStats::default(),
            }),
            queued: AtomicUsize::new(0),
            committed: Condvar::new(),
        }
    }

    /// Runs `f` in a savepoint of the open transaction (beginning one, `IMMEDIATE`, if none is
    /// open) and returns once the transaction holding it is committed. `f`'s error rolls back
    /// its savepoint only.
    pub fn write<T, E: From<CommitError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let locked = self.writer.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let mut w = locked.map_err(|_| CommitError::Poisoned)?;
        if !w.open {
            w.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(db("beginning a transaction"))?;
            w.open = true;
        }
        let result = in_savepoint(&w.conn, f);
        if result.is_ok() {
            w.in_batch += 1;
        }
        let mine = w.batch;
        if self.queued.load(Ordering::SeqCst) == 0 || w.in_batch >= MAX_BATCH {
            // Nobody will come after us in this batch: commit it now.
            commit(&mut w);
            self.committed.notify_all();
        } else {
            // The last writer queued behind us commits; wait for it.
            while w.ended < mine {
                w = self.committed.wait(w).map_err(|_| CommitError::Poisoned)?;
            }
        }
        match (&w.failed, result) {
            (Some((batch, why)), Ok(_)) if *batch == mine => {
                Err(CommitError::BatchFailed(why.clone()).into())
            }
            (_, result) => result,
        }
    }

    /// Writes and commits since open.
    pub fn stats(&self) -> CommitStats {
        match self.writer.lock() {
            Ok(w) => w.stats,
            Err(poisoned) => poisoned.into_inner().stats,
        }
    }
}

/// Commits the open transaction (if it holds anything) and starts the next batch number.
fn commit(w: &mut Writer) {
    let outcome = if w.in_batch == 0 {
        // Only failed writes (all rolled back): nothing to make durable.
        w.conn.execute_batch("ROLLBACK")
    } else {
        w.conn.execute_batch("COMMIT")
    };
    if let Err(e) = outcome {
        tracing::error!("group commit of {} writes failed: {e}", w.in_batch);
        w.failed = Some((w.batch, e.to_string()));
        // A failed COMMIT may leave the transaction open: end it so the next batch can begin.
        if !w.conn.is_autocommit() {
            let _ = w.conn.execute_batch("ROLLBACK");
        }
    } else if w.in_batch > 0 {
        w.stats.commits += 1;
        w.stats.writes += w.in_batch as u64;
    }
    w.open = false;
    w.in_batch = 0;
    w.ended = w.batch;
    w.batch += 1;
}

/// Runs `f` between `SAVEPOINT` and `RELEASE`, or `ROLLBACK TO` when it fails.
fn in_savepoint<T, E: From<CommitError>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    conn.execute_batch("SAVEPOINT one_write")
        .map_err(db("opening a savepoint"))?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE one_write")
                .map_err(db("releasing a savepoint"))?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO one_write; RELEASE one_write")
                .map_err(db("rolling back a savepoint"))?;
            Err(e)
        }
    }
}

fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> CommitError {
    move |source| CommitError::Db { context, source }
}
