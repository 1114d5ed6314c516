//! A content-addressed blob store on the filesystem.
//!
//! A blob is named by the SHA-256 of its bytes (64 lowercase hex digits) and lives at
//! `DIR/ab/abcdef…` (the first two digits name a subfolder). A write goes to a temporary file in
//! the same subfolder, is fsynced, renamed into place, and the subfolder is fsynced, so a blob is
//! either absent or complete. Temporary files left by a crash are removed at open.

use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Prefix of temporary files; never a valid blob name (blob names are hex only).
const TEMP_PREFIX: &str = ".tmp-";

/// The SHA-256 of a blob's bytes, as 64 lowercase hex digits. Never a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct BlobId(String);

/// A string that is not a blob id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a blob id (64 lowercase hex digits): {0:?}")]
pub struct BadBlobId(pub String);

impl BlobId {
    pub fn parse(s: &str) -> Result<Self, BadBlobId> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadBlobId(s.chars().take(80).collect()))
        }
    }

    /// The id of these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for BlobId {
    type Err = BadBlobId;
    fn from_str(s: &str) -> Result<Self, BadBlobId> {
        Self::parse(s)
    }
}

/// What went wrong in the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(BlobId),
    #[error("blob {id} is damaged: its bytes hash to {actual}")]
    Corrupt { id: BlobId, actual: BlobId },
    #[error("blob store: {context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BlobError + 'a {
    move |source| BlobError::Io {
        context,
        path: path.to_owned(),
        source,
    }
}

/// The store. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    temp_counter: AtomicU64,
    /// Subfolders (`ab`) whose entry in the top folder is known durable: the top folder is
    /// fsynced only when a new one appears, not on every put.
    durable_subdirs: Mutex<HashSet<String>>,
}

impl BlobStore {
    /// Opens (creating if needed) the store at `dir`, removing temporary files left by a crash.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, BlobError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let mut durable_subdirs = HashSet::new();
        for entry in fs::read_dir(&dir).map_err(io_err("reading", &dir))? {
            let entry = entry.map_err(io_err("reading", &dir))?;
            let sub = entry.path();
            if !entry.file_type().map_err(io_err("reading", &sub))?.is_dir() {
                continue;
            }
            durable_subdirs.insert(entry.file_name().to_string_lossy().into_owned());
            for file in fs::read_dir(&sub).map_err(io_err("reading", &sub))? {
                let file = file.map_err(io_err("reading", &sub))?;
                if file.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let p = file.path();
                    fs::remove_file(&p).map_err(io_err("removing leftover", &p))?;
                }
            }
        }
        // The subfolders found are made durable once, here.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("syncing folder", &dir))?;
        Ok(Self {
            dir,
            temp_counter: AtomicU64::new(0),
            durable_subdirs: Mutex::new(durable_subdirs),
        })
    }

    /// Where the blob lives (or would live).
    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(&id.0[..2]).join(&id.0)
    }

    pub fn contains(&self, id: &BlobId) -> bool {
        self.path(id).is_file()
    }

    /// Stores the bytes durably and returns their id. Storing bytes already present rewrites
    /// nothing.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobId, BlobError> {
        let id = BlobId::of(bytes);
        let dest = self.path(&id);
        if dest.is_file() {
            return Ok(id);
        }
        let sub = self.dir.join(&id.0[..2]);
        fs::create_dir_all(&sub).map_err(io_err("creating", &sub))?;
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = sub.join(format!(
            "{TEMP_PREFIX}{}-{}-{n}",
            &id.0[..16],
            std::process::id()
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(io_err("creating", &temp))?;
            f.write_all(bytes).map_err(io_err("writing", &temp))?;
            f.sync_all().map_err(io_err("syncing", &temp))?;
            drop(f);
            fs::rename(&temp, &dest).map_err(io_err("renaming into", &dest))?;
            File::open(&sub)
                .and_then(|d| d.sync_all())
                .map_err(io_err("syncing folder", &sub))?;
            // The top folder too, the first time a subfolder appears.
            let prefix = &id.0[..2];
            if !self.subdir_is_durable(prefix) {
                File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err("syncing folder", &self.dir))?;
                self.durable_subdirs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(prefix.to_string());
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map(|()| id)
    }

    fn subdir_is_durable(&self, prefix: &str) -> bool {
        self.durable_subdirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(prefix)
    }

    /// The blob's bytes, checked against its id.
    pub fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let path = self.path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(id.clone()))
            }
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let actual = BlobId::of(&bytes);
        if &actual != id {
            return Err(BlobError::Corrupt {
                id: id.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_roundtrip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let id = store.put(b"hello").unwrap();
        assert_eq!(
            id.as_str(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.path(&id), dir.path().join("2c").join(id.as_str()));
        assert!(store.contains(&id));
        assert_eq!(store.get(&id).unwrap(), b"hello");
        let empty = store.put(b"").unwrap();
        assert_eq!(store.get(&empty).unwrap(), b"");
    }

    #[test]
    fn put_is_idempotent_and_does_not_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let id = store.put(b"same bytes").unwrap();
        let before = fs::metadata(store.path(&id)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = store.put(b"same bytes").unwrap();
        assert_eq!(id, again);
        let after = fs::metadata(store.path(&id)).unwrap();
        assert_eq!(before.modified().unwrap(), after.modified().unwrap());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino(), "the file was replaced");
        let files: Vec<_> = fs::read_dir(store.path(&id).parent().unwrap())
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1, "no temp file left behind");
    }

    #[test]
    fn bad_ids_are_refused() {
        for bad in [
            "",
            "../etc/passwd",
            "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240",
            "zz/24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ] {
            assert!(BlobId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_and_damaged_blobs_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let absent = BlobId::of(b"never stored");
        assert!(!store.contains(&absent));
        assert!(matches!(store.get(&absent), Err(BlobError::NotFound(_))));
        let id = store.put(b"original").unwrap();
        fs::write(store.path(&id), b"tampered").unwrap();
        assert!(matches!(store.get(&id), Err(BlobError::Corrupt { .. })));
    }

    #[test]
    fn leftover_temp_files_are_cleaned_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let store = BlobStore::open(dir.path()).unwrap();
            store.put(b"kept").unwrap()
        };
        let sub = dir.path().join(&id.as_str()[..2]);
        let leftover = sub.join(format!("{TEMP_PREFIX}crashed"));
        fs::write(&leftover, b"half").unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(!leftover.exists());
        assert_eq!(store.get(&id).unwrap(), b"kept");
    }
}
