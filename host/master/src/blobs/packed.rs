//! Small blobs packed into one SQLite file of the folder store (`DIR/packed.sqlite3`).
//!
//! A file per blob costs an inode, a file fsync and a folder fsync for each put: for the small
//! blobs most tasks make (thumbnails, small sources) that was most of the master's CPU. Here a
//! blob of at most [`PACK_MAX`] bytes is a row instead, written through the same group commit
//! as the registry's ([`GroupCommit`]): puts arriving together share one transaction and one
//! WAL fsync (`synchronous=FULL`), and each returns only once its row is committed, so a put
//! is as durable as a file's. Larger blobs stay files (a row would only copy them around).

use super::BlobError;
use crate::group_commit::{CommitError, CommitStats, GroupCommit};
use cdn_common::ContentHash;
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The largest blob kept in the pack; anything larger is a file of its own.
pub const PACK_MAX: usize = 64 * 1024;

/// The pack's file name inside the store's folder.
pub const PACK_FILE: &str = "packed.sqlite3";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS blobs (
    hash BLOB PRIMARY KEY,
    bytes BLOB NOT NULL
)";

fn db_err<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(rusqlite::Error) -> BlobError + 'a {
    move |source| BlobError::Pack {
        context,
        path: path.to_owned(),
        source,
    }
}

/// The pack: one write connection behind a group commit, one read connection.
#[derive(Debug)]
pub struct Pack {
    path: PathBuf,
    writer: GroupCommit,
    reader: Mutex<Connection>,
}

impl Pack {
    /// Opens (creating if needed) the pack at `path`.
    pub fn open(path: PathBuf) -> Result<Pack, BlobError> {
        let conn = Connection::open(&path).map_err(db_err("opening", &path))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db_err("setting WAL mode on", &path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(db_err("setting WAL mode on", &path)(
                rusqlite::Error::InvalidQuery,
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err("setting synchronous=FULL on", &path))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db_err("setting the busy timeout of", &path))?;
        conn.execute_batch(SCHEMA)
            .map_err(db_err("creating the table of", &path))?;
        let reader = Connection::open(&path).map_err(db_err("opening", &path))?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(db_err("opening read-only", &path))?;
        reader
            .busy_timeout(Duration::from_secs(10))
            .map_err(db_err("setting the busy timeout of", &path))?;
        Ok(Pack {
            path,
            writer: GroupCommit::new(conn),
            reader: Mutex::new(reader),
        })
    }

    /// The pack's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores the blob; returns once the commit holding it is durable. A row already there
    /// with other bytes (damaged) is written again; one with the same bytes is left alone.
    pub fn put(&self, id: &ContentHash, bytes: &[u8]) -> Result<(), BlobError> {
        // One statement: no savepoint needed around it.
        self.writer.write_one(|conn| {
            conn.prepare_cached(
                "INSERT INTO blobs (hash, bytes) VALUES (?1, ?2)
                 ON CONFLICT (hash) DO UPDATE SET bytes = excluded.bytes
                 WHERE bytes != excluded.bytes",
            )
            .and_then(|mut stmt| stmt.execute((id.as_bytes().as_slice(), bytes)))
            .map_err(db_err("writing", &self.path))
        })?;
        Ok(())
    }

    /// Runs `f`, whose puts join one commit, and returns once that commit is durable.
    pub fn deferring(&self, f: &mut dyn FnMut() -> Result<(), BlobError>) -> Result<(), BlobError> {
        self.writer.deferring(f)
    }

    /// The blob's bytes as stored, `None` when the pack does not hold it.
    pub fn read(&self, id: &ContentHash) -> Result<Option<Vec<u8>>, BlobError> {
        self.query("SELECT bytes FROM blobs WHERE hash = ?1", id)
    }

    pub fn contains(&self, id: &ContentHash) -> Result<bool, BlobError> {
        Ok(self
            .query::<i64>("SELECT 1 FROM blobs WHERE hash = ?1", id)?
            .is_some())
    }

    /// Bytes stored in rows (`length` reads no blob content).
    pub fn stored_bytes(&self) -> Result<u64, BlobError> {
        let conn = self.lock()?;
        let total: i64 = conn
            .query_row(
                "SELECT coalesce(sum(length(bytes)), 0) FROM blobs",
                [],
                |r| r.get(0),
            )
            .map_err(db_err("summing", &self.path))?;
        Ok(total.max(0) as u64)
    }

    /// Commits since open: each is one fsync of the pack's write-ahead log.
    pub fn stats(&self) -> CommitStats {
        self.writer.stats()
    }

    /// Whether the pack answers now (`/readyz`).
    pub fn check(&self) -> Result<(), BlobError> {
        let conn = self.lock()?;
        conn.query_row("SELECT count(*) FROM blobs WHERE 0", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(drop)
        .map_err(db_err("reading", &self.path))
    }

    fn query<T: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        id: &ContentHash,
    ) -> Result<Option<T>, BlobError> {
        let conn = self.lock()?;
        conn.prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_row([id.as_bytes().as_slice()], |r| r.get(0))
                    .optional()
            })
            .map_err(db_err("reading", &self.path))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, BlobError> {
        self.reader
            .lock()
            .map_err(|_| BlobError::PackCommit(CommitError::Poisoned))
    }
}
