//! [`Master`]: opens the data folder, and serves the protocol on QUIC ([`Serving`]).
//!
//! - [`Master::open`] opens the registry (`DATA/registry.sqlite3`, or the one
//!   [`MasterConfig::registry`] names) and the blob store (`DATA/blobs`, or the one
//!   [`MasterConfig::blobs`] names), recovers leases left from a previous run, and stores the
//!   plugins it starts with.
//! - [`Master::serve`] listens and returns a [`Serving`], whose [`Serving::shutdown`] closes the
//!   endpoint.

use crate::blobs::{BlobSpec, BlobStore};
use crate::errors::MasterError;
use crate::handler::MasterHandler;
use crate::leasing;
use crate::registry::{Registry, RegistrySpec};
use crate::state::{now_ms, State};
use cdn_transport::{FrameLimits, Identity, Role, Server, ServerLimits};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The largest upload (DESIGN §6), also the transport's body cap. It is also the most any
/// setting may allow: a worker's response cap and the runtime's input cap are 64 MiB, so a
/// larger image would be accepted and then refused on every attempt.
pub const MAX_UPLOAD: u64 = 64 << 20;

/// Default of [`MasterConfig::max_leases_per_worker`].
pub const DEFAULT_MAX_LEASES_PER_WORKER: u32 = 64;

/// How the master behaves (DESIGN §6 defaults).
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// How long a lease lasts without an `extend`.
    pub lease_ttl: Duration,
    /// Attempts before an image is `failed`.
    pub max_attempts: u32,
    /// Named plugins (name, `.wasm` bytes) stored at start. The built-in `thumbnail` is stored
    /// only when the registry has no `thumbnail` yet (so what a client set with `plugin_add`
    /// survives a restart); a `thumbnail` here replaces whatever is there.
    pub plugins: Vec<(String, Vec<u8>)>,
    /// The largest upload accepted (images, thumbnails, plugins).
    pub max_upload: u64,
    /// Where blobs are kept (`file:DIR`, `s3://BUCKET/PREFIX`); `None`: the folder `DATA/blobs`.
    pub blobs: Option<BlobSpec>,
    /// How often overdue leases are looked for.
    pub expiry_interval: Duration,
    /// A worker counts as connected for this long after its last request.
    pub workers_window: Duration,
    /// Most leases one worker identity holds at once; its further polls wait (then answer no
    /// task) until one ends.
    pub max_leases_per_worker: u32,
    /// What one peer may take from the server (streams, connections, body budget).
    pub server_limits: ServerLimits,
    /// Where the registry lives; `None`: the SQLite file `registry.sqlite3` in the data folder.
    pub registry: Option<RegistrySpec>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            lease_ttl: Duration::from_secs(30),
            max_attempts: 3,
            plugins: Vec::new(),
            max_upload: MAX_UPLOAD,
            blobs: None,
            expiry_interval: Duration::from_secs(1),
            workers_window: Duration::from_secs(30),
            max_leases_per_worker: DEFAULT_MAX_LEASES_PER_WORKER,
            server_limits: ServerLimits::default(),
            registry: None,
        }
    }
}

impl MasterConfig {
    /// Refuses settings that cannot work together.
    pub fn check(&self) -> Result<(), MasterError> {
        let bad = |why: String| Err(MasterError::Config(why));
        if self.max_upload == 0 || self.max_upload > MAX_UPLOAD {
            return bad(format!(
                "the largest upload must be 1 byte to {} MiB (workers and the plugin runtime \
                 take at most {} MiB), not {} bytes",
                MAX_UPLOAD >> 20,
                MAX_UPLOAD >> 20,
                self.max_upload
            ));
        }
        if self.max_leases_per_worker == 0 {
            return bad("the lease cap per worker must be at least 1".into());
        }
        self.server_limits.validate().or_else(bad)
    }
}

/// An opened master, not yet serving.
pub struct Master {
    state: Arc<State>,
    /// The data folder's `master.lock`, locked (`flock`) for as long as this `Master` lives.
    _lock: std::fs::File,
}

