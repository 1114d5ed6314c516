//! Compiled plugins on disk, so that a restarted process does not compile again.
//!
//! One file per plugin, named by the plugin's SHA-256 and a hash of everything that makes
//! compiled code compatible (wasmtime version, engine configuration, host CPU features), so a
//! different engine never reads another's file. Files are written to a temporary name and
//! renamed, so a reader never sees half a file. Any failure here only costs a recompilation.

use cdn_common::ContentHash;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Module};

pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_key: u64,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        DiskCache {
            dir,
            engine_key: hasher.finish(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, hash: &ContentHash) -> PathBuf {
        self.dir
            .join(format!("{hash}-{:016x}.cwasm", self.engine_key))
    }

    /// The cached compiled module, if present and loadable.
    pub(crate) fn get(&self, engine: &Engine, hash: &ContentHash) -> Option<Module> {
        let path = self.path(hash);
        // Read into memory rather than `deserialize_file`: a mapped file that someone truncates
        // or rewrites in place would crash this process with SIGBUS.
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the file was written by `put` below from `Module::serialize` of an engine with
        // the same compatibility hash (it is in the name); wasmtime also checks the header and
        // refuses bytes from another version or configuration. The cache folder belongs to the
        // user running this process.
        match unsafe { Module::deserialize(engine, &bytes) } {
            Ok(module) => Some(module),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cached plugin: {e:#}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes a compiled module; failures are logged and otherwise ignored.
    pub(crate) fn put(&self, hash: &ContentHash, module: &Module) {
        if let Err(e) = self.try_put(hash, module) {
            tracing::warn!(dir = %self.dir.display(), "cannot cache compiled plugin: {e:#}");
        }
    }

    fn try_put(
        &self,
        hash: &ContentHash,
        module: &Module,
    ) -> Result<(), Box<dyn std::error::Error>> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = module.serialize()?;
        let tmp = self.dir.join(format!(".{hash}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, self.path(hash))?;
        Ok(())
    }
}
