//! Finding the images in the folders and deciding, for each, whether its thumbnail must be made.

use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Source extensions treated as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif"];

/// What marks one of our outputs: `img_100.jpg_thumb.jpg` contains it, and so is never a source.
pub const THUMB_MARK: &str = "_thumb.";

/// One source image and where its thumbnail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub source: PathBuf,
    pub output: PathBuf,
    /// Whether an up-to-date thumbnail already exists (and `--force` was not given).
    pub skip: bool,
}

/// Whether a file name is a source image (by extension, and not one of our outputs).
pub fn is_source_image(name: &str) -> bool {
    if name.starts_with('.') || name.contains(THUMB_MARK) {
        return false;
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => IMAGE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known)),
        _ => false,
    }
}

/// The thumbnail's path for `source`: `<file name>_thumb.<extension>` in the same folder.
pub fn output_path(source: &Path, extension: &str) -> PathBuf {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    source.with_file_name(format!("{name}_thumb.{extension}"))
}

/// Lists the images directly inside each folder, sorted, each once even if folders repeat, and
/// marks those whose thumbnail exists and is at least as new as the source (unless `force`).
pub fn scan(dirs: &[PathBuf], extension: &str, force: bool) -> Result<Vec<Task>> {
    let mut seen = HashSet::new();
    let mut tasks = Vec::new();
    for dir in dirs {
        let meta = std::fs::metadata(dir).with_context(|| {
            format!(
                "cannot open folder {} (run `cdn-local setup` to make the sample folders)",
                dir.display()
            )
        })?;
        if !meta.is_dir() {
            bail!("{} is not a folder", dir.display());
        }
        let canonical = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        if !seen.insert(canonical) {
            tracing::debug!(dir = %dir.display(), "folder given twice, scanned once");
            continue;
        }
        remove_stale_temp_files(dir);
        let mut found = Vec::new();
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(file = ?entry.path(), "skipping a file whose name is not UTF-8");
                continue;
            };
            if !is_source_image(name) {
                continue;
            }
            let path = entry.path();
            // Follows symlinks: a link to an image is an image.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => found.push(path),
                Ok(_) => {}
                Err(e) => tracing::warn!(file = %path.display(), "cannot read: {e}"),
            }
        }
        found.sort();
        for source in found {
            let output = output_path(&source, extension);
            let skip = !force && up_to_date(&source, &output);
            tasks.push(Task {
                source,
                output,
                skip,
            });
        }
    }
    Ok(tasks)
}

/// Whether `output` exists and is at least as new as `source`.
fn up_to_date(source: &Path, output: &Path) -> bool {
    let modified = |p: &Path| -> Option<SystemTime> { std::fs::metadata(p).ok()?.modified().ok() };
    match (modified(source), modified(output)) {
        (Some(src), Some(out)) => out >= src,
        _ => false,
    }
}

/// Removes temporary files left by a run that was killed while writing (see `output.rs`):
/// only ours, and only those whose writing process no longer exists.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(cdn_common::atomic::temp_file_pid) else {
            continue;
        };
        if !process_gone(pid) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {
                tracing::info!(file = %entry.path().display(), "removed a stale temporary file")
            }
            Err(e) => tracing::debug!(file = %entry.path().display(), "cannot remove: {e}"),
        }
    }
}

/// Whether no process `pid` exists. Only known where `/proc` exists; elsewhere assume it lives.
fn process_gone(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    proc_root.join("self").exists() && !proc_root.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_files_are_images() {
        for yes in [
            "img_100.jpg",
            "a.JPEG",
            "b.png",
            "c.WebP",
            "d.gif",
            "x.y.jpg",
        ] {
            assert!(is_source_image(yes), "{yes}");
        }
        for no in [
            "img_100.jpg_thumb.jpg",
            "a_thumb.png",
            "notes.txt",
            "jpg",
            ".jpg",
            ".hidden.jpg",
            "archive.jpg.zip",
            ".img_1.jpg_thumb.jpg.cdn-tmp-12-0",
        ] {
            assert!(!is_source_image(no), "{no}");
        }
    }

    #[test]
    fn output_names() {
        assert_eq!(
            output_path(Path::new("/tmp/node_a/img_100.jpg"), "jpg"),
            Path::new("/tmp/node_a/img_100.jpg_thumb.jpg")
        );
        assert_eq!(
            output_path(Path::new("x/a.PNG"), "webp"),
            Path::new("x/a.PNG_thumb.webp")
        );
    }

    #[test]
    fn skips_fresh_thumbnails_unless_forced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = dir.path().join("a.jpg");
        std::fs::write(&src, b"x").expect("write");
        std::fs::write(dir.path().join("b.png"), b"x").expect("write");
        std::fs::write(dir.path().join("readme.txt"), b"x").expect("write");
        let dirs = [dir.path().to_path_buf(), dir.path().to_path_buf()];
        let tasks = scan(&dirs, "jpg", false).expect("scan");
        assert_eq!(tasks.len(), 2, "each image once even if its folder repeats");
        assert!(tasks.iter().all(|t| !t.skip));

        std::fs::write(output_path(&src, "jpg"), b"t").expect("write");
        let tasks = scan(&dirs, "jpg", false).expect("scan");
        assert_eq!(tasks.len(), 2, "the thumbnail is not a source");
        assert!(tasks[0].skip && !tasks[1].skip, "{tasks:?}");
        assert!(scan(&dirs, "jpg", true)
            .expect("scan")
            .iter()
            .all(|t| !t.skip));
        // Another format's thumbnail does not count.
        assert!(scan(&dirs, "png", false)
            .expect("scan")
            .iter()
            .all(|t| !t.skip));

        // A source changed after its thumbnail was made is done again.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&src)
            .and_then(|f| f.set_modified(later))
            .expect("touch");
        assert!(!scan(&dirs, "jpg", false).expect("scan")[0].skip);
    }

    #[test]
    fn missing_folder_is_an_error() {
        let err =
            scan(&[PathBuf::from("/nonexistent/cdn-local")], "jpg", false).expect_err("must fail");
        assert!(format!("{err:#}").contains("/nonexistent/cdn-local"));
    }
}
