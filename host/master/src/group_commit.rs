//! Group commit: many writers, one transaction, one WAL fsync.
//!
//! Every registry write runs on its caller's thread, inside a savepoint of the one open
//! transaction of the write connection (a write of one changing statement needs none:
//! [`GroupCommit::write_one`], since SQLite undoes a failing statement itself). A writer that
//! finds nobody queued behind it commits the transaction (for itself and everyone whose write
//! is in it) and wakes them; one that sees others queued leaves the commit to the last of them
//! and waits. So a lone request commits at once (latency unchanged at low load), while under
//! load one `COMMIT` (one fsync with `synchronous=FULL`) carries a whole batch. No writer returns before the commit that holds its
//! work: an acknowledgement built on a write is always durable.
//!
//! A caller that makes several writes for one answer (a `lease` of many tasks) runs them in
//! [`GroupCommit::deferring`]: inside it a write does not commit or wait, and the scope returns
//! once one commit holds them all. A thread may hold scopes of two group commits at once (the
//! master's writers: the registry's around the blob pack's, so that the pack commits first).

use rusqlite::Connection;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Scopes of different group commits a thread may hold open at once.
const SCOPES: usize = 2;

thread_local! {
    /// The [`GroupCommit::deferring`] scopes open on this thread: which group commit each is of
    /// (its address: writes on a group commit without a scope here commit as usual), and the
    /// first and last batch that hold the scope's writes (`(0, 0)` before its first write).
    static DEFERRED: Cell<[Option<Scope>; SCOPES]> = const { Cell::new([None; SCOPES]) };
}

/// This thread's open scope of the group commit `owner`, and its slot.
fn open_scope(owner: usize) -> Option<(usize, Scope)> {
    DEFERRED
        .get()
        .into_iter()
        .enumerate()
        .find_map(|(slot, scope)| scope.filter(|s| s.owner == owner).map(|s| (slot, s)))
}

fn set_scope(slot: usize, scope: Option<Scope>) {
    let mut scopes = DEFERRED.get();
    scopes[slot] = scope;
    DEFERRED.set(scopes);
}

/// Closes this thread's scope in `slot` when dropped, also when the scope's closure panics: a
/// thread that lives on (a writer, a blocking-pool thread) must not keep deferring writes into
/// a scope nobody will commit.
struct OpenScope(usize);

impl Drop for OpenScope {
    fn drop(&mut self) {
        set_scope(self.0, None);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scope {
    owner: usize,
    first: u64,
    last: u64,
}

/// Batches whose commit failed, newest last (a few are kept: a deferring scope checks the
/// batches it wrote into).
const FAILED_KEPT: usize = 16;

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
    /// The last batch that ended, and the recent ones whose commit failed (with the error).
    ended: u64,
    failed: Vec<(u64, String)>,
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
                failed: Vec::new(),
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
        self.write_in(f, true)
    }

