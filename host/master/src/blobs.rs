//! A content-addressed blob store on the filesystem.
//!
//! A blob is named by the SHA-256 of its bytes ([`ContentHash`]) and lives at `DIR/ab/abcdef…`
//! (the first two hex digits name a subfolder). A write goes to a temporary file in the same
//! subfolder, is fsynced, renamed into place, and the subfolder is fsynced
//! (`cdn_common::atomic`), so a blob is either absent or complete. Temporary files left by a
//! crash are removed at open.
//!
//! A put of bytes already stored returns only once the existing file and its folders are
//! durable too: the file may be another put's, renamed but not yet fsynced with its folder, and
//! an acknowledgement must not rest on it. An existing file of the wrong length (damaged) is
//! written again. At open, every subfolder is fsynced (entries renamed into it by a run that
//! crashed before its folder fsync become durable before anything relies on them).

use cdn_common::atomic::{is_temp_name, sync_dir, AtomicFile};
use cdn_common::ContentHash;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What went wrong in the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(ContentHash),
    #[error("blob {id} is damaged: its bytes hash to {actual}")]
    Corrupt {
        id: ContentHash,
        actual: ContentHash,
    },
    #[error("blob store: {0}")]
    Write(#[from] cdn_common::WriteError),
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
            sync_dir(&sub).map_err(io_err("syncing folder", &sub))?;
            for file in fs::read_dir(&sub).map_err(io_err("reading", &sub))? {
                let file = file.map_err(io_err("reading", &sub))?;
                let name = file.file_name();
                let name = name.to_string_lossy();
                // `.tmp-…` is the name older versions gave their temporary files.
                if is_temp_name(&name) || name.starts_with(".tmp-") {
                    let p = file.path();
                    fs::remove_file(&p).map_err(io_err("removing leftover", &p))?;
                }
            }
        }
        // The subfolders found are made durable once, here.
        sync_dir(&dir).map_err(io_err("syncing folder", &dir))?;
        Ok(Self {
            dir,
            durable_subdirs: Mutex::new(durable_subdirs),
        })
    }

    /// Where the blob lives (or would live).
    pub fn path(&self, id: &ContentHash) -> PathBuf {
        self.dir.join(id.shard()).join(id.to_hex())
    }

    pub fn contains(&self, id: &ContentHash) -> bool {
        self.path(id).is_file()
    }

    /// Stores the bytes durably and returns their hash. Storing bytes already present rewrites
    /// nothing.
    pub fn put(&self, bytes: &[u8]) -> Result<ContentHash, BlobError> {
        let id = ContentHash::of(bytes);
        let dest = self.path(&id);
        let prefix = id.shard();
        let sub = self.dir.join(&prefix);
        if self.existing_is_durable(&dest, bytes.len() as u64)? {
            sync_dir(&sub).map_err(io_err("syncing folder", &sub))?;
        } else {
            fs::create_dir_all(&sub).map_err(io_err("creating", &sub))?;
            AtomicFile::create(&dest)?.sync_folder(true).commit(bytes)?;
        }
        // The top folder too, the first time a subfolder appears.
        if !self.subdir_is_durable(&prefix) {
            sync_dir(&self.dir).map_err(io_err("syncing folder", &self.dir))?;
            self.durable_subdirs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(prefix);
        }
        Ok(id)
    }

    /// Whether `dest` already holds a file of `len` bytes, made durable here (fsynced). `false`
    /// when there is none, or one of another length (damaged: to be written again).
    fn existing_is_durable(&self, dest: &Path, len: u64) -> Result<bool, BlobError> {
        let file = match fs::File::open(dest) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("opening", dest)(e)),
        };
        let meta = file.metadata().map_err(io_err("reading", dest))?;
        if !meta.is_file() || meta.len() != len {
            tracing::warn!(path = %dest.display(), found = meta.len(), expected = len, "damaged blob: writing it again");
            return Ok(false);
        }
        file.sync_all().map_err(io_err("syncing", dest))?;
        Ok(true)
    }

    fn subdir_is_durable(&self, prefix: &str) -> bool {
        self.durable_subdirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(prefix)
    }

    /// The blob's bytes, checked against its id.
    pub fn get(&self, id: &ContentHash) -> Result<Vec<u8>, BlobError> {
        let path = self.path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound(*id)),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let actual = ContentHash::of(&bytes);
        if &actual != id {
            return Err(BlobError::Corrupt { id: *id, actual });
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
            id.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.path(&id), dir.path().join("2c").join(id.to_hex()));
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
    fn a_second_put_repairs_a_damaged_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let id = store.put(b"the whole image").unwrap();
        // What a crash between rename and fsync can leave: the name, not all the bytes.
        fs::write(store.path(&id), b"the wh").unwrap();
        assert_eq!(store.put(b"the whole image").unwrap(), id);
        assert_eq!(store.get(&id).unwrap(), b"the whole image");
    }

    #[test]
    fn missing_and_damaged_blobs_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let absent = ContentHash::of(b"never stored");
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
        let sub = dir.path().join(id.shard());
        let leftover = sub.join(format!(".{id}.cdn-tmp-99999-0"));
        fs::write(&leftover, b"half").unwrap();
        let legacy = sub.join(".tmp-crashed");
        fs::write(&legacy, b"half").unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(!leftover.exists());
        assert!(!legacy.exists());
        assert_eq!(store.get(&id).unwrap(), b"kept");
    }
}
