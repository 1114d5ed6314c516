//! Atomic file writes: bytes go to a temporary file in the destination's folder, are flushed to
//! disk, and the file is renamed over the destination. A reader, or a run after a crash, sees the
//! old file or the complete new one, never half of it.
//!
//! Temporary names are `.<name>.cdn-tmp-<pid>-<n>`: hidden, with no image extension (so a folder
//! scan never takes one for a source), made with `O_EXCL` (never following or reusing a planted
//! file), and carrying the writer's pid so that a later scan can remove the leftovers of a
//! process that was killed mid-write ([`temp_file_pid`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const TEMP_MARK: &str = ".cdn-tmp-";

/// A write that did not happen; the destination is untouched and no temporary file is left.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {what}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub what: &'static str,
    #[source]
    pub source: io::Error,
}

/// A file being written. Dropped without [`AtomicFile::commit`] or [`AtomicFile::finish`], its
/// temporary file is removed and the destination is left as it was.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    dest: PathBuf,
    folder: PathBuf,
    sync_folder: bool,
}

impl AtomicFile {
    /// Creates the temporary file now (mode 0644 less the umask), so that an unwritable or
    /// missing folder is an error before any work is done.
    pub fn create(dest: &Path) -> Result<AtomicFile, WriteError> {
        Self::create_with_mode(dest, 0o644)
    }

    /// As [`AtomicFile::create`], with the file's permission bits (e.g. 0600 for a secret).
    pub fn create_with_mode(dest: &Path, mode: u32) -> Result<AtomicFile, WriteError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let fail = |what, source| WriteError {
            path: dest.to_path_buf(),
            what,
            source,
        };
        let folder = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().ok_or_else(|| {
            fail(
                "not a file name",
                io::Error::new(io::ErrorKind::InvalidInput, "the path ends without a name"),
            )
        })?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = folder.join(format!(
            ".{}{TEMP_MARK}{}-{n}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(|e| fail("creating its temporary file", e))?;
        Ok(AtomicFile {
            file: Some(file),
            temp,
            dest: dest.to_path_buf(),
            folder,
            sync_folder: false,
        })
    }

    /// Also fsync the folder after the rename, so that the new name itself survives a power
    /// loss (what a store that acknowledges writes needs; a thumbnail beside its source does not).
    pub fn sync_folder(mut self, yes: bool) -> Self {
        self.sync_folder = yes;
        self
    }

    /// Where the bytes will end up.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Writes `bytes` and puts the file in place ([`AtomicFile::finish`]).
    pub fn commit(mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.write_all(bytes)
            .map_err(|e| self.error("writing", e))?;
        self.finish()
    }

    /// Flushes what was written to disk, renames the file over the destination and, if asked,
    /// fsyncs the folder.
    pub fn finish(mut self) -> Result<(), WriteError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        file.sync_all().map_err(|e| self.error("syncing", e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.dest)
            .map_err(|e| self.error("renaming into place", e))?;
        // Renamed: nothing left for Drop to remove.
        self.temp = PathBuf::new();
        if self.sync_folder {
            sync_dir(&self.folder).map_err(|e| self.error("syncing its folder", e))?;
        }
        Ok(())
    }

    fn error(&self, what: &'static str, source: io::Error) -> WriteError {
        WriteError {
            path: self.dest.clone(),
            what,
            source,
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buf),
            None => Err(io::Error::other("atomic file already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            self.file.take();
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `dest` atomically (temporary file in the same folder, fsync, rename).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    AtomicFile::create(dest)?.commit(bytes)
}

/// Flushes a folder's entries (new names, removals) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The pid in one of our temporary file names, if `name` is one.
pub fn temp_file_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(TEMP_MARK)?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether `name` is one of our temporary file names.
pub fn is_temp_name(name: &str) -> bool {
    temp_file_pid(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.jpg");
        write_atomic(&dest, b"first version, longer").unwrap();
        let file = AtomicFile::create(&dest).unwrap().sync_folder(true);
        // Until the commit, the old file is intact and the temporary file is beside it.
        assert_eq!(std::fs::read(&dest).unwrap(), b"first version, longer");
        assert_eq!(names(dir.path()).len(), 2);
        file.commit(b"second").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"second");
        assert_eq!(names(dir.path()), vec!["out.jpg"]);
    }

    #[test]
    fn streamed_writes_land_whole() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("blob");
        let mut file = AtomicFile::create_with_mode(&dest, 0o600).unwrap();
        file.write_all(b"ab").unwrap();
        file.write_all(b"cd").unwrap();
        file.finish().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"abcd");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn dropping_without_commit_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        drop(AtomicFile::create(&dir.path().join("out.jpg")).unwrap());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_rename_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The destination is a non-empty folder: the rename fails.
        let dest = dir.path().join("busy");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("x"), b"x").unwrap();
        let err = write_atomic(&dest, b"data").unwrap_err();
        assert_eq!(err.what, "renaming into place");
        assert_eq!(names(dir.path()), vec!["busy"]);
    }

    #[test]
    fn a_missing_folder_fails_at_create_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("missing/out.jpg");
        let err = AtomicFile::create(&dest).unwrap_err();
        assert!(err.to_string().contains("missing/out.jpg"), "{err}");
        assert!(AtomicFile::create(Path::new("/")).is_err());
    }

    #[test]
    fn temporary_names_carry_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let file = AtomicFile::create(&dir.path().join("a.jpg_thumb.jpg")).unwrap();
        let temp = names(dir.path()).remove(0);
        assert_eq!(temp_file_pid(&temp), Some(std::process::id()));
        drop(file);
        assert_eq!(temp_file_pid(".x.jpg.cdn-tmp-4242-7"), Some(4242));
        assert_eq!(temp_file_pid("img.jpg_thumb.jpg"), None);
        assert_eq!(temp_file_pid(".x.cdn-tmp-12"), None);
        assert_eq!(temp_file_pid(".x.cdn-tmp-a-1"), None);
        assert!(!is_temp_name("abc"));
    }
}