    /// [`GroupCommit::write`] without the savepoint, for an `f` that changes the database in
    /// one statement at most (reads around it are fine): a statement that fails is undone by
    /// SQLite itself, so there is nothing for a savepoint to roll back. Saves two statements
    /// per write on the registry's busiest paths.
    pub fn write_one<T, E: From<CommitError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_in(f, false)
    }

    fn write_in<T, E: From<CommitError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
        savepoint: bool,
    ) -> Result<T, E> {
        let mut w = self.queue_for_writer()?;
        if !w.open {
            w.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(db("beginning a transaction"))?;
            w.open = true;
        }
        let result = if savepoint {
            in_savepoint(&w.conn, f)
        } else {
            f(&w.conn)
        };
        if result.is_ok() {
            w.in_batch += 1;
        }
        let mine = w.batch;
        if let Some((slot, scope)) = open_scope(self.key()) {
            // Inside `deferring`: the scope's end commits (or waits for) this batch.
            let first = if scope.first == 0 { mine } else { scope.first };
            set_scope(
                slot,
                Some(Scope {
                    first,
                    last: mine,
                    ..scope
                }),
            );
            if w.in_batch >= MAX_BATCH {
                commit(&mut w);
                self.committed.notify_all();
            }
            return result;
        }
        let full = w.in_batch >= MAX_BATCH;
        let w = self.commit_or_wait(w, mine, full)?;
        match (failure_in(&w, mine, mine), result) {
            (Some(why), Ok(_)) => Err(CommitError::BatchFailed(why).into()),
            (_, result) => result,
        }
    }

    /// Runs `f`, whose writes (on this thread) join the open transaction without committing
    /// each, and returns once they are committed: one commit for all, shared with whoever else
    /// wrote meanwhile. When that commit fails, so does this (whatever `f` returned): none of
    /// its writes is durable. Scopes of one group commit do not nest (an inner one is just part
    /// of the outer); one of another group commit may be open inside, and ends first.
    pub fn deferring<T, E: From<CommitError>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if open_scope(self.key()).is_some() {
            return f();
        }
        let Some(slot) = DEFERRED.get().iter().position(Option::is_none) else {
            // Scopes of too many other group commits are open: each write commits as it goes.
            return f();
        };
        set_scope(
            slot,
            Some(Scope {
                owner: self.key(),
                first: 0,
                last: 0,
            }),
        );
        let open = OpenScope(slot);
        let result = f();
        let scope = DEFERRED.get()[slot];
        drop(open);
        let Some(Scope { first, last, .. }) = scope.filter(|s| s.first != 0) else {
            return result;
        };
        let mut w = self.queue_for_writer()?;
        if w.ended < last {
            w = self.commit_or_wait(w, last, false)?;
        }
        match failure_in(&w, first, last) {
            Some(why) => Err(CommitError::BatchFailed(why).into()),
            None => result,
        }
    }

    /// Which group commit a deferring scope is of (stable while the scope borrows `self`).
    fn key(&self) -> usize {
        self as *const GroupCommit as usize
    }

    /// The write connection, counted as queued while waiting for it (so whoever holds it now
    /// leaves the commit to us).
    fn queue_for_writer(&self) -> Result<MutexGuard<'_, Writer>, CommitError> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let locked = self.writer.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        locked.map_err(|_| CommitError::Poisoned)
    }

    /// Commits the open transaction when nobody is queued to write after us in it (or `full`),
    /// else waits until batch `until` has ended: the last writer queued behind us commits it.
    fn commit_or_wait<'a>(
        &self,
        mut w: MutexGuard<'a, Writer>,
        until: u64,
        full: bool,
    ) -> Result<MutexGuard<'a, Writer>, CommitError> {
        if self.queued.load(Ordering::SeqCst) == 0 || full {
            commit(&mut w);
            self.committed.notify_all();
        } else {
            while w.ended < until {
                w = self.committed.wait(w).map_err(|_| CommitError::Poisoned)?;
            }
        }
        Ok(w)
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
        if w.failed.len() >= FAILED_KEPT {
            w.failed.remove(0);
        }
        let batch = w.batch;
        w.failed.push((batch, e.to_string()));
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

/// Why a commit of one of batches `first..=last` failed, if one did.
fn failure_in(w: &Writer, first: u64, last: u64) -> Option<String> {
    w.failed
        .iter()
        .find(|(batch, _)| (first..=last).contains(batch))
        .map(|(_, why)| why.clone())
}

