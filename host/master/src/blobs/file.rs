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
//!
//! Blobs of at most [`PACK_MAX`] bytes are not files: they are rows of the folder's pack
//! (`DIR/packed.sqlite3`, [`super::packed`]), where puts arriving together share one fsync.
//! Reads look in the pack first, then for a file (a store written before packing has only
//! files, and is read as it is).

use super::packed::{Pack, PACK_FILE, PACK_MAX};
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
    /// The small blobs.
    pack: Pack,
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
        let pack = Pack::open(dir.join(PACK_FILE))?;
        Ok(Self {
            pack,
            dir,
            durable_subdirs: Mutex::new(durable_subdirs),
            fsyncs: AtomicU64::new(0),
        })
    }

    /// The store's folder (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob's file is (or would be, were it larger than [`PACK_MAX`]):
    /// `DIR/ab/abcdef…`.
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
    fn deferring(&self, f: &mut dyn FnMut() -> Result<(), BlobError>) -> Result<(), BlobError> {
        self.pack.deferring(f)
    }

    fn put(&self, id: &ContentHash, bytes: &[u8]) -> Result<(), BlobError> {
        if bytes.len() <= PACK_MAX {
            return self.pack.put(id, bytes);
        }
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
        if let Some(bytes) = self.pack.read(id)? {
            return Ok(bytes);
        }
        let path = self.path(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::NotFound(*id)),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    fn contains(&self, id: &ContentHash) -> Result<bool, BlobError> {
        if self.pack.contains(id)? {
            return Ok(true);
        }
        let path = self.path(id);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    /// A packed blob is at `file:///DIR/packed.sqlite3#HASH` (its row in the pack), any other
    /// at its file's URI.
    fn location(&self, id: &ContentHash) -> String {
        match self.pack.contains(id) {
            Ok(true) => format!("{}#{id}", file_uri(self.pack.path())),
            _ => file_uri(&self.path(id)),
        }
    }

    fn check(&self) -> Result<(), BlobError> {
        fs::read_dir(&self.dir)
            .map(drop)
            .map_err(io_err("cannot read", &self.dir))?;
        self.pack.check()
    }

    /// The files' and folders' fsyncs, and the pack's commits (one WAL fsync each).
    fn fsyncs(&self) -> Option<u64> {
        Some(self.fsyncs.load(Ordering::Relaxed) + self.pack.stats().commits)
    }

    fn stored_bytes(&self) -> Option<u64> {
        Some(folder_bytes(&self.dir) + self.pack.stored_bytes().unwrap_or(0))
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
    //! What only the folder store does (layout, packing, no rewrite, repair, cleanup at open);
    //! what every backend does is in the master's test suite (`tests/master/blobs.rs`).
    use super::*;
    use crate::blobs::BlobStore;

    fn open(dir: &Path) -> (FileStore, BlobStore) {
        (
            FileStore::open(dir).unwrap(),
            BlobStore::open_dir(dir).unwrap(),
        )
    }

    /// Bytes too large for the pack: a file of their own.
    fn large(seed: u8) -> Vec<u8> {
        let mut bytes = vec![seed; PACK_MAX + 1];
        bytes[0] = seed.wrapping_add(1);
        bytes
    }

    /// The files in the store's subfolders.
    fn files(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .flat_map(|sub| fs::read_dir(sub.path()).unwrap())
            .count()
    }

    #[test]
    fn layout_and_location() {
        let dir = tempfile::tempdir().unwrap();
        let (files, store) = open(dir.path());
        let big = large(1);
        let id = store.put(&big).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let path = root.join(id.shard()).join(id.to_hex());
        assert_eq!(files.path(&id), path);
        assert_eq!(fs::read(&path).unwrap(), big);
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
    fn small_blobs_are_rows_of_the_pack() {
        let dir = tempfile::tempdir().unwrap();
        let (_, store) = open(dir.path());
        let id = store.put(b"hello").unwrap();
        assert_eq!(
            id.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let edge = vec![7u8; PACK_MAX];
        let edge_id = store.put(&edge).unwrap();
        assert_eq!(files(dir.path()), 0, "no file for a packed blob");
        let pack = fs::canonicalize(dir.path()).unwrap().join(PACK_FILE);
        assert_eq!(
            store.location(&id),
            format!("file://{}#{id}", pack.display())
        );
        // Durable: a store opened afresh (as after a restart) reads them.
        drop(store);
        let again = BlobStore::open_dir(dir.path()).unwrap();
        assert_eq!(again.get(&id).unwrap(), b"hello");
        assert_eq!(again.get(&edge_id).unwrap(), edge);
        assert!(again.contains(&edge_id).unwrap());
    }

    #[test]
    fn a_store_written_before_packing_is_read_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (files, store) = open(dir.path());
        // What an older version left: a small blob as a file.
        let id = ContentHash::of(b"old small blob");
        fs::create_dir_all(files.path(&id).parent().unwrap()).unwrap();
        fs::write(files.path(&id), b"old small blob").unwrap();
        assert!(store.contains(&id).unwrap());
        assert_eq!(store.get(&id).unwrap(), b"old small blob");
        assert_eq!(
            store.location(&id),
            format!("file://{}", files.path(&id).display())
        );
    }

    #[test]
    fn fsyncs_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (_, store) = open(dir.path());
        assert_eq!(store.fsyncs(), Some(0));
        // The file, its folder, and the top folder for the new subfolder.
        let big = large(2);
        store.put(&big).unwrap();
        assert_eq!(store.fsyncs(), Some(3));
        // Stored already: the file and its folder are made durable again, nothing new.
        store.put(&big).unwrap();
        assert_eq!(store.fsyncs(), Some(5));
        // A packed blob: one commit of the pack.
        store.put(b"small").unwrap();
        assert_eq!(store.fsyncs(), Some(6));
    }

    #[test]
    fn put_is_idempotent_and_does_not_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let (files, store) = open(dir.path());
        let big = large(3);
        let id = store.put(&big).unwrap();
        let before = fs::metadata(files.path(&id)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = store.put(&big).unwrap();
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
        let big = large(4);
        let id = store.put(&big).unwrap();
        // What a crash between rename and fsync can leave: the name, not all the bytes.
        fs::write(files.path(&id), &big[..10]).unwrap();
        assert_eq!(store.put(&big).unwrap(), id);
        assert_eq!(store.get(&id).unwrap(), big);
        // A packed blob whose row was damaged is written again too.
        let small = store.put(b"the whole image").unwrap();
        let pack = rusqlite::Connection::open(dir.path().join(PACK_FILE)).unwrap();
        pack.execute(
            "UPDATE blobs SET bytes = ?1 WHERE hash = ?2",
            (b"the wh".as_slice(), small.as_bytes().as_slice()),
        )
        .unwrap();
        assert!(matches!(store.get(&small), Err(BlobError::Corrupt { .. })));
        store.put(b"the whole image").unwrap();
        assert_eq!(store.get(&small).unwrap(), b"the whole image");
    }

    #[test]
    fn leftover_temp_files_are_cleaned_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let big = large(5);
        let id = BlobStore::open_dir(dir.path()).unwrap().put(&big).unwrap();
        let sub = dir.path().join(id.shard());
        let leftover = sub.join(format!(".{id}.cdn-tmp-99999-0"));
        fs::write(&leftover, b"half").unwrap();
        let legacy = sub.join(".tmp-crashed");
        fs::write(&legacy, b"half").unwrap();
        let store = BlobStore::open_dir(dir.path()).unwrap();
        assert!(!leftover.exists());
        assert!(!legacy.exists());
        assert_eq!(store.get(&id).unwrap(), big);
    }

    #[test]
    fn stored_bytes_counts_files_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_dir(dir.path()).unwrap();
        assert_eq!(store.stored_bytes(), Some(0));
        store.put(b"12345").unwrap();
        store.put(b"123").unwrap();
        assert_eq!(store.stored_bytes(), Some(8));
        store.put(&large(6)).unwrap();
        assert_eq!(store.stored_bytes(), Some(8 + PACK_MAX as u64 + 1));
    }
}
