//! The plugins a worker can run, by hash: compiled in memory, kept as `.wasm` on disk, and
//! fetched from the master (once, checked against the hash) when a task names one it lacks.

use crate::link::{CallError, Link};
use cdn_common::{write_atomic, ContentHash};
use cdn_proto::{PluginFetchResponse, Request};
use cdn_runtime::{Plugin, RunError, Runtime};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a task's plugin could not be had. `retryable` says whether another try (here or on
/// another worker) may succeed.
#[derive(Debug, thiserror::Error)]
#[error("plugin {hash}: {message}")]
pub(crate) struct PluginError {
    pub hash: ContentHash,
    pub kind: &'static str,
    pub message: String,
    pub retryable: bool,
}

pub(crate) struct Plugins {
    runtime: Runtime,
    /// `DIR/<sha256>.wasm`, written atomically; shared safely by workers on one machine.
    dir: PathBuf,
    loaded: Mutex<HashMap<ContentHash, Arc<Plugin>>>,
    /// Held while a missing plugin is fetched and compiled, so it is fetched once.
    fetching: tokio::sync::Mutex<()>,
}

impl Plugins {
    pub fn new(runtime: Runtime, dir: PathBuf) -> std::io::Result<Plugins> {
        std::fs::create_dir_all(&dir)?;
        Ok(Plugins {
            runtime,
            dir,
            loaded: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Compiles `wasm` (blocking) and keeps it; returns its hash.
    pub fn preload(&self, wasm: &[u8]) -> Result<ContentHash, RunError> {
        let plugin = self.runtime.load(wasm)?;
        let hash = plugin.hash();
        self.remember(hash, plugin);
        Ok(hash)
    }

    fn remember(&self, hash: ContentHash, plugin: Arc<Plugin>) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.insert(hash, plugin);
    }

    fn in_memory(&self, hash: &ContentHash) -> Option<Arc<Plugin>> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(hash).cloned()
    }

    /// The plugin with SHA-256 `hash`: from memory, else from the disk cache, else from the
    /// master.
    pub async fn get(&self, hash: &ContentHash, link: &Link) -> Result<Arc<Plugin>, PluginError> {
        if let Some(plugin) = self.in_memory(hash) {
            crate::metrics::plugin_cache(true);
            return Ok(plugin);
        }
        crate::metrics::plugin_cache(false);
        let error = |kind: &'static str, message: String, retryable: bool| PluginError {
            hash: *hash,
            kind,
            message,
            retryable,
        };
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(plugin) = self.in_memory(hash) {
            return Ok(plugin);
        }
        let path = self.dir.join(format!("{hash}.wasm"));
        let wasm = match read_checked(&path, hash) {
            Some(wasm) => wasm,
            None => {
                tracing::info!(plugin = %hash, "fetching plugin from the master");
                let (_, wasm) = link
                    .call::<PluginFetchResponse>(
                        &Request::PluginFetch {
                            hash: hash.to_hex(),
                        },
                        Vec::new(),
                    )
                    .await
                    .map_err(|e| match e {
                        CallError::Refused { kind, message } => error(
                            "plugin_unavailable",
                            format!("the master cannot send it: {kind}: {message}"),
                            false,
                        ),
                        e @ (CallError::Unreachable(_) | CallError::Invalid(_)) => {
                            error("plugin_unavailable", e.to_string(), true)
                        }
                    })?;
                // Hashed once here; the runtime is then handed the hash with the bytes.
                let got = ContentHash::of(&wasm);
                if &got != hash {
                    return Err(error(
                        "plugin_hash_mismatch",
                        format!("the master sent bytes whose SHA-256 is {got}"),
                        true,
                    ));
                }
                if let Err(e) = write_atomic(&path, &wasm) {
                    tracing::warn!("cannot cache the plugin on disk: {e}");
                }
                wasm
            }
        };
        let runtime = self.runtime.clone();
        let known = *hash;
        let plugin = tokio::task::spawn_blocking(move || runtime.load_hashed(known, &wasm))
            .await
            .map_err(|e| error("host_error", format!("compile task failed: {e}"), true))?
            .map_err(|e| error(e.kind(), e.to_string(), e.is_retryable()))?;
        self.remember(*hash, plugin.clone());
        Ok(plugin)
    }
}

/// The cached file's bytes if it exists and still hashes to `hash` (a damaged copy is removed).
fn read_checked(path: &Path, hash: &ContentHash) -> Option<Vec<u8>> {
    let wasm = std::fs::read(path).ok()?;
    if ContentHash::of(&wasm) == *hash {
        return Some(wasm);
    }
    tracing::warn!(path = %path.display(), "cached plugin does not match its hash; fetching again");
    let _ = std::fs::remove_file(path);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_cache_file_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let good = b"\0asm good".to_vec();
        let hash = ContentHash::of(&good);
        let path = dir.path().join(format!("{hash}.wasm"));
        assert!(read_checked(&path, &hash).is_none(), "missing file");
        write_atomic(&path, &good).unwrap();
        assert_eq!(read_checked(&path, &hash), Some(good));
        std::fs::write(&path, b"\0asm bad").unwrap();
        assert!(read_checked(&path, &hash).is_none());
        assert!(!path.exists(), "the damaged copy is removed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
