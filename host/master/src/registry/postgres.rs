//! The PostgreSQL registry backend: one database that any number of masters share.
//!
//! - **Schema**: versioned migrations ([`MIGRATIONS`]) applied at connect under an advisory
//!   lock (two masters starting together do not race); a database from a newer build is
//!   refused.
//! - **Leases**: the oldest pending image is taken with `FOR UPDATE SKIP LOCKED` (masters never
//!   wait on each other's picks and never take the same image); fencing tokens come from the
//!   sequence `cdn_fencing_token`, so they grow across masters and restarts.
//! - **Lease checks**: `extend` and `complete` are one `UPDATE` whose `WHERE` is the lease rule
//!   (status, token, worker, deadline); only a refusal reads the row to say why
//!   ([`rules::refusal`]).
//! - **Expiry**: one `UPDATE` that any master may run at any time.
//! - **Wake-ups**: a write that makes work `pending` sends `NOTIFY cdn_work` in its own
//!   transaction; [`RegistryBackend::watch_work`] keeps a `LISTEN` connection (reconnecting
//!   with back-off) so a master's long-polls wake when another master registered work.
//!
//! Every write is its own transaction, committed before the call returns (PostgreSQL's own
//! group commit shares the WAL flushes). Calls block: they run on the backend's own runtime
//! ([`Bridge`]).

use super::rules::{self, canonical_params, check_id, ImageRow, LeaseRow, IMAGE_COLUMNS};
use super::{
    Counts, Lease, ListCursor, Registered, RegistryBackend, RegistryError, Retried, Status,
    ThumbInfo, WorkWake,
};
use crate::bridge::Bridge;
use crate::group_commit::CommitStats;
use crate::ids::ImageId;
use cdn_common::ContentHash;
use cdn_proto::ImageView;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls, Row};

