//! The SQLite registry backend (the default): one file, one master.
//!
//! WAL mode with `synchronous=FULL`, so a committed transaction survives a crash or power loss.
//! Two connections: writes go through [`GroupCommit`] (each write one savepoint, or none for a
//! write of one changing statement; writes that arrive together share one transaction and one
//! fsync, and none returns before its commit); reads use a connection of their own, so they see
//! only committed state. Time is passed in (`now_ms`, unix milliseconds) so callers and tests
//! control it.
//!
//! Leases follow the trusted queues (SQS, Temporal, Kleppmann's fencing): each lease gets a new
//! fencing token from a counter persisted in `meta` in the same transaction, so tokens grow also
//! across restarts; `extend`, `complete` and `fail` are accepted only from the current lease
//! (status `leased`, same token, same worker, deadline not passed). A lease is expired once
//! `now > deadline`. `extend` and `complete` are one `UPDATE` whose `WHERE` is that rule; only
//! a refusal reads the row, to say why ([`rules::refusal`]).

use super::rules::{self, canonical_params, check_id, ImageRow, LeaseRow, IMAGE_COLUMNS};
use super::{
    Counts, Lease, ListCursor, Registered, RegistryBackend, RegistryError, Retried, Status,
    ThumbInfo,
};
use crate::group_commit::{CommitStats, GroupCommit};
use crate::ids::{IdError, ImageId};
use cdn_common::{BadHash, ContentHash};
use cdn_proto::ImageView;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

const SCHEMA_VERSION: i64 = 2;

/// From version 1: `lease_ran` says whether the current lease has spent an attempt (the worker
/// reported the plugin running, or finished), so grants never delivered, hand-backs and
/// restarts do not spend attempts.
const MIGRATE_1_TO_2: &str = "ALTER TABLE images ADD COLUMN lease_ran INTEGER NOT NULL DEFAULT 0;";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id              TEXT PRIMARY KEY NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'done', 'failed')),
    source_blob     TEXT NOT NULL,
    source_size     INTEGER NOT NULL,
    params_json     TEXT NOT NULL,
    plugin_name     TEXT NOT NULL,
    plugin_hash     TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error_kind TEXT,
    last_error_msg  TEXT,
    lease_id        TEXT,
    fencing_token   INTEGER,
    lease_deadline  INTEGER,
    leased_by       TEXT,
    thumb_blob      TEXT,
    thumb_size      INTEGER,
    thumb_width     INTEGER,
    thumb_height    INTEGER,
    thumb_format    TEXT,
    made_by         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    lease_ran       INTEGER NOT NULL DEFAULT 0,
    CHECK ((status = 'leased') = (lease_id IS NOT NULL AND fencing_token IS NOT NULL
                                  AND lease_deadline IS NOT NULL AND leased_by IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS images_queue ON images (status, created_at);
CREATE TABLE IF NOT EXISTS plugins (
    name     TEXT PRIMARY KEY NOT NULL,
    hash     TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('fencing_token', 0);
";

trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, RegistryError>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, context: &'static str) -> Result<T, RegistryError> {
        self.map_err(|source| RegistryError::Db { context, source })
    }
}

/// Statements compiled once per connection and kept in its cache: the registry runs the same
/// few statements for every task, and compiling one costs more than running it.
trait Cached {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Statements each connection keeps compiled (the registry has about thirty).
const STATEMENT_CACHE: usize = 64;

fn conv<E: std::error::Error + Send + Sync + 'static>(
    idx: usize,
) -> impl FnOnce(E) -> rusqlite::Error {
    move |e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))
}

fn status_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Status> {
    let s = row.get::<_, String>(idx)?;
    Status::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            Type::Text,
            format!("unknown status {s:?}").into(),
        )
    })
}

fn image_id_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<ImageId> {
    ImageId::parse(&row.get::<_, String>(idx)?).map_err(conv::<IdError>(idx))
}

fn blob_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<ContentHash> {
    row.get::<_, String>(idx)?
        .parse()
        .map_err(conv::<BadHash>(idx))
}

