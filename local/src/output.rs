//! Atomic output: bytes go to a temporary file in the destination's folder, are flushed to disk,
//! and the file is renamed over the destination. A reader (or a run after a crash) sees either
//! the old file or the complete new one, never a half-written thumbnail.
//!
//! Temporary names are `.<name>.cdn-local-tmp-<pid>-<n>`: hidden, not an image extension (so a
//! scan never takes one for a source), and carrying the writer's pid so that a later scan can
//! remove the leftovers of a process that was killed mid-write (`scan::remove_stale_temp_files`).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const TEMP_MARK: &str = ".cdn-local-tmp-";

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}{TEMP_MARK}{}-{n}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.jpg_thumb.jpg");
        write_atomic(&path, b"first version, longer").expect("write");
        write_atomic(&path, b"second").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["a.jpg_thumb.jpg"]);
    }

    #[test]
    fn failure_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The destination is a non-empty folder: the rename fails.
        let path = dir.path().join("busy");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::write(path.join("x"), b"x").expect("write");
        assert!(write_atomic(&path, b"data").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn temp_names_carry_the_pid() {
        assert_eq!(
            temp_file_pid(".img.jpg_thumb.jpg.cdn-local-tmp-4242-7"),
            Some(4242)
        );
        assert_eq!(temp_file_pid("img.jpg_thumb.jpg"), None);
        assert_eq!(temp_file_pid(".x.cdn-local-tmp-12"), None);
        assert_eq!(temp_file_pid(".x.cdn-local-tmp-a-1"), None);
    }
}