/// Runs `f` between `SAVEPOINT` and `RELEASE`, or `ROLLBACK TO` when it fails.
fn in_savepoint<T, E: From<CommitError>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    // Cached statements: these run twice for every write.
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    run("SAVEPOINT one_write").map_err(db("opening a savepoint"))?;
    match f(conn) {
        Ok(value) => {
            run("RELEASE one_write").map_err(db("releasing a savepoint"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn open(path: &std::path::Path) -> GroupCommit {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")
            .unwrap();
        GroupCommit::new(conn)
    }

    fn count(path: &std::path::Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// Two databases in `dir` with a group commit each: `a.db` and `b.db`.
    fn two(dir: &std::path::Path) -> ((PathBuf, GroupCommit), (PathBuf, GroupCommit)) {
        let (a, b) = (dir.join("a.db"), dir.join("b.db"));
        let (ga, gb) = (open(&a), open(&b));
        ((a, ga), (b, gb))
    }

    fn insert(conn: &Connection) -> Result<usize, CommitError> {
        conn.execute("INSERT INTO t VALUES (1)", [])
            .map_err(db("inserting"))
    }

    /// A deferring scope holds back the writes of its own group commit only: a write on
    /// another (the blob pack's, inside a registry scope) commits before it returns.
    #[test]
    fn a_scope_defers_its_own_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let ((a_path, a), (b_path, b)) = two(dir.path());
        a.deferring(|| {
            a.write(insert)?;
            assert_eq!(count(&a_path), 0, "a's write waits for the scope's end");
            b.write(insert)?;
            assert_eq!(count(&b_path), 1, "b's write is committed at once");
            Ok::<_, CommitError>(())
        })
        .unwrap();
        assert_eq!(count(&a_path), 1);
        assert_eq!(a.stats().commits, 1);
        assert_eq!(b.stats().commits, 1);
    }

    /// Scopes of two group commits, one inside the other: each holds back its own writes, the
    /// inner one's are committed when it ends (before the outer's), and an inner scope of the
    /// outer's own group commit is part of the outer.
    #[test]
    fn scopes_of_two_group_commits_nest_and_the_inner_commits_first() {
        let dir = tempfile::tempdir().unwrap();
        let ((a_path, a), (b_path, b)) = two(dir.path());
        a.deferring(|| {
            b.deferring(|| {
                for _ in 0..3 {
                    b.write(insert)?;
                    a.write(insert)?;
                }
                a.deferring(|| a.write(insert))?;
                assert_eq!(count(&b_path), 0, "b's writes wait for its scope");
                Ok::<_, CommitError>(())
            })?;
            assert_eq!(count(&b_path), 3, "the inner scope committed as it ended");
            assert_eq!(count(&a_path), 0, "a's writes wait for the outer scope");
            Ok::<_, CommitError>(())
        })
        .unwrap();
        assert_eq!(count(&a_path), 4);
        assert_eq!((a.stats().commits, b.stats().commits), (1, 1));
        assert_eq!(DEFERRED.get(), [None; SCOPES], "no scope is left open");
    }

    /// A failing single-statement write (no savepoint) leaves the others of its batch alone.
    #[test]
    fn a_failing_write_one_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE u (x INTEGER PRIMARY KEY, y INTEGER)",
        )
        .unwrap();
        let g = GroupCommit::new(conn);
        let put = |x: i64| {
            move |c: &Connection| {
                c.execute("INSERT INTO u VALUES (?1, 1)", [x])
                    .map_err(db("inserting"))
            }
        };
        g.deferring(|| {
            g.write_one(put(1))?;
            // A constraint failure mid-statement: two rows, the second a duplicate.
            let failed = g.write_one(|c: &Connection| {
                c.execute("INSERT INTO u SELECT 2, 1 UNION ALL SELECT 1, 1", [])
                    .map_err(db("inserting"))
            });
            assert!(failed.is_err());
            g.write_one(put(3))?;
            Ok::<_, CommitError>(())
        })
        .unwrap();
        let rows: Vec<i64> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT x FROM u ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [1, 3],
            "the failed statement left nothing, the others stayed"
        );
    }

    /// A scope whose closure panics is closed all the same: the thread's next writes commit
    /// (with the one the panicking scope left in the open transaction) instead of joining a
    /// scope nobody ends.
    #[test]
    fn a_panicking_scope_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let ((a_path, a), _) = two(dir.path());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            a.deferring(|| {
                a.write(insert)?;
                panic!("a job's bug");
                #[allow(unreachable_code)]
                Ok::<_, CommitError>(())
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(DEFERRED.get(), [None; SCOPES], "no scope is left open");
        a.write(insert).unwrap();
        assert_eq!(count(&a_path), 2, "the next write committed");
    }
}