impl Master {
    /// Opens (creating if needed) the master's data folder. Blocking: call it before serving or
    /// from `spawn_blocking`.
    pub fn open(data_dir: impl AsRef<Path>, config: MasterConfig) -> Result<Master, MasterError> {
        let data_dir = data_dir.as_ref();
        config.check()?;
        std::fs::create_dir_all(data_dir).map_err(|source| MasterError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        // Absolute, so that the blob locations the master reports mean the same from anywhere.
        let data_dir = &std::fs::canonicalize(data_dir).map_err(|source| MasterError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        // One master per data folder: the blob store clears temporary files on open, and two
        // masters would lease the same queue. The lock goes with this `Master` (or the process).
        let lock_path = data_dir.join("master.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| MasterError::DataDir {
                path: lock_path.display().to_string(),
                source,
            })?;
        if lock.try_lock().is_err() {
            return Err(MasterError::InUse {
                path: data_dir.display().to_string(),
            });
        }
        let registry = match &config.registry {
            Some(spec) => Registry::connect(spec)?,
            None => Registry::open(data_dir.join("registry.sqlite3"))?,
        };
        tracing::info!(registry = %registry.describe(), "registry open");
        let blobs = match &config.blobs {
            Some(spec) => BlobStore::open_spec(spec)?,
            None => BlobStore::open_dir(data_dir.join("blobs"))?,
        };
        tracing::info!(blobs = %blobs, "blob store open");
        let recovered = registry.recover(now_ms())?;
        if !recovered.is_empty() {
            tracing::info!(
                count = recovered.len(),
                "leases from the previous run put back to pending"
            );
        }
        let builtin = (
            "thumbnail".to_string(),
            cdn_plugin_bundle::THUMBNAIL.to_vec(),
        );
        let builtin = (registry.plugin(&builtin.0)?.is_none()).then_some(&builtin);
        for (name, bytes) in builtin.into_iter().chain(&config.plugins) {
            if !bytes.starts_with(cdn_common::WASM_MAGIC) {
                return Err(MasterError::Plugin {
                    name: name.clone(),
                    why: "not a WebAssembly module".into(),
                });
            }
            let hash = blobs.put(bytes)?;
            registry.add_plugin(name, &hash, now_ms())?;
            tracing::info!(plugin = %name, %hash, "plugin available");
        }
        let state = Arc::new(State::new(registry, blobs, config)?);
        // Work registered through another master (a shared registry) wakes this one's polls.
        let weak = Arc::downgrade(&state);
        state.registry.watch_work(Arc::new(move || {
            if let Some(state) = weak.upgrade() {
                state.poke();
            }
        }));
        Ok(Master { state, _lock: lock })
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The request handler (to serve it on a [`Server`] of one's own).
    pub fn handler(&self) -> MasterHandler {
        MasterHandler::new(self.state.clone())
    }

    /// Listens on `addr` (UDP) with the master certificate from `certs_dir`, and starts the
    /// expiry task. Must be called within a tokio runtime.
    pub async fn serve(&self, addr: SocketAddr, certs_dir: &Path) -> Result<Serving, MasterError> {
        let identity = Identity::load(certs_dir, Role::Master, None)?;
        let limits = FrameLimits {
            max_body: self.state.config.max_upload,
            ..FrameLimits::default()
        };
        let server = Arc::new(Server::bind_with(
            addr,
            &identity,
            limits,
            self.state.config.server_limits,
        )?);
        let local_addr = server
            .local_addr()
            .map_err(|source| MasterError::Listen { addr, source })?;
        let handler = Arc::new(self.handler());
        let serving = server.clone();
        let accept = tokio::spawn(async move { serving.serve(handler).await });
        let expiry = tokio::spawn(leasing::expiry_task(self.state.clone()));
        tracing::info!(%local_addr, "master listening");
        Ok(Serving {
            server,
            local_addr,
            tasks: vec![accept, expiry],
            state: self.state.clone(),
        })
    }
}

/// A serving master.
pub struct Serving {
    server: Arc<Server>,
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    state: Arc<State>,
}

impl Serving {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops: closes the endpoint (and every connection), stops the expiry task, and waits up
    /// to 2 s for the connections to close. Leases in flight stay `leased`; the next
    /// [`Master::open`] puts them back to `pending`.
    pub async fn shutdown(self) {
        tracing::info!("master shutting down");
        self.state.close();
        self.server.close();
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.server.wait_idle()).await;
    }
}
