//! Which files of a folder `cdn register --dir` registers.

use anyhow::Context;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The extensions registered (compared without regard to case).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];

/// One file to register: its path, and its name (the image id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub name: OsString,
}

/// Every regular file (or link to one) directly in `dir` with an image extension, sorted by
/// name; hidden files and the local runners' `*_thumb.*` outputs are left out.
pub fn scan(dir: &Path) -> anyhow::Result<Vec<Candidate>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        let name = entry.file_name();
        if !wanted(&name) {
            continue;
        }
        let path = entry.path();
        // Follows links; an entry that vanished or cannot be examined is not a regular file.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => found.push(Candidate { path, name }),
            Ok(_) => {}
            Err(e) => tracing::debug!(path = %path.display(), "skipped: {e}"),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Whether a file name is an image to register (by name only).
pub fn wanted(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    if name.starts_with('.') {
        return false;
    }
    let Some((stem, extension)) = name.rsplit_once('.') else {
        return false;
    };
    IMAGE_EXTENSIONS
        .iter()
        .any(|wanted| extension.eq_ignore_ascii_case(wanted))
        && !stem.ends_with("_thumb")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn names_by_extension_hidden_and_thumb() {
        for yes in [
            "a.jpg",
            "a.JPG",
            "b.jpeg",
            "c.PnG",
            "d.webp",
            "x.y.jpg",
            "thumb.jpg",
        ] {
            assert!(wanted(OsStr::new(yes)), "{yes}");
        }
        for no in [
            "a.gif",
            "a",
            "jpg",
            "a.jpg.bak",
            ".hidden.jpg",
            "img_100.jpg_thumb.jpg",
            "a_thumb.png",
            "a_THUMB.jpg_thumb.JPG",
            ".img.jpg_thumb.jpg.cdn-tmp-1-2",
        ] {
            assert!(!wanted(OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn scan_keeps_sorted_regular_image_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.jpg",
            "a.PNG",
            "c.webp",
            "notes.txt",
            "b.jpg_thumb.jpg",
            ".hidden.jpg",
            "Z.jpeg",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("folder.jpg")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/deep.jpg"), b"x").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("b.jpg"), dir.path().join("link.jpg"))
                .unwrap();
            std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("dangling.jpg"))
                .unwrap();
        }
        let names: Vec<String> = scan(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| {
                assert_eq!(c.path, dir.path().join(&c.name));
                c.name.to_string_lossy().into_owned()
            })
            .collect();
        let mut expected = vec!["Z.jpeg", "a.PNG", "b.jpg", "c.webp"];
        if cfg!(unix) {
            expected.push("link.jpg");
        }
        assert_eq!(names, expected);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = scan(&missing).unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
    }
}
