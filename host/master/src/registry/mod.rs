//! The master's registry: images, their leases, and the plugins it knows; behind one trait
//! ([`RegistryBackend`]) with two backends.
//!
//! - [`sqlite`] (the default): one file in the data folder, one master. Writes share commits
//!   ([`crate::group_commit`]).
//! - [`postgres`]: one PostgreSQL database that several masters share. Leases are taken with
//!   `FOR UPDATE SKIP LOCKED`, fencing tokens come from a sequence, expiry is one statement any
//!   master may run, and `LISTEN/NOTIFY` wakes the long-polls of every master.
//!
//! Both keep the same promises: a write is committed before it returns (acknowledged =
//! durable); each lease gets a fencing token larger than any before it, and `extend`,
//! `complete` and `fail` are accepted only from the current, unexpired lease; an expired lease
//! goes back to `pending` (or `failed` after `max_attempts` attempts); an attempt is spent only
//! when the plugin ran. What the two share that is not SQL lives in [`rules`]. Time is passed
//! in (`now_ms`, unix milliseconds) so that callers and tests control it.

mod postgres;
mod rules;
mod spec;
mod sqlite;

use crate::bridge::BridgeError;
use crate::group_commit::{CommitError, CommitStats};
use crate::ids::{IdError, ImageId};
use cdn_common::ContentHash;
use cdn_proto::ImageView;
use std::path::Path;
use std::sync::Arc;

pub use postgres::PostgresRegistry;
pub use spec::RegistrySpec;
pub use sqlite::SqliteRegistry;

/// Where an image is in its life: `pending -> leased -> done | failed`, and back to `pending` on
/// expiry or a retryable failure.
pub use cdn_proto::Status;

/// Images per status.
pub use cdn_proto::Counts;

/// What went wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid {what}: {source}")]
    InvalidId {
        what: &'static str,
        #[source]
        source: IdError,
    },
    #[error("params are not valid JSON: {0}")]
    InvalidParams(#[source] serde_json::Error),
    #[error("image {0} not found")]
    NotFound(String),
    #[error("stale lease on image {image} (token {token}): {reason}")]
    Stale {
        image: String,
        token: u64,
        reason: &'static str,
    },
    #[error("registry database: {context}: {source}")]
    Db {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("registry database (PostgreSQL): {context}: {source}")]
    Postgres {
        context: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("registry database (PostgreSQL): {context}: no connection: {source}")]
    Pool {
        context: &'static str,
        #[source]
        source: deadpool_postgres::PoolError,
    },
    #[error(
        "registry database at {place} is from schema version {found}, but this build knows \
         versions up to {known}: run a newer imagecdn"
    )]
    SchemaVersion {
        place: String,
        found: i64,
        known: i64,
    },
    #[error("registry database (PostgreSQL): a stored row is not what imagecdn writes: {0}")]
    BadRow(String),
    #[error("registry: {0}")]
    Bridge(#[from] BridgeError),
    #[error("registry {spec:?}: {why}")]
    Spec { spec: String, why: String },
    #[error("registry lock poisoned (a thread panicked while holding it)")]
    Poisoned,
    #[error("registry database: {0}")]
    Commit(#[from] CommitError),
}

/// The outcome of `register`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// A new image, now `pending`.
    New,
    /// The same id with the same source, params and plugin was already there: nothing changed.
    AlreadyRegistered,
    /// The id is taken by a different source, params or plugin: nothing changed.
    Conflict {
        existing_source: ContentHash,
        existing_params_json: String,
        existing_plugin_name: String,
        existing_plugin_hash: ContentHash,
    },
}

/// A task handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    pub image_id: ImageId,
    pub lease_id: String,
    pub token: u64,
    pub deadline_ms: i64,
    pub source_blob: ContentHash,
    pub source_size: u64,
    pub params_json: String,
    pub plugin_name: String,
    pub plugin_hash: ContentHash,
    /// The attempt this lease would be if the plugin runs (1 for the first).
    pub attempt: u32,
}

/// The thumbnail a worker made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThumbInfo {
    pub blob: ContentHash,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub format: String,
}

/// What [`RegistryBackend::retry`] did: the ids put back to `pending`, and `(id, why not)` for
/// the others.
pub type Retried = (Vec<String>, Vec<(String, String)>);

/// Where a page of [`RegistryBackend::list_page`] ends: the last image's `(created_at, n)`, `n`
/// the backend's insertion order (SQLite's rowid, PostgreSQL's `seq`).
pub type ListCursor = (i64, i64);

/// Called when another master may have made work `pending` (PostgreSQL's `NOTIFY`).
pub type WorkWake = Arc<dyn Fn() + Send + Sync>;

/// One registry backend. Every method blocks until the database answered: call them from
/// threads that may block (the master's `state::blocking`). Every write is committed before it
/// returns.
pub trait RegistryBackend: Send + Sync + std::fmt::Debug {
    /// Where the registry lives, for logs (`sqlite:PATH`, `postgres://host:port/db`; never a
    /// password).
    fn describe(&self) -> String;