/// The schema, one entry per version (entry `i` makes version `i + 1`). Only ever append.
const MIGRATIONS: &[&str] = &["
CREATE SEQUENCE cdn_fencing_token;
CREATE TABLE images (
    id              TEXT PRIMARY KEY,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'done', 'failed')),
    source_blob     TEXT NOT NULL,
    source_size     BIGINT NOT NULL,
    params_json     TEXT NOT NULL,
    plugin_name     TEXT NOT NULL,
    plugin_hash     TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error_kind TEXT,
    last_error_msg  TEXT,
    lease_id        TEXT,
    fencing_token   BIGINT,
    lease_deadline  BIGINT,
    leased_by       TEXT,
    lease_ran       BOOLEAN NOT NULL DEFAULT false,
    thumb_blob      TEXT,
    thumb_size      BIGINT,
    thumb_width     BIGINT,
    thumb_height    BIGINT,
    thumb_format    TEXT,
    made_by         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    CHECK ((status = 'leased') = (lease_id IS NOT NULL AND fencing_token IS NOT NULL
                                  AND lease_deadline IS NOT NULL AND leased_by IS NOT NULL))
);
CREATE INDEX images_queue ON images (status, created_at, seq);
CREATE INDEX images_leases ON images (leased_by) WHERE status = 'leased';
CREATE INDEX images_deadlines ON images (lease_deadline) WHERE status = 'leased';
CREATE TABLE plugins (
    name     TEXT PRIMARY KEY,
    hash     TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
"];

/// The channel of "work may be pending" notifications.
const WORK_CHANNEL: &str = "cdn_work";
/// The advisory lock migrations run under ("cdn-reg" in ASCII).
const MIGRATION_LOCK: i64 = 0x63_64_6e_2d_72_65_67;
/// Connections per master.
const POOL_SIZE: usize = 16;

/// `url` without its password, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    match auth {
        Some(auth) => {
            let user = auth.split_once(':').map_or(auth, |(user, _)| user);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, RegistryError>;
}

impl<T> Ctx<T> for Result<T, tokio_postgres::Error> {
    fn ctx(self, context: &'static str) -> Result<T, RegistryError> {
        self.map_err(|source| RegistryError::Postgres { context, source })
    }
}

impl<T> Ctx<T> for Result<T, deadpool_postgres::PoolError> {
    fn ctx(self, context: &'static str) -> Result<T, RegistryError> {
        self.map_err(|source| RegistryError::Pool { context, source })
    }
}

fn bad_row(why: String) -> RegistryError {
    RegistryError::BadRow(why)
}

fn hash_at(row: &Row, idx: usize) -> Result<ContentHash, RegistryError> {
    let text: String = row.try_get(idx).ctx("reading a row")?;
    text.parse()
        .map_err(|e| bad_row(format!("a stored hash {text:?}: {e}")))
}

fn image_row(row: &Row) -> Result<ImageRow, RegistryError> {
    let get = |e| RegistryError::Postgres {
        context: "reading an image",
        source: e,
    };
    Ok(ImageRow {
        id: row.try_get(0).map_err(get)?,
        status: row.try_get(1).map_err(get)?,
        source_blob: row.try_get(2).map_err(get)?,
        source_size: row.try_get(3).map_err(get)?,
        params_json: row.try_get(4).map_err(get)?,
        plugin_name: row.try_get(5).map_err(get)?,
        plugin_hash: row.try_get(6).map_err(get)?,
        attempts: i64::from(row.try_get::<_, i32>(7).map_err(get)?),
        last_error_kind: row.try_get(8).map_err(get)?,
        last_error_msg: row.try_get(9).map_err(get)?,
        lease_deadline: row.try_get(10).map_err(get)?,
        leased_by: row.try_get(11).map_err(get)?,
        thumb_blob: row.try_get(12).map_err(get)?,
        thumb_size: row.try_get(13).map_err(get)?,
        thumb_width: row.try_get(14).map_err(get)?,
        thumb_height: row.try_get(15).map_err(get)?,
        thumb_format: row.try_get(16).map_err(get)?,
        made_by: row.try_get(17).map_err(get)?,
        created_at: row.try_get(18).map_err(get)?,
        updated_at: row.try_get(19).map_err(get)?,
        finished_at: row.try_get(20).map_err(get)?,
    })
}

fn view(row: &Row) -> Result<ImageView, RegistryError> {
    image_row(row)?.into_view().map_err(bad_row)
}

fn status_of(text: &str) -> Result<Status, RegistryError> {
    Status::parse(text).ok_or_else(|| bad_row(format!("unknown status {text:?}")))
}

fn attempts_of(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn as_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The registry in a PostgreSQL database. `Sync`: share it behind an `Arc`.
pub struct PostgresRegistry {
    place: String,
    config: tokio_postgres::Config,
    pool: Pool,
    writes: AtomicU64,
    /// The `LISTEN` tasks started by `watch_work`, stopped on drop.
    listeners: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Last, so that the tasks above are aborted before the runtime goes.
    bridge: Bridge,
}

impl std::fmt::Debug for PostgresRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresRegistry")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresRegistry {
    fn drop(&mut self) {
        if let Ok(listeners) = self.listeners.lock() {
            for task in listeners.iter() {
                task.abort();
            }
        }
    }
}

impl PostgresRegistry {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`) and
    /// applies pending migrations. An unreachable server, a missing database or a schema newer
    /// than this build is an error here, not at the first request.
    pub fn connect(url: &str) -> Result<PostgresRegistry, RegistryError> {
        let place = redact(url);
        let config: tokio_postgres::Config = url.parse().map_err(|e| RegistryError::Spec {
            spec: place.clone(),
            why: format!("not a PostgreSQL URL: {e}"),
        })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| RegistryError::Spec {
                spec: place.clone(),
                why: format!("making the connection pool: {e}"),
            })?;
        let registry = PostgresRegistry {
            place: place.clone(),
            config,
            pool,
            writes: AtomicU64::new(0),
            listeners: Mutex::new(Vec::new()),
            bridge: Bridge::new("postgres", 2)?,
        };
        let pool = registry.pool.clone();
        registry
            .bridge
            .run(async move { migrate(&pool, &place).await })??;
        Ok(registry)
    }

    /// Runs a read on the backend's runtime.
    fn read<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, RegistryError>> + Send + 'static,
    {
        self.bridge.run(f)?
    }

    /// Runs a write (one transaction, committed when `f` returns `Ok`) on the backend's runtime.
    fn write<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, RegistryError>> + Send + 'static,
    {
        let out = self.bridge.run(f)?;
        if out.is_ok() {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        out
    }
}

/// Brings the schema to the newest version this build knows, under an advisory lock.
async fn migrate(pool: &Pool, place: &str) -> Result<(), RegistryError> {
    let mut client = pool.get().await.map_err(|e| RegistryError::Spec {
        spec: place.to_string(),
        why: format!("cannot connect: {e}"),
    })?;
    let tx = client.transaction().await.ctx("migrating the schema")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .ctx("locking the schema")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS cdn_schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .await
    .ctx("making the migrations table")?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM cdn_schema_migrations",
            &[],
        )
        .await
        .ctx("reading the schema version")?
        .get(0);
    let known = MIGRATIONS.len();
    let found_at = usize::try_from(found).unwrap_or(0);
    if found_at > known {
        return Err(RegistryError::SchemaVersion {
            place: place.to_string(),
            found: i64::from(found),
            known: known as i64,
        });
    }
    for (at, sql) in MIGRATIONS.iter().enumerate().skip(found_at) {
        let version = i32::try_from(at + 1).unwrap_or(i32::MAX);
        tx.batch_execute(sql).await.ctx("applying a migration")?;
        tx.execute(
            "INSERT INTO cdn_schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&version, &cdn_common::now_ms()],
        )
        .await
        .ctx("recording a migration")?;
        tracing::info!(place, version, "registry schema migrated");
    }
    tx.commit().await.ctx("migrating the schema")
}

/// Wakes every master's long-polls when this transaction commits.
async fn notify_work(tx: &impl GenericClient) -> Result<(), RegistryError> {
    tx.execute("SELECT pg_notify($1, '')", &[&WORK_CHANNEL])
        .await
        .ctx("notifying other masters")
        .map(|_| ())
}

/// Reads the lease columns of `image_id` (locking the row when `lock`).
async fn lease_row(
    client: &impl GenericClient,
    image_id: &str,
    lock: bool,
) -> Result<Option<(LeaseRow, bool)>, RegistryError> {
    let sql = if lock {
        "SELECT status, fencing_token, lease_deadline, attempts, leased_by, lease_ran
         FROM images WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT status, fencing_token, lease_deadline, attempts, leased_by, lease_ran
         FROM images WHERE id = $1"
    };
    let Some(row) = client
        .query_opt(sql, &[&image_id])
        .await
        .ctx("checking a lease")?
    else {
        return Ok(None);
    };
    let status: String = row.get(0);
    Ok(Some((
        LeaseRow {
            status: status_of(&status)?,
            token: row.get(1),
            deadline_ms: row.get(2),
            attempts: attempts_of(row.get(3)),
            holder: row.get(4),
        },
        row.get(5),
    )))
}

/// Why a one-statement lease update changed nothing: the row read afterwards, judged.
async fn refusal(
    client: &impl GenericClient,
    image_id: &str,
    token: u64,
    worker: &str,
    now_ms: i64,
) -> RegistryError {
    let row = match lease_row(client, image_id, false).await {
        Ok(row) => row.map(|(row, _)| row),
        Err(e) => return e,
    };
    rules::refusal(
        image_id,
        token,
        rules::judge_lease(image_id, token, Some(worker), now_ms, row),
    )
}

/// Ends a lease in `tx`: the image becomes `status` (pending or failed) with this last error.
async fn release(
    tx: &impl GenericClient,
    image_id: &str,
    status: Status,
    kind: &str,
    message: &str,
    now_ms: i64,
) -> Result<(), RegistryError> {
    let finished = (status == Status::Failed).then_some(now_ms);
    tx.execute(
        "UPDATE images SET status = $2, lease_id = NULL, fencing_token = NULL,
             lease_deadline = NULL, leased_by = NULL, last_error_kind = $3, last_error_msg = $4,
             updated_at = $5, finished_at = $6, lease_ran = false
         WHERE id = $1",
        &[
            &image_id,
            &status.as_str(),
            &kind,
            &message,
            &now_ms,
            &finished,
        ],
    )
    .await
    .ctx("ending a lease")?;
    Ok(())
}

impl RegistryBackend for PostgresRegistry {
    fn describe(&self) -> String {
        self.place.clone()
    }

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
        let (pool, id, source_blob, plugin_name, plugin_hash) = (
            self.pool.clone(),
            id.to_string(),
            *source_blob,
            plugin_name.to_string(),
            *plugin_hash,
        );
        self.write(async move {
            let mut client = pool.get().await.ctx("registering")?;
            let tx = client.transaction().await.ctx("registering")?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO images (id, status, source_blob, source_size, params_json,
                         plugin_name, plugin_hash, attempts, created_at, updated_at)
                     VALUES ($1, 'pending', $2, $3, $4, $5, $6, 0, $7, $7)
                     ON CONFLICT (id) DO NOTHING",
                )
                .await
                .ctx("registering")?;
            let inserted = tx
                .execute(
                    &insert,
                    &[
                        &id,
                        &source_blob.to_hex(),
                        &as_i64(source_size),
                        &params,
                        &plugin_name,
                        &plugin_hash.to_hex(),
                        &now_ms,
                    ],
                )
                .await
                .ctx("registering")?;
            if inserted == 1 {
                notify_work(&tx).await?;
                tx.commit().await.ctx("registering")?;
                return Ok(Registered::New);
            }
            let row = tx
                .query_one(
                    "SELECT source_blob, params_json, plugin_name, plugin_hash
                     FROM images WHERE id = $1",
                    &[&id],
                )
                .await
                .ctx("registering")?;
            let (src, p, pname, phash) = (
                hash_at(&row, 0)?,
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                hash_at(&row, 3)?,
            );
            Ok(
                if src == source_blob && p == params && pname == plugin_name && phash == plugin_hash
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
            )
        })
    }

    fn lease(
        &self,
        worker: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Lease>, RegistryError> {
        check_id("worker name", worker)?;
        let (pool, worker) = (self.pool.clone(), worker.to_string());
        let deadline_ms = now_ms.saturating_add(ttl_ms);
        self.write(async move {
            let client = pool.get().await.ctx("leasing")?;
            // One statement: pick (skipping rows other masters are taking), take a token, lease.
            let take = client
                .prepare_cached(
                    "WITH next AS (
                         SELECT id FROM images WHERE status = 'pending'
                         ORDER BY created_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED
                     ), token AS (
                         SELECT nextval('cdn_fencing_token') AS token FROM next
                     )
                     UPDATE images SET status = 'leased', fencing_token = token.token,
                         lease_id = 'lease-' || token.token, lease_deadline = $2,
                         leased_by = $1, lease_ran = false, updated_at = $3
                     FROM next, token WHERE images.id = next.id
                     RETURNING images.id, token.token, images.source_blob, images.source_size,
                         images.params_json, images.plugin_name, images.plugin_hash,
                         images.attempts",
                )
                .await
                .ctx("leasing")?;
            let Some(row) = client
                .query_opt(&take, &[&worker, &deadline_ms, &now_ms])
                .await
                .ctx("leasing")?
            else {
                return Ok(None);
            };
            let id: String = row.get(0);
            let token = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            Ok(Some(Lease {
                image_id: ImageId::parse(&id)
                    .map_err(|e| bad_row(format!("image id {id:?}: {e}")))?,
                lease_id: format!("lease-{token}"),
                token,
                deadline_ms,
                source_blob: hash_at(&row, 2)?,
                source_size: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                params_json: row.get(4),
                plugin_name: row.get(5),
                plugin_hash: hash_at(&row, 6)?,
                attempt: attempts_of(row.get(7)).saturating_add(1),
            }))
        })
    }

    fn extend(
        &self,
        image_id: &str,
        token: u64,
        worker: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<i64, RegistryError> {
        let (pool, image_id, worker) =
            (self.pool.clone(), image_id.to_string(), worker.to_string());
        let deadline = now_ms.saturating_add(ttl_ms);
        self.write(async move {
            let client = pool.get().await.ctx("extending a lease")?;
            let extend = client
                .prepare_cached(
                    "UPDATE images SET lease_deadline = $3, updated_at = $4,
                         attempts = attempts + CASE WHEN lease_ran THEN 0 ELSE 1 END,
                         lease_ran = true
                     WHERE id = $1 AND status = 'leased' AND fencing_token = $2
                         AND leased_by = $5 AND lease_deadline >= $4",
                )
                .await
                .ctx("extending a lease")?;
            let changed = client
                .execute(
                    &extend,
                    &[&image_id, &as_i64(token), &deadline, &now_ms, &worker],
                )
                .await
                .ctx("extending a lease")?;
            if changed == 0 {
                return Err(refusal(&client, &image_id, token, &worker, now_ms).await);
            }
            Ok(deadline)
        })
    }

    fn complete(
        &self,
        image_id: &str,
        token: u64,
        thumb: &ThumbInfo,
        worker: &str,
        now_ms: i64,
    ) -> Result<i64, RegistryError> {
        check_id("worker name", worker)?;
        let (pool, image_id, thumb, worker) = (
            self.pool.clone(),
            image_id.to_string(),
            thumb.clone(),
            worker.to_string(),
        );
        self.write(async move {
            let client = pool.get().await.ctx("completing")?;
            let complete = client
                .prepare_cached(
                    "UPDATE images SET status = 'done', lease_id = NULL, fencing_token = NULL,
                         lease_deadline = NULL, leased_by = NULL,
                         thumb_blob = $3, thumb_size = $4, thumb_width = $5, thumb_height = $6,
                         thumb_format = $7, made_by = $8, updated_at = $9, finished_at = $9,
                         attempts = attempts + CASE WHEN lease_ran THEN 0 ELSE 1 END,
                         lease_ran = false
                     WHERE id = $1 AND status = 'leased' AND fencing_token = $2
                         AND leased_by = $8 AND lease_deadline >= $9
                     RETURNING created_at",
                )
                .await
                .ctx("completing")?;
            let created = client
                .query_opt(
                    &complete,
                    &[
                        &image_id,
                        &as_i64(token),
                        &thumb.blob.to_hex(),
                        &as_i64(thumb.size),
                        &i64::from(thumb.width),
                        &i64::from(thumb.height),
                        &thumb.format,
                        &worker,
                        &now_ms,
                    ],
                )
                .await
                .ctx("completing")?;
            match created {
                Some(row) => Ok(row.get::<_, i64>(0)),
                None => Err(refusal(&client, &image_id, token, &worker, now_ms).await),
            }
        })
    }

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
        let (pool, image_id) = (self.pool.clone(), image_id.to_string());
        self.write(async move {
            let mut client = pool.get().await.ctx("recording a failure")?;
            let tx = client.transaction().await.ctx("recording a failure")?;
            let row = lease_row(&tx, &image_id, true).await?;
            let ran = row.as_ref().is_some_and(|(_, ran)| *ran);
            let before =
                rules::judge_lease(&image_id, token, None, now_ms, row.map(|(row, _)| row))?;
            let out = rules::fail_outcome(before, ran, attempted, retryable, max_attempts, message);
            tx.execute(
                "UPDATE images SET attempts = $2 WHERE id = $1",
                &[&image_id, &as_i32(out.attempts)],
            )
            .await
            .ctx("counting attempts")?;
            release(&tx, &image_id, out.status, &kind, &out.message, now_ms).await?;
            if out.status == Status::Pending {
                notify_work(&tx).await?;
            }
            tx.commit().await.ctx("recording a failure")?;
            Ok(out.status)
        })
    }

    fn release_undelivered(
        &self,
        image_id: &str,
        token: u64,
        now_ms: i64,
    ) -> Result<bool, RegistryError> {
        let (pool, image_id) = (self.pool.clone(), image_id.to_string());
        self.write(async move {
            let mut client = pool.get().await.ctx("releasing an undelivered lease")?;
            let tx = client
                .transaction()
                .await
                .ctx("releasing an undelivered lease")?;
            let changed = tx
                .execute(
                    "UPDATE images SET status = 'pending', lease_id = NULL, fencing_token = NULL,
                         lease_deadline = NULL, leased_by = NULL, updated_at = $3
                     WHERE id = $1 AND status = 'leased' AND NOT lease_ran
                         AND fencing_token = $2",
                    &[&image_id, &as_i64(token), &now_ms],
                )
                .await
                .ctx("releasing an undelivered lease")?;
            if changed > 0 {
                notify_work(&tx).await?;
            }
            tx.commit().await.ctx("releasing an undelivered lease")?;
            Ok(changed > 0)
        })
    }

    fn retry(
        &self,
        ids: &[String],
        all_failed: bool,
        now_ms: i64,
    ) -> Result<Retried, RegistryError> {
        let (pool, ids) = (self.pool.clone(), ids.to_vec());
        self.write(async move {
            let context = "re-queueing failed images";
            let mut client = pool.get().await.ctx(context)?;
            let tx = client.transaction().await.ctx(context)?;
            let mut targets = ids;
            if all_failed {
                let rows = tx
                    .query(
                        "SELECT id FROM images WHERE status = 'failed' ORDER BY created_at, seq",
                        &[],
                    )
                    .await
                    .ctx(context)?;
                for row in rows {
                    let id: String = row.get(0);
                    if !targets.contains(&id) {
                        targets.push(id);
                    }
                }
            }
            let (mut retried, mut not) = (Vec::new(), Vec::new());
            for id in targets {
                let status = tx
                    .query_opt("SELECT status FROM images WHERE id = $1 FOR UPDATE", &[&id])
                    .await
                    .ctx(context)?
                    .map(|row| status_of(row.get(0)))
                    .transpose()?;
                match status {
                    None => not.push((id, "not_found".to_string())),
                    Some(Status::Failed) => {
                        tx.execute(
                            "UPDATE images SET status = 'pending', attempts = 0, lease_ran = false,
                                 finished_at = NULL, updated_at = $2
                             WHERE id = $1",
                            &[&id, &now_ms],
                        )
                        .await
                        .ctx(context)?;
                        retried.push(id);
                    }
                    Some(other) => not.push((id, other.as_str().to_string())),
                }
            }
            if !retried.is_empty() {
                notify_work(&tx).await?;
            }
            tx.commit().await.ctx(context)?;
            Ok((retried, not))
        })
    }

    fn leases_held(&self, worker: &str) -> Result<u64, RegistryError> {
        let (pool, worker) = (self.pool.clone(), worker.to_string());
        self.read(async move {
            let client = pool.get().await.ctx("counting leases")?;
            let count = client
                .prepare_cached(
                    "SELECT COUNT(*) FROM images WHERE status = 'leased' AND leased_by = $1",
                )
                .await
                .ctx("counting leases")?;
            let n: i64 = client
                .query_one(&count, &[&worker])
                .await
                .ctx("counting leases")?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn expire(&self, now_ms: i64, max_attempts: u32) -> Result<Vec<ImageId>, RegistryError> {
        let pool = self.pool.clone();
        self.write(async move {
            let context = "expiring leases";
            let mut client = pool.get().await.ctx(context)?;
            let tx = client.transaction().await.ctx(context)?;
            // One statement (any master may run it at any time): the same outcome as
            // `rules::expiry_outcome`, with its messages passed in.
            let rows = tx
                .query(
                    "UPDATE images SET
                         status = CASE WHEN lease_ran AND attempts >= $2 THEN 'failed'
                                       ELSE 'pending' END,
                         last_error_kind = $3,
                         last_error_msg = CASE WHEN NOT lease_ran THEN $4
                             ELSE format($5, attempts, $2,
                                  CASE WHEN attempts >= $2 THEN $6 ELSE $7 END) END,
                         finished_at = CASE WHEN lease_ran AND attempts >= $2 THEN $1 END,
                         lease_id = NULL, fencing_token = NULL, lease_deadline = NULL,
                         leased_by = NULL, lease_ran = false, updated_at = $1
                     WHERE status = 'leased' AND lease_deadline < $1
                     RETURNING id, status",
                    &[
                        &now_ms,
                        &as_i32(max_attempts),
                        &rules::EXPIRED_KIND,
                        &rules::EXPIRED_UNRUN,
                        &rules::EXPIRED_DURING,
                        &rules::NO_ATTEMPTS_LEFT,
                        &rules::WILL_RETRY,
                    ],
                )
                .await
                .ctx(context)?;
            let mut ids = Vec::with_capacity(rows.len());
            let mut requeued = false;
            for row in &rows {
                let id: String = row.get(0);
                requeued |= row.get::<_, String>(1) == Status::Pending.as_str();
                ids.push(
                    ImageId::parse(&id).map_err(|e| bad_row(format!("image id {id:?}: {e}")))?,
                );
            }
            if requeued {
                notify_work(&tx).await?;
            }
            tx.commit().await.ctx(context)?;
            Ok(ids)
        })
    }

    /// Several masters share this registry, so a starting master cannot tell a dead master's
    /// lease from a live one's: it leaves every lease with its worker (which extends and
    /// completes it through any master); leases of workers that are gone expire at their
    /// deadline ([`RegistryBackend::expire`]).
    fn recover(&self, _now_ms: i64) -> Result<Vec<ImageId>, RegistryError> {
        Ok(Vec::new())
    }

    fn get(&self, id: &str) -> Result<Option<ImageView>, RegistryError> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.read(async move {
            let client = pool.get().await.ctx("reading an image")?;
            let get = client
                .prepare_cached(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"))
                .await
                .ctx("reading an image")?;
            client
                .query_opt(&get, &[&id])
                .await
                .ctx("reading an image")?
                .map(|row| view(&row))
                .transpose()
        })
    }

    fn contains(&self, id: &str) -> Result<bool, RegistryError> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.read(async move {
            let client = pool.get().await.ctx("looking an image up")?;
            let find = client
                .prepare_cached("SELECT 1 FROM images WHERE id = $1")
                .await
                .ctx("looking an image up")?;
            Ok(client
                .query_opt(&find, &[&id])
                .await
                .ctx("looking an image up")?
                .is_some())
        })
    }

    fn list_page(
        &self,
        status: Option<Status>,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<(Vec<ImageView>, Option<ListCursor>), RegistryError> {
        let pool = self.pool.clone();
        let (after_created, after_seq) = after.unwrap_or((i64::MIN, i64::MIN));
        self.read(async move {
            let client = pool.get().await.ctx("listing images")?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {IMAGE_COLUMNS}, seq FROM images
                         WHERE ($1::TEXT IS NULL OR status = $1) AND (created_at, seq) > ($2, $3)
                         ORDER BY created_at, seq LIMIT $4"
                    ),
                    &[
                        &status.map(Status::as_str),
                        &after_created,
                        &after_seq,
                        &i64::from(limit),
                    ],
                )
                .await
                .ctx("listing images")?;
            let mut page = Vec::with_capacity(rows.len());
            let mut last = None;
            for row in &rows {
                page.push(view(row)?);
                last = Some((row.get::<_, i64>(18), row.get::<_, i64>(21)));
            }
            let next = if page.len() as u64 >= u64::from(limit) {
                last
            } else {
                None
            };
            Ok((page, next))
        })
    }

    fn recent(&self, status: Status, limit: u32) -> Result<Vec<ImageView>, RegistryError> {
        let pool = self.pool.clone();
        self.read(async move {
            let client = pool.get().await.ctx("listing recent images")?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {IMAGE_COLUMNS} FROM images WHERE status = $1
                         ORDER BY COALESCE(finished_at, updated_at) DESC, seq DESC LIMIT $2"
                    ),
                    &[&status.as_str(), &i64::from(limit)],
                )
                .await
                .ctx("listing recent images")?;
            rows.iter().map(view).collect()
        })
    }

    fn counts(&self) -> Result<Counts, RegistryError> {
        let pool = self.pool.clone();
        self.read(async move {
            let client = pool.get().await.ctx("counting images")?;
            let rows = client
                .query("SELECT status, COUNT(*) FROM images GROUP BY status", &[])
                .await
                .ctx("counting images")?;
            let mut counts = Counts::default();
            for row in rows {
                let n = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
                match status_of(row.get(0))? {
                    Status::Pending => counts.pending = n,
                    Status::Leased => counts.leased = n,
                    Status::Done => counts.done = n,
                    Status::Failed => counts.failed = n,
                }
            }
            Ok(counts)
        })
    }

    fn add_plugin(&self, name: &str, hash: &ContentHash, now_ms: i64) -> Result<(), RegistryError> {
        check_id("plugin name", name)?;
        let (pool, name, hash) = (self.pool.clone(), name.to_string(), hash.to_hex());
        self.write(async move {
            let client = pool.get().await.ctx("adding a plugin")?;
            client
                .execute(
                    "INSERT INTO plugins (name, hash, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE
                         SET hash = excluded.hash, added_at = excluded.added_at",
                    &[&name, &hash, &now_ms],
                )
                .await
                .ctx("adding a plugin")?;
            Ok(())
        })
    }

    fn plugin(&self, name: &str) -> Result<Option<ContentHash>, RegistryError> {
        let (pool, name) = (self.pool.clone(), name.to_string());
        self.read(async move {
            let client = pool.get().await.ctx("reading a plugin")?;
            let get = client
                .prepare_cached("SELECT hash FROM plugins WHERE name = $1")
                .await
                .ctx("reading a plugin")?;
            client
                .query_opt(&get, &[&name])
                .await
                .ctx("reading a plugin")?
                .map(|row| hash_at(&row, 0))
                .transpose()
        })
    }

    fn plugins(&self) -> Result<Vec<(String, ContentHash)>, RegistryError> {
        let pool = self.pool.clone();
        self.read(async move {
            let client = pool.get().await.ctx("listing plugins")?;
            let rows = client
                .query("SELECT name, hash FROM plugins ORDER BY name", &[])
                .await
                .ctx("listing plugins")?;
            rows.iter()
                .map(|row| Ok((row.get(0), hash_at(row, 1)?)))
                .collect()
        })
    }

    fn check_lease(
        &self,
        image_id: &str,
        token: u64,
        worker: &str,
        now_ms: i64,
    ) -> Result<(), RegistryError> {
        let (pool, image_id, worker) =
            (self.pool.clone(), image_id.to_string(), worker.to_string());
        self.read(async move {
            let client = pool.get().await.ctx("checking a lease")?;
            let row = lease_row(&client, &image_id, false).await?;
            rules::judge_lease(
                &image_id,
                token,
                Some(&worker),
                now_ms,
                row.map(|(row, _)| row),
            )
            .map(|_| ())
        })
    }

    fn commit_stats(&self) -> CommitStats {
        // Every write is one transaction: one commit each.
        let writes = self.writes.load(Ordering::Relaxed);
        CommitStats {
            writes,
            commits: writes,
        }
    }

    fn watch_work(&self, wake: WorkWake) {
        let task = self.bridge.spawn(listen_for_work(
            self.config.clone(),
            self.place.clone(),
            wake,
        ));
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(task);
        }
    }
}

/// Keeps a connection that `LISTEN`s on [`WORK_CHANNEL`] and calls `wake` on each
/// notification; on connection loss, reconnects with back-off (100 ms doubling to 5 s) and
/// wakes once (a notification may have been missed meanwhile).
async fn listen_for_work(config: tokio_postgres::Config, place: String, wake: WorkWake) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
                let wake_on = wake.clone();
                // The connection must be driven for LISTEN to be sent; notifications arrive as
                // its async messages.
                let driver = tokio::spawn(async move {
                    let mut ready = Some(ready_rx);
                    loop {
                        let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                        match message {
                            Some(Ok(AsyncMessage::Notification(_))) => {
                                if ready.as_mut().is_none_or(|r| r.try_recv().is_ok()) {
                                    ready = None;
                                }
                                wake_on();
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => return e.to_string(),
                            None => return "the server closed the connection".to_string(),
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {WORK_CHANNEL}"))
                    .await
                {
                    Ok(()) => {
                        let _ = ready_tx.send(());
                        backoff = Duration::from_millis(100);
                        tracing::debug!(place = %place, "listening for work from other masters");
                        wake();
                        let why = driver
                            .await
                            .unwrap_or_else(|e| format!("listener task ended: {e}"));
                        tracing::warn!(place = %place, "work listener lost its connection: {why}");
                    }
                    Err(e) => {
                        driver.abort();
                        tracing::warn!(place = %place, "LISTEN {WORK_CHANNEL} failed: {e}");
                    }
                }
                drop(client);
            }
            Err(e) => tracing::warn!(place = %place, "work listener cannot connect: {e}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
