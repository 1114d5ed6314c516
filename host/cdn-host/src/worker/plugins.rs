//! The plugins a worker can run, by hash: compiled in memory, kept as `.wasm` on disk, and
//! fetched from the master (once, checked against the hash) when a task names one it lacks.

use super::link::{CallError, Link};
use crate::blobs::BlobId;
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
    pub hash: String,
    pub kind: &'static str,
    pub message: String,
    pub retryable: bool,
}

pub(crate) struct Plugins {
    runtime: Runtime,
    /// `DIR/<sha256>.wasm`, written atomically; shared safely by workers on one machine.
    dir: PathBuf,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
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
    pub fn preload(&self, wasm: &[u8]) -> Result<String, RunError> {
        let plugin = self.runtime.load(wasm)?;
        let hash = plugin.hash().to_hex();
        self.remember(&hash, plugin);
        Ok(hash)
    }

    fn remember(&self, hash: &str, plugin: Arc<Plugin>) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.insert(hash.to_string(), plugin);
    }

    fn in_memory(&self, hash: &str) -> Option<Arc<Plugin>> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(hash).cloned()
    }

    /// The plugin with SHA-256 `hash`: from memory, else from the disk cache, else from the
    /// master.
    pub async fn get(&self, hash: &str, link: &Link) -> Result<Arc<Plugin>, PluginError> {
        if let Some(plugin) = self.in_memory(hash) {
            return Ok(plugin);
        }
        let error = |kind: &'static str, message: String, retryable: bool| PluginError {
            hash: hash.to_string(),
            kind,
            message,
            retryable,
        };
        if BlobId::parse(hash).is_err() {
            return Err(error("invalid_hash", "not a SHA-256 hash".into(), false));
        }
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
                            hash: hash.to_string(),
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
                        e @ CallError::Unreachable(_) => {
                            error("plugin_unavailable", e.to_string(), true)
                        }
                    })?;
                let got = BlobId::of(&wasm);
                if got.as_str() != hash {
                    return Err(error(
                        "plugin_hash_mismatch",
                        format!("the master sent bytes whose SHA-256 is {got}"),
                        true,
                    ));
                }
                if let Err(e) = write_atomically(&path, &wasm) {
                    tracing::warn!(path = %path.display(), "cannot cache plugin on disk: {e}");
                }
                wasm
            }
        };
        let runtime = self.runtime.clone();
        let plugin = tokio::task::spawn_blocking(move || runtime.load(&wasm))
            .await
            .map_err(|e| error("host_error", format!("compile task failed: {e}"), true))?
            .map_err(|e| error(e.kind(), e.to_string(), e.is_retryable()))?;
        self.remember(hash, plugin.clone());
        Ok(plugin)
    }
}

/// The cached file's bytes if it exists and still hashes to `hash` (a damaged copy is removed).
fn read_checked(path: &Path, hash: &str) -> Option<Vec<u8>> {
    let wasm = std::fs::read(path).ok()?;
    if BlobId::of(&wasm).as_str() == hash {
        return Some(wasm);
    }
    tracing::warn!(path = %path.display(), "cached plugin does not match its hash; fetching again");
    let _ = std::fs::remove_file(path);
    None
}

/// Writes to a temporary file in the same folder, then renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_cache_file_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let good = b"\0asm good".to_vec();
        let hash = BlobId::of(&good).as_str().to_string();
        let path = dir.path().join(format!("{hash}.wasm"));
        assert!(read_checked(&path, &hash).is_none(), "missing file");
        write_atomically(&path, &good).unwrap();
        assert_eq!(read_checked(&path, &hash), Some(good));
        std::fs::write(&path, b"\0asm bad").unwrap();
        assert!(read_checked(&path, &hash).is_none());
        assert!(!path.exists(), "the damaged copy is removed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
