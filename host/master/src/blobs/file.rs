//! The folder backend (`file:DIR`, the default): blobs as files on local disk.
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

use super::{BlobBackend, BlobError};
use cdn_common::atomic::{is_temp_name, sync_dir, AtomicFile};
use cdn_common::ContentHash;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BlobError + 'a {
    move |source| BlobError::Io {
        context,
        path: path.to_owned(),
        source,
    }
}

/// The folder store.
#[derive(Debug)]
pub struct FileStore {
    /// Absolute (canonical), so that the locations given mean the same from anywhere.
    dir: PathBuf,
    /// Subfolders (`ab`) whose entry in the top folder is known durable: the top folder is
    /// fsynced only when a new one appears, not on every put.
    durable_subdirs: Mutex<HashSet<String>>,
    /// fsyncs (files and folders) made by puts since open.
    fsyncs: AtomicU64,
}

impl FileStore {
    /// Opens (creating if needed) the store at `dir`, removing temporary files left by a crash.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, BlobError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let dir = fs::canonicalize(dir).map_err(io_err("resolving", dir))?;
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
            fsyncs: AtomicU64::new(0),
        })
    }

    /// The store's folder (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob's file is (or would be): `DIR/ab/abcdef…`.
    pub fn path(&self, id: &ContentHash) -> PathBuf {
        self.dir.join(id.shard()).join(id.to_hex())
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
}

impl BlobBackend for FileStore {
    fn put(&self, id: &ContentHash, bytes: &[u8]) -> Result<(), BlobError> {
        let dest = self.path(id);
        let prefix = id.shard();
        let sub = self.dir.join(&prefix);
        // The file and its folder: two fsyncs whether the file was there or is new.
        let durable = self.existing_is_durable(&dest, bytes.len() as u64);
        self.fsyncs.fetch_add(2, Ordering::Relaxed);
        if durable? {
            sync_dir(&sub).map_err(io_err("syncing folder", &sub))?;
        } else {
            fs::create_dir_all(&sub).map_err(io_err("creating", &sub))?;
            AtomicFile::create(&dest)?.sync_folder(true).commit(bytes)?;
        }
        // The top folder too, the first time a subfolder appears.
        if !self.subdir_is_durable(&prefix) {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            sync_dir(&self.dir).map_err(io_err("syncing folder", &self.dir))?;
            self.durable_subdirs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(prefix);
        }
        Ok(())
    }

    fn read(&self, id: &ContentHash) -> Result<Vec<u8>, BlobError> {
        let path = self.path(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::NotFound(*id)),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    fn contains(&self, id: &ContentHash) -> Result<bool, BlobError> {
        let path = self.path(id);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    fn location(&self, id: &ContentHash) -> String {
        file_uri(&self.path(id))
    }

    fn check(&self) -> Result<(), BlobError> {
        fs::read_dir(&self.dir)
            .map(drop)
            .map_err(io_err("cannot read", &self.dir))
    }

    fn fsyncs(&self) -> Option<u64> {
        Some(self.fsyncs.load(Ordering::Relaxed))
    }

    fn stored_bytes(&self) -> Option<u64> {
        Some(folder_bytes(&self.dir))
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}

/// Bytes of the files in `root`'s subfolders (unreadable entries count as nothing).
fn folder_bytes(root: &Path) -> u64 {
    let Ok(subs) = fs::read_dir(root) else {
        return 0;
    };
    subs.flatten()
        .filter_map(|sub| fs::read_dir(sub.path()).ok())
        .flat_map(|files| files.flatten())
        .filter_map(|file| file.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}

/// `file://` and the absolute path, percent-encoded where a URI needs it (RFC 8089).
pub fn file_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    //! What only the folder store does (layout, no rewrite, repair, cleanup at open); what
    //! every backend does is in the master's test suite (`tests/master/blobs.rs`).
    use super::*;
    use crate::blobs::BlobStore;

    fn open(dir: &Path) -> (FileStore, BlobStore) {
        (
            FileStore::open(dir).unwrap(),
            BlobStore::open_dir(dir).unwrap(),
        )
    }

    #[test]
    fn layout_and_location() {
        let dir = tempfile::tempdir().unwrap();
        let (files, store) = open(dir.path());
        let id = store.put(b"hello").unwrap();
        assert_eq!(
            id.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let root = fs::canonicalize(dir.path()).unwrap();
        let path = root.join("2c").join(id.to_hex());
        assert_eq!(files.path(&id), path);
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(store.location(&id), format!("file://{}", path.display()));
        assert_eq!(store.to_string(), format!("file:{}", root.display()));
    }

    #[test]
    fn uris_encode_what_a_path_may_hold() {
        assert_eq!(
            file_uri(Path::new("/data/my blobs/50%/ab")),
            "file:///data/my%20blobs/50%25/ab"
        );
    }

    #[test]
    fn fsyncs_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (_, store) = open(dir.path());
        assert_eq!(store.fsyncs(), Some(0));
        // The file, its folder, and the top folder for the new subfolder.
        store.put(b"one").unwrap();
        assert_eq!(store.fsyncs(), Some(3));
        // Stored already: the file and its folder are made durable again, nothing new.
        store.put(b"one").unwrap();
        assert_eq!(store.fsyncs(), Some(5));
    }

    #[test]
    fn put_is_idempotent_and_does_not_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let (files, store) = open(dir.path());
        let id = store.put(b"same bytes").unwrap();
        let before = fs::metadata(files.path(&id)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = store.put(b"same bytes").unwrap();
        assert_eq!(id, again);
        let after = fs::metadata(files.path(&id)).unwrap();
        assert_eq!(before.modified().unwrap(), after.modified().unwrap());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino(), "the file was replaced");
        let files: Vec<_> = fs::read_dir(files.path(&id).parent().unwrap())
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1, "no temp file left behind");
    }

    #[test]
    fn a_second_put_repairs_a_damaged_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (files, store) = open(dir.path());
        let id = store.put(b"the whole image").unwrap();
        // What a crash between rename and fsync can leave: the name, not all the bytes.
        fs::write(files.path(&id), b"the wh").unwrap();
        assert_eq!(store.put(b"the whole image").unwrap(), id);
        assert_eq!(store.get(&id).unwrap(), b"the whole image");
    }

    #[test]
    fn leftover_temp_files_are_cleaned_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let id = BlobStore::open_dir(dir.path())
            .unwrap()
            .put(b"kept")
            .unwrap();
        let sub = dir.path().join(id.shard());
        let leftover = sub.join(format!(".{id}.cdn-tmp-99999-0"));
        fs::write(&leftover, b"half").unwrap();
        let legacy = sub.join(".tmp-crashed");
        fs::write(&legacy, b"half").unwrap();
        let store = BlobStore::open_dir(dir.path()).unwrap();
        assert!(!leftover.exists());
        assert!(!legacy.exists());
        assert_eq!(store.get(&id).unwrap(), b"kept");
    }

    #[test]
    fn stored_bytes_counts_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_dir(dir.path()).unwrap();
        assert_eq!(store.stored_bytes(), Some(0));
        store.put(b"12345").unwrap();
        store.put(b"123").unwrap();
        assert_eq!(store.stored_bytes(), Some(8));
    }
}