/// A row of `images` (selected as [`IMAGE_COLUMNS`]) as the protocol's view of the image.
fn view_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImageView> {
    let image = ImageRow {
        id: row.get(0)?,
        status: row.get(1)?,
        source_blob: row.get(2)?,
        source_size: row.get(3)?,
        params_json: row.get(4)?,
        plugin_name: row.get(5)?,
        plugin_hash: row.get(6)?,
        attempts: row.get(7)?,
        last_error_kind: row.get(8)?,
        last_error_msg: row.get(9)?,
        lease_deadline: row.get(10)?,
        leased_by: row.get(11)?,
        thumb_blob: row.get(12)?,
        thumb_size: row.get(13)?,
        thumb_width: row.get(14)?,
        thumb_height: row.get(15)?,
        thumb_format: row.get(16)?,
        made_by: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
        finished_at: row.get(20)?,
    };
    image
        .into_view()
        .map_err(|why| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, why.into()))
}

/// The SQLite registry. `Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct SqliteRegistry {
    path: String,
    writer: GroupCommit,
    reader: Mutex<Connection>,
}

impl SqliteRegistry {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryError> {
        let path = path.as_ref();
        let mut conn = Connection::open(path).ctx("opening")?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .ctx("setting WAL mode")?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(RegistryError::Db {
                context: "setting WAL mode",
                source: rusqlite::Error::InvalidQuery,
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .ctx("setting synchronous=FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .ctx("setting busy timeout")?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("creating schema")?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx("reading schema version")?;
        if version == 0 {
            tx.execute_batch(SCHEMA).ctx("creating schema")?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .ctx("setting schema version")?;
        } else if version == 1 {
            tx.execute_batch(MIGRATE_1_TO_2)
                .ctx("migrating the schema to version 2")?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .ctx("setting schema version")?;
        } else if version != SCHEMA_VERSION {
            return Err(RegistryError::SchemaVersion {
                place: path.display().to_string(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        tx.commit().ctx("creating schema")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let reader = Connection::open(path).ctx("opening the read connection")?;
        reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        reader
            .pragma_update(None, "query_only", true)
            .ctx("making the read connection read-only")?;
        reader
            .busy_timeout(std::time::Duration::from_secs(10))
            .ctx("setting busy timeout")?;
        Ok(Self {
            path: path.display().to_string(),
            writer: GroupCommit::new(conn),
            reader: Mutex::new(reader),
        })
    }

    /// The read connection: it sees committed state only.
    fn lock(&self) -> Result<MutexGuard<'_, Connection>, RegistryError> {
        self.reader.lock().map_err(|_| RegistryError::Poisoned)
    }

    /// Runs `f` as one write (a savepoint, rolled back if `f` fails) and returns once the
    /// transaction holding it is committed, with other writes that arrived meanwhile.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        self.writer.write(f)
    }

    /// [`SqliteRegistry::write`] for an `f` that changes the database in one statement at most
    /// (no savepoint needed: SQLite undoes a failing statement itself).
    fn write_one<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        self.writer.write_one(f)
    }
}

impl RegistryBackend for SqliteRegistry {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    fn deferring(
        &self,
        f: &mut dyn FnMut() -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        self.writer.deferring(f)
    }

    fn commit_stats(&self) -> CommitStats {
        self.writer.stats()
    }

    /// Registers an image as `pending`. Durable when this returns.
    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        id: &str,
        source_blob: &ContentHash,
        source_size: u64,
        params_json: &str,
        plugin_name: &str,
        plugin_hash: &ContentHash,
        now_ms: i64,
    ) -> Result<Registered, RegistryError> {
        check_id("image id", id)?;
        check_id("plugin name", plugin_name)?;
        let params = canonical_params(params_json)?;
        self.write_one(|tx| {
            let existing = tx
                .row_cached(
                    "SELECT source_blob, params_json, plugin_name, plugin_hash
                     FROM images WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            blob_at(r, 0)?,
                            r.get::<_, String>(1)?,
                            r.get(2)?,
                            blob_at(r, 3)?,
                        ))
                    },
                )
                .optional()
                .ctx("registering")?;
            if let Some((src, p, pname, phash)) = existing {
                return Ok(
                    if &src == source_blob
                        && p == params
                        && pname == plugin_name
                        && &phash == plugin_hash
                    {
                        Registered::AlreadyRegistered
                    } else {
                        Registered::Conflict {
                            existing_source: src,
                            existing_params_json: p,
                            existing_plugin_name: pname,
                            existing_plugin_hash: phash,
                        }
                    },
                );
            }
            tx.exec_cached(
                "INSERT INTO images (id, status, source_blob, source_size, params_json,
                     plugin_name, plugin_hash, attempts, created_at, updated_at)
                 VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)",
                params![
                    id,
                    source_blob.to_hex(),
                    source_size as i64,
                    params,
                    plugin_name,
                    plugin_hash.to_hex(),
                    now_ms
                ],
            )
            .ctx("registering")?;
            Ok(Registered::New)
        })
    }

    /// Leases the oldest `pending` image to `worker` for `ttl_ms`, or `None` when nothing waits.
    fn lease(
        &self,
        worker: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Lease>, RegistryError> {
        check_id("worker name", worker)?;
        self.write(|tx| {
            let next = tx
                .row_cached(
                    "SELECT id FROM images WHERE status = 'pending'
                     ORDER BY created_at, rowid LIMIT 1",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .ctx("leasing")?;
            let Some(id) = next else { return Ok(None) };
            let token = next_token(tx)?;
            let lease_id = format!("lease-{token}");
            let deadline_ms = now_ms.saturating_add(ttl_ms);
            // No attempt is spent yet: the worker may never receive this grant.
            let lease = tx
                .row_cached(
                    "UPDATE images SET status = 'leased', lease_id = ?2, fencing_token = ?3,
                         lease_deadline = ?4, leased_by = ?5, lease_ran = 0, updated_at = ?6
                     WHERE id = ?1 AND status = 'pending'
                     RETURNING id, source_blob, source_size, params_json, plugin_name,
                         plugin_hash, attempts",
                    params![id, lease_id, token as i64, deadline_ms, worker, now_ms],
                    |r| {
                        Ok(Lease {
                            image_id: image_id_at(r, 0)?,
                            lease_id: lease_id.clone(),
                            token,
                            deadline_ms,
                            source_blob: blob_at(r, 1)?,
                            source_size: r.get::<_, i64>(2)? as u64,
                            params_json: r.get(3)?,
                            plugin_name: r.get(4)?,
                            plugin_hash: blob_at(r, 5)?,
                            attempt: r.get::<_, u32>(6)?.saturating_add(1),
                        })
                    },
                )
                .ctx("leasing")?;
            Ok(Some(lease))
        })
    }

    /// Extends the current lease (same token, still `leased`, deadline not passed) to
    /// `now + ttl_ms`; returns the new deadline. The first extend of a lease spends its attempt
    /// (the worker extends when the plugin starts).
    fn extend(
        &self,
        image_id: &str,
        token: u64,
        worker: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<i64, RegistryError> {
        self.write_one(|tx| {
            let deadline = now_ms.saturating_add(ttl_ms);
            let changed = tx
                .exec_cached(
                    "UPDATE images SET lease_deadline = ?2, updated_at = ?3,
                         attempts = attempts + 1 - lease_ran, lease_ran = 1
                     WHERE id = ?1 AND status = 'leased' AND fencing_token = ?4
                         AND leased_by = ?5 AND lease_deadline >= ?3",
                    params![image_id, deadline, now_ms, token as i64, worker],
                )
                .ctx("extending a lease")?;
            if changed == 0 {
                return Err(refusal(tx, image_id, token, worker, now_ms));
            }
            Ok(deadline)
        })
    }

    /// Records the thumbnail of the current lease: the image becomes `done`. A stale or expired
    /// lease is refused with `Stale` and changes nothing.
    fn complete(
        &self,
        image_id: &str,
        token: u64,
        thumb: &ThumbInfo,
        worker: &str,
        now_ms: i64,
    ) -> Result<i64, RegistryError> {
        check_id("worker name", worker)?;
        self.write_one(|tx| {
            let created = tx
                .row_cached(
                    "UPDATE images SET status = 'done', lease_id = NULL, fencing_token = NULL,
                         lease_deadline = NULL, leased_by = NULL,
                         thumb_blob = ?2, thumb_size = ?3, thumb_width = ?4, thumb_height = ?5,
                         thumb_format = ?6, made_by = ?7, updated_at = ?8, finished_at = ?8,
                         attempts = attempts + 1 - lease_ran, lease_ran = 0
                     WHERE id = ?1 AND status = 'leased' AND fencing_token = ?9
                         AND leased_by = ?7 AND lease_deadline >= ?8
                     RETURNING created_at",
                    params![
                        image_id,
                        thumb.blob.to_hex(),
                        thumb.size as i64,
                        thumb.width,
                        thumb.height,
                        thumb.format,
                        worker,
                        now_ms,
                        token as i64
                    ],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .ctx("completing")?;
            created.ok_or_else(|| refusal(tx, image_id, token, worker, now_ms))
        })
    }

    /// Records a failure of the current lease. `attempted`: the plugin ran, so the lease spends
    /// its attempt (if an extend has not already); otherwise (a task given back unrun) any
    /// attempt the lease spent is given back. Not retryable: `failed` at once. Retryable: back
    /// to `pending`, unless the image has had `max_attempts` attempts, then `failed`. Returns
    /// the new status.
    #[allow(clippy::too_many_arguments)]
    fn fail(
        &self,
        image_id: &str,
        token: u64,
        kind: &str,
        message: &str,
        retryable: bool,
        attempted: bool,
        max_attempts: u32,
        now_ms: i64,
    ) -> Result<Status, RegistryError> {
        let kind = cdn_proto::error_text(kind);
        let message = cdn_proto::error_text(message);
        self.write(|tx| {
            let before = check_current_lease(tx, image_id, token, None, now_ms)?;
            let ran = lease_ran(tx, image_id)?;
            let out = rules::fail_outcome(before, ran, attempted, retryable, max_attempts, message);
            let (attempts, status, message) = (out.attempts, out.status, out.message);
            set_attempts(tx, image_id, attempts)?;
            release(tx, image_id, status, &kind, &message, now_ms)?;
            Ok(status)
        })
    }

    /// Ends a lease whose grant never reached its worker (the poll was abandoned as the lease
    /// was taken): the image is `pending` again with nothing spent.
    fn release_undelivered(
        &self,
        image_id: &str,
        token: u64,
        now_ms: i64,
    ) -> Result<bool, RegistryError> {
        self.write(|tx| {
            let current: Option<i64> = tx
                .row_cached(
                    "SELECT fencing_token FROM images WHERE id = ?1 AND status = 'leased'
                         AND lease_ran = 0",
                    [image_id],
                    |r| r.get(0),
                )
                .optional()
                .ctx("releasing an undelivered lease")?
                .flatten();
            if current != Some(token as i64) {
                return Ok(false);
            }
            tx.exec_cached(
                "UPDATE images SET status = 'pending', lease_id = NULL, fencing_token = NULL,
                     lease_deadline = NULL, leased_by = NULL, updated_at = ?2
                 WHERE id = ?1",
                params![image_id, now_ms],
            )
            .ctx("releasing an undelivered lease")?;
            Ok(true)
        })
    }

    /// Puts `failed` images back to `pending` with their attempts reset: `ids`, or every failed
    /// image when `all_failed`. Returns the ids re-queued and, for the others, why not.
    fn retry(
        &self,
        ids: &[String],
        all_failed: bool,
        now_ms: i64,
    ) -> Result<Retried, RegistryError> {
        self.write(|tx| {
            let mut targets: Vec<String> = ids.to_vec();
            if all_failed {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT id FROM images WHERE status = 'failed' ORDER BY created_at, rowid",
                    )
                    .ctx("re-queueing failed images")?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .ctx("re-queueing failed images")?;
                for id in rows {
                    let id = id.ctx("re-queueing failed images")?;
                    if !targets.contains(&id) {
                        targets.push(id);
                    }
                }
            }
            let mut retried = Vec::new();
            let mut not = Vec::new();
            for id in targets {
                let status = tx
                    .row_cached("SELECT status FROM images WHERE id = ?1", [&id], |r| {
                        status_at(r, 0)
                    })
                    .optional()
                    .ctx("re-queueing failed images")?;
                match status {
                    None => not.push((id, "not_found".to_string())),
                    Some(Status::Failed) => {
                        tx.exec_cached(
                            "UPDATE images SET status = 'pending', attempts = 0, lease_ran = 0,
                                 finished_at = NULL, updated_at = ?2
                             WHERE id = ?1",
                            params![id, now_ms],
                        )
                        .ctx("re-queueing failed images")?;
                        retried.push(id);
                    }
                    Some(other) => not.push((id, other.as_str().to_string())),
                }
            }
            Ok((retried, not))
        })
    }

    /// How many leases `worker` holds now.
    fn leases_held(&self, worker: &str) -> Result<u64, RegistryError> {
        let conn = self.lock()?;
        conn.row_cached(
            "SELECT COUNT(*) FROM images WHERE status = 'leased' AND leased_by = ?1",
            [worker],
            |r| r.get::<_, i64>(0),
        )
        .ctx("counting leases")
        .map(|n| n.max(0) as u64)
    }

    /// Puts every lease past its deadline (`deadline < now`) back to `pending`, or `failed` when
    /// the image has had `max_attempts` attempts. A lease whose worker never reported the plugin
    /// running spent no attempt. Returns the ids it touched.
    fn expire(&self, now_ms: i64, max_attempts: u32) -> Result<Vec<ImageId>, RegistryError> {
        self.write(|tx| {
            let expired = leased_rows(tx, Some(now_ms))?;
            for (id, attempts, ran) in &expired {
                let (status, message) = rules::expiry_outcome(*attempts, *ran, max_attempts);
                release(
                    tx,
                    id.as_str(),
                    status,
                    rules::EXPIRED_KIND,
                    &message,
                    now_ms,
                )?;
            }
            Ok(expired.into_iter().map(|(id, _, _)| id).collect())
        })
    }

    /// At start: every `leased` image goes back to `pending` (its worker may be gone; a late
    /// completion is refused by the token check). Returns the ids it touched.
    fn recover(&self, now_ms: i64) -> Result<Vec<ImageId>, RegistryError> {
        self.write(|tx| {
            let leased = leased_rows(tx, None)?;
            for (id, attempts, ran) in &leased {
                // A restart is the master's doing, not the image's: the attempt is given back.
                set_attempts(tx, id.as_str(), attempts.saturating_sub(u32::from(*ran)))?;
                release(
                    tx,
                    id.as_str(),
                    Status::Pending,
                    rules::RESTART_KIND,
                    rules::RESTART_MESSAGE,
                    now_ms,
                )?;
            }
            Ok(leased.into_iter().map(|(id, _, _)| id).collect())
        })
    }

    fn get(&self, id: &str) -> Result<Option<ImageView>, RegistryError> {
        let conn = self.lock()?;
        conn.row_cached(
            &format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?1"),
            [id],
            view_from_row,
        )
        .optional()
        .ctx("reading an image")
    }

    fn contains(&self, id: &str) -> Result<bool, RegistryError> {
        let conn = self.lock()?;
        conn.row_cached("SELECT 1 FROM images WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .ctx("looking an image up")
            .map(|found| found.is_some())
    }

    /// One page of at most `limit` images (or those with `status`), oldest first, after the
    /// cursor `after` (`(created_at, rowid)` of the last image of the previous page); and the
    /// cursor of the next page, if there may be one. The order is `(created_at, rowid)`, a
    /// total order, so no image is listed twice or skipped.
    fn list_page(
        &self,
        status: Option<Status>,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<(Vec<ImageView>, Option<ListCursor>), RegistryError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {IMAGE_COLUMNS}, rowid FROM images
                 WHERE (?1 IS NULL OR status = ?1) AND (created_at, rowid) > (?2, ?3)
                 ORDER BY created_at, rowid LIMIT ?4"
            ))
            .ctx("listing images")?;
        let (after_created, after_row) = after.unwrap_or((i64::MIN, i64::MIN));
        let rows = stmt
            .query_map(
                params![
                    status.map(Status::as_str),
                    after_created,
                    after_row,
                    i64::from(limit)
                ],
                |r| {
                    Ok((
                        view_from_row(r)?,
                        (r.get::<_, i64>(18)?, r.get::<_, i64>(21)?),
                    ))
                },
            )
            .ctx("listing images")?;
        let page = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing images")?;
        let next = if page.len() as u64 >= u64::from(limit) {
            page.last().map(|(_, rowid)| *rowid)
        } else {
            None
        };
        Ok((page.into_iter().map(|(v, _)| v).collect(), next))
    }

    /// The `limit` images in `status` that changed last (finished, else updated), newest first:
    /// what the status page shows, without reading the whole registry.
    fn recent(&self, status: Status, limit: u32) -> Result<Vec<ImageView>, RegistryError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {IMAGE_COLUMNS} FROM images WHERE status = ?1
                 ORDER BY COALESCE(finished_at, updated_at) DESC, rowid DESC LIMIT ?2"
            ))
            .ctx("listing recent images")?;
        let rows = stmt
            .query_map(params![status.as_str(), i64::from(limit)], view_from_row)
            .ctx("listing recent images")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing recent images")
    }

    fn counts(&self) -> Result<Counts, RegistryError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare_cached("SELECT status, COUNT(*) FROM images GROUP BY status")
            .ctx("counting images")?;
        let rows = stmt
            .query_map([], |r| Ok((status_at(r, 0)?, r.get::<_, i64>(1)? as u64)))
            .ctx("counting images")?;
        let mut counts = Counts::default();
        for row in rows {
            let (status, n) = row.ctx("counting images")?;
            match status {
                Status::Pending => counts.pending = n,
                Status::Leased => counts.leased = n,
                Status::Done => counts.done = n,
                Status::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// Adds a named plugin, or points an existing name at a new hash.
    fn add_plugin(&self, name: &str, hash: &ContentHash, now_ms: i64) -> Result<(), RegistryError> {
        check_id("plugin name", name)?;
        self.write(|tx| {
            tx.exec_cached(
                "INSERT INTO plugins (name, hash, added_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, added_at = excluded.added_at",
                params![name, hash.to_hex(), now_ms],
            )
            .ctx("adding a plugin")?;
            Ok(())
        })
    }

    fn plugin(&self, name: &str) -> Result<Option<ContentHash>, RegistryError> {
        let conn = self.lock()?;
        conn.row_cached("SELECT hash FROM plugins WHERE name = ?1", [name], |r| {
            blob_at(r, 0)
        })
        .optional()
        .ctx("reading a plugin")
    }

    /// All plugins, by name.
    fn plugins(&self) -> Result<Vec<(String, ContentHash)>, RegistryError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare_cached("SELECT name, hash FROM plugins ORDER BY name")
            .ctx("listing plugins")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, blob_at(r, 1)?)))
            .ctx("listing plugins")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing plugins")
    }

    /// Refuses (with [`RegistryError::Stale`]) a lease operation by `worker` that does not carry
    /// the current, unexpired lease of `image_id`. Writes nothing: the master calls it before it
    /// stores a thumbnail, so a stale completion leaves no blob behind; `extend`, `complete` and
    /// `fail` check again inside their transaction.
    fn check_lease(
        &self,
        image_id: &str,
        token: u64,
        worker: &str,
        now_ms: i64,
    ) -> Result<(), RegistryError> {
        let conn = self.lock()?;
        check_current_lease(&conn, image_id, token, Some(worker), now_ms).map(|_| ())
    }
}