    /// Registers an image as `pending`.
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
    ) -> Result<Registered, RegistryError>;

    /// Leases the oldest `pending` image to `worker` for `ttl_ms`, or `None` when nothing waits.
    /// No attempt is spent yet: the worker may never receive this grant.
    fn lease(&self, worker: &str, ttl_ms: i64, now_ms: i64)
        -> Result<Option<Lease>, RegistryError>;

    /// Extends the current lease (same token, held by `worker`, still `leased`, deadline not
    /// passed) to `now + ttl_ms`; returns the new deadline. The first extend of a lease spends
    /// its attempt (the worker extends when the plugin starts).
    fn extend(
        &self,
        image_id: &str,
        token: u64,
        worker: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<i64, RegistryError>;

    /// Records the thumbnail `worker` made under the current lease: the image becomes `done`.
    /// A stale or expired lease, or one `worker` does not hold, is refused with `Stale` and
    /// changes nothing. Returns when the image was registered (`created_ms`), for the
    /// time-to-done metric.
    fn complete(
        &self,
        image_id: &str,
        token: u64,
        thumb: &ThumbInfo,
        worker: &str,
        now_ms: i64,
    ) -> Result<i64, RegistryError>;

    /// Records a failure of the current lease (see [`rules::fail_outcome`]); returns the new
    /// status.
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
    ) -> Result<Status, RegistryError>;

    /// Ends a lease whose grant never reached its worker: `pending` again with nothing spent.
    /// False when `token` is not that lease (any more).
    fn release_undelivered(
        &self,
        image_id: &str,
        token: u64,
        now_ms: i64,
    ) -> Result<bool, RegistryError>;

    /// Puts `failed` images back to `pending` with their attempts reset: `ids`, or every failed
    /// image when `all_failed`.
    fn retry(
        &self,
        ids: &[String],
        all_failed: bool,
        now_ms: i64,
    ) -> Result<Retried, RegistryError>;

    /// How many leases `worker` holds now.
    fn leases_held(&self, worker: &str) -> Result<u64, RegistryError>;

    /// Puts every lease past its deadline (`deadline < now`) back to `pending`, or `failed` when
    /// the image has had `max_attempts` attempts (see [`rules::expiry_outcome`]). Returns the
    /// ids it touched.
    fn expire(&self, now_ms: i64, max_attempts: u32) -> Result<Vec<ImageId>, RegistryError>;

    /// At a master's start. SQLite (one master): every `leased` image goes back to `pending`,
    /// attempts given back (a late completion is refused by the token check). PostgreSQL
    /// (shared): only leases past their deadline are expired; live ones stay with their
    /// workers, which extend and complete them through any master. Returns the ids touched.
    fn recover(&self, now_ms: i64) -> Result<Vec<ImageId>, RegistryError>;

    fn get(&self, id: &str) -> Result<Option<ImageView>, RegistryError>;

    /// Whether an image `id` is registered: [`RegistryBackend::get`] without building the view.
    fn contains(&self, id: &str) -> Result<bool, RegistryError>;

    /// One page of at most `limit` images (or those with `status`), oldest first, after the
    /// cursor `after`; and the cursor of the next page, if there may be one. The order is
    /// total, so no image is listed twice or skipped.
    fn list_page(
        &self,
        status: Option<Status>,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<(Vec<ImageView>, Option<ListCursor>), RegistryError>;

    /// All images (or those with `status`), oldest first.
    fn list(&self, status: Option<Status>) -> Result<Vec<ImageView>, RegistryError> {
        Ok(self.list_page(status, None, u32::MAX)?.0)
    }

    /// The `limit` images in `status` that changed last (finished, else updated), newest first.
    fn recent(&self, status: Status, limit: u32) -> Result<Vec<ImageView>, RegistryError>;

    fn counts(&self) -> Result<Counts, RegistryError>;

    /// Adds a named plugin, or points an existing name at a new hash.
    fn add_plugin(&self, name: &str, hash: &ContentHash, now_ms: i64) -> Result<(), RegistryError>;

    fn plugin(&self, name: &str) -> Result<Option<ContentHash>, RegistryError>;

    /// All plugins, by name.
    fn plugins(&self) -> Result<Vec<(String, ContentHash)>, RegistryError>;

    /// Refuses (with [`RegistryError::Stale`]) a lease operation by `worker` that does not
    /// carry the current, unexpired lease of `image_id`. Writes nothing: the master calls it
    /// before it stores a thumbnail, so a stale completion leaves no blob behind; `extend`,
    /// `complete` and `fail` check again inside their transaction.
    fn check_lease(
        &self,
        image_id: &str,
        token: u64,
        worker: &str,
        now_ms: i64,
    ) -> Result<(), RegistryError>;

    /// Writes and commits since open: writes per commit is the batching achieved.
    fn commit_stats(&self) -> CommitStats;

    /// Runs `f`, whose writes may share one commit, and returns once all of them are committed
    /// (a backend that commits each write as it goes just runs `f`). For answers built on
    /// several writes, such as a `lease` of many tasks.
    fn deferring(
        &self,
        f: &mut dyn FnMut() -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        f()
    }

    /// Asks to be told (`wake`) when another master may have made work `pending`. A backend
    /// that only one master uses has nothing to tell.
    fn watch_work(&self, wake: WorkWake) {
        let _ = wake;
    }
}

/// The registry a master uses: one backend behind the trait. `Sync`: share it behind an `Arc`.
/// Its methods are the backend's ([`RegistryBackend`]).
#[derive(Debug)]
pub struct Registry(Box<dyn RegistryBackend>);

impl Registry {
    /// Opens (creating if needed) the SQLite registry file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry, RegistryError> {
        Ok(Registry(Box::new(SqliteRegistry::open(path)?)))
    }

    /// Opens the registry `spec` names, applying pending schema migrations.
    pub fn connect(spec: &RegistrySpec) -> Result<Registry, RegistryError> {
        match spec {
            RegistrySpec::Sqlite(path) => Registry::open(path),
            RegistrySpec::Postgres(url) => Ok(Registry(Box::new(PostgresRegistry::connect(url)?))),
        }
    }
}

impl std::ops::Deref for Registry {
    type Target = dyn RegistryBackend;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}
