//! Writing a file so that readers see the old file or the whole new one, never half of it.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written: a temporary file beside the destination, renamed over it by
/// [`AtomicFile::commit`]. Dropped without a commit, the temporary file is removed.
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file now, so that an unwritable folder is an error before any
    /// work is done.
    pub fn create(dest: &Path) -> anyhow::Result<AtomicFile> {
        let folder = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            anyhow::bail!(
                "cannot write {}: folder {} does not exist",
                dest.display(),
                folder.display()
            );
        }
        let name = dest
            .file_name()
            .with_context(|| format!("{} is not a file name", dest.display()))?;
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".cdn-tmp");
        #[cfg(unix)]
        {
            // A thumbnail is not a secret: the usual mode, less the umask.
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let temp = builder
            .tempfile_in(folder)
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(AtomicFile {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// Writes `bytes`, flushes them to disk and renames the file into place.
    pub fn commit(mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let what = || format!("cannot write {}", self.dest.display());
        self.temp.write_all(bytes).with_context(what)?;
        self.temp.as_file().sync_all().with_context(what)?;
        let dest = self.dest.clone();
        self.temp
            .persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(())
    }
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
    fn commit_writes_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.jpg");
        std::fs::write(&dest, b"old").unwrap();
        let file = AtomicFile::create(&dest).unwrap();
        // Until the commit, the old file is intact and the temporary file is beside it.
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(names(dir.path()).len(), 2);
        file.commit(b"new bytes").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new bytes");
        assert_eq!(names(dir.path()), vec!["out.jpg"]);
    }

    #[test]
    fn dropping_without_commit_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = AtomicFile::create(&dir.path().join("out.jpg")).unwrap();
        drop(file);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_missing_folder_fails_at_create() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("missing/out.jpg");
        let err = AtomicFile::create(&dest).err().expect("must fail");
        assert!(format!("{err:#}").contains("missing/out.jpg"), "{err:#}");
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        assert!(AtomicFile::create(Path::new("")).is_err());
        assert!(AtomicFile::create(Path::new("/")).is_err());
    }
}