/// Increments and returns the persisted fencing-token counter (inside the caller's transaction).
fn next_token(tx: &Connection) -> Result<u64, RegistryError> {
    tx.row_cached(
        "UPDATE meta SET value = value + 1 WHERE key = 'fencing_token' RETURNING value",
        [],
        |r| r.get::<_, i64>(0),
    )
    .ctx("taking a fencing token")
    .map(|t| t as u64)
}

/// Why a one-statement lease update changed nothing: the row read again, judged.
fn refusal(
    tx: &Connection,
    image_id: &str,
    token: u64,
    worker: &str,
    now_ms: i64,
) -> RegistryError {
    let judged = check_current_lease(tx, image_id, token, Some(worker), now_ms);
    rules::refusal(image_id, token, judged)
}

/// Reads the lease of `image_id` and judges `token` by it ([`rules::judge_lease`]); returns the
/// image's attempts.
fn check_current_lease(
    conn: &Connection,
    image_id: &str,
    token: u64,
    worker: Option<&str>,
    now_ms: i64,
) -> Result<u32, RegistryError> {
    let row = conn
        .row_cached(
            "SELECT status, fencing_token, lease_deadline, attempts, leased_by
             FROM images WHERE id = ?1",
            [image_id],
            |r| {
                Ok(LeaseRow {
                    status: status_at(r, 0)?,
                    token: r.get(1)?,
                    deadline_ms: r.get(2)?,
                    attempts: r.get(3)?,
                    holder: r.get(4)?,
                })
            },
        )
        .optional()
        .ctx("checking a lease")?;
    rules::judge_lease(image_id, token, worker, now_ms, row)
}

