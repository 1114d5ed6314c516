//! Compiled plugins on disk, so that a restarted process does not compile again.
//!
//! One file per plugin, named by the plugin's SHA-256 and a hash of everything that makes
//! compiled code compatible (wasmtime version, engine configuration, host CPU features), so a
//! different engine never reads another's file.
//!
//! Deserialising compiled code runs native code outside the sandbox, and both parts of a file's
//! name are predictable, so the folder is guarded ([`folder`]: ours alone, 0700) and every file
//! carries an HMAC tag under a key only we can read ([`integrity`]): a file that fails the check
//! (tampered, truncated, planted, or from before the tags) is deleted and the module compiled
//! again. Files are written 0600 to an `O_EXCL` temporary file, synced and renamed, so a reader
//! never sees half a file. Past the checks at open, any failure here only costs a recompilation.

mod folder;
mod integrity;

use crate::RunError;
use cdn_common::{AtomicFile, ContentHash};
use integrity::Key;
use std::collections::hash_map::DefaultHasher;
use std::fs::OpenOptions;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Module};

pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_key: u64,
    key: Key,
}

impl DiskCache {
    /// Opens (or makes) the cache folder `dir`: refused if anyone but this user could write in
    /// it, or if its integrity key is not a private file of ours.
    pub(crate) fn open(dir: PathBuf, engine: &Engine) -> Result<Self, RunError> {
        folder::make_private(&dir)?;
        let key = Key::load_or_create(&dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(DiskCache {
            dir,
            engine_key: hasher.finish(),
            key,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn name(&self, hash: &ContentHash) -> String {
        format!("{hash}-{:016x}.cwasm", self.engine_key)
    }

    /// The cached compiled module, if present, tagged by us, and loadable.
    pub(crate) fn get(&self, engine: &Engine, hash: &ContentHash) -> Option<Module> {
        let name = self.name(hash);
        let path = self.dir.join(&name);
        // Read into memory rather than `deserialize_file`: a mapped file that someone truncates
        // or rewrites in place would crash this process with SIGBUS. Never through a link.
        let mut bytes = Vec::new();
        let read = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut file| file.read_to_end(&mut bytes));
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.discard(&path, &format!("cannot read it ({e})"));
                return None;
            }
        }
        let module = match self.key.open(&name, &bytes) {
            Ok(module) => module,
            Err(why) => {
                self.discard(&path, why);
                return None;
            }
        };
        // SAFETY: the bytes carry our HMAC tag, under a key only this user can read, kept in
        // a folder only this user can write: they are what `put` below wrote from
        // `Module::serialize` of an engine with the same compatibility hash (it is in the name
        // the tag covers). wasmtime also checks the header and refuses bytes from another
        // version or configuration.
        match unsafe { Module::deserialize(engine, module) } {
            Ok(module) => Some(module),
            Err(e) => {
                self.discard(&path, &format!("wasmtime cannot load it ({e:#})"));
                None
            }
        }
    }

    /// Deletes an unusable cache file, so that the module is compiled and written again.
    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), "refusing a cached compiled plugin: {why}; deleting it and compiling again");
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), "cannot delete it: {e}");
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
        let bytes = module.serialize()?;
        let name = self.name(hash);
        let mut file = AtomicFile::create_with_mode(&self.dir.join(&name), 0o600)?;
        file.write_all(&self.key.header(&name, &bytes))?;
        file.write_all(&bytes)?;
        file.finish()?;
        Ok(())
    }
}