/// The `leased` images (only those whose deadline is before `expired_at`, if given) with their
/// attempts and whether the lease spent one.
fn leased_rows(
    tx: &Connection,
    expired_at: Option<i64>,
) -> Result<Vec<(ImageId, u32, bool)>, RegistryError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, attempts, lease_ran FROM images
             WHERE status = 'leased' AND (?1 IS NULL OR lease_deadline < ?1)
             ORDER BY created_at, rowid",
        )
        .ctx("finding leases")?;
    let rows = stmt
        .query_map([expired_at], |r| {
            Ok((
                image_id_at(r, 0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, i64>(2)? != 0,
            ))
        })
        .ctx("finding leases")?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .ctx("finding leases")
}

/// Whether the current lease of `image_id` has spent its attempt.
fn lease_ran(tx: &Connection, image_id: &str) -> Result<bool, RegistryError> {
    tx.row_cached(
        "SELECT lease_ran FROM images WHERE id = ?1",
        [image_id],
        |r| r.get::<_, i64>(0),
    )
    .ctx("reading a lease")
    .map(|v| v != 0)
}

fn set_attempts(tx: &Connection, image_id: &str, attempts: u32) -> Result<(), RegistryError> {
    tx.exec_cached(
        "UPDATE images SET attempts = ?2 WHERE id = ?1",
        params![image_id, attempts],
    )
    .ctx("counting attempts")?;
    Ok(())
}

/// Ends a lease: the image becomes `status` (pending or failed) with this last error.
fn release(
    tx: &Connection,
    image_id: &str,
    status: Status,
    kind: &str,
    message: &str,
    now_ms: i64,
) -> Result<(), RegistryError> {
    let finished = (status == Status::Failed).then_some(now_ms);
    tx.exec_cached(
        "UPDATE images SET status = ?2, lease_id = NULL, fencing_token = NULL,
             lease_deadline = NULL, leased_by = NULL, last_error_kind = ?3, last_error_msg = ?4,
             updated_at = ?5, finished_at = ?6, lease_ran = 0
         WHERE id = ?1",
        params![image_id, status.as_str(), kind, message, now_ms, finished],
    )
    .ctx("ending a lease")?;
    Ok(())
}
