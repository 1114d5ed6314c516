//! The compiled-code cache runs native code outside the sandbox, so it only reads files it wrote
//! itself: a folder others can write to (or that another user owns) is refused when the runtime
//! is made, and a cached file without our integrity tag (planted, altered, truncated) is deleted
//! and compiled again.

use crate::tiny;
use cdn_runtime::{ContentHash, Limits, RunError, Runtime};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const KEY_FILE: &str = "integrity.key";

fn runtime_in(dir: &Path) -> Result<Runtime, RunError> {
    Runtime::with_cache_dir(Limits::default(), Some(dir.to_path_buf()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The cache file of the plugin with `bytes`.
fn cache_file(dir: &Path, bytes: &[u8]) -> PathBuf {
    let prefix = format!("{}-", ContentHash::of(bytes));
    std::fs::read_dir(dir)
        .expect("list cache")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".cwasm"))
        })
        .unwrap_or_else(|| panic!("no cache file for {prefix} in {}", dir.display()))
}

fn sample_png() -> Vec<u8> {
    cdn_samples::png(
        &cdn_samples::photo(300, 200, 4).to_rgba(),
        &Default::default(),
    )
    .expect("encode a sample PNG")
}

/// What plugin A makes of the sample, compiled fresh (no disk cache involved).
fn a_reference() -> Vec<u8> {
    let rt = Runtime::with_cache_dir(Limits::default(), None).expect("runtime");
    let plugin = rt.load(&tiny::A).expect("load A");
    plugin.run::<&str>(&[], &sample_png()).expect("A runs")
}

/// Damages plugin A's cache file with `damage`, then checks that the next runtime refuses it
/// (compiles instead of loading it), runs the real plugin A, and rewrites a good file that the
/// runtime after it loads.
fn assert_damage_is_refused_and_rebuilt(what: &str, damage: impl FnOnce(&Path, &Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = runtime_in(dir.path()).expect("runtime");
    first.load(&tiny::A).expect("load A");
    first.load(&tiny::B).expect("load B");
    drop(first);
    let a_file = cache_file(dir.path(), &tiny::A);
    damage(dir.path(), &a_file);

    let second = runtime_in(dir.path()).expect("runtime");
    let plugin = second.load(&tiny::A).expect("load A");
    assert_eq!(
        (second.stats().loaded_from_disk, second.stats().compiled),
        (0, 1),
        "{what}: the damaged file must not be loaded"
    );
    let out = plugin.run::<&str>(&[], &sample_png()).expect("A runs");
    assert_eq!(out, a_reference(), "{what}: the real plugin A ran");
    drop((plugin, second));

    let third = runtime_in(dir.path()).expect("runtime");
    third.load(&tiny::A).expect("load A");
    assert_eq!(
        (third.stats().loaded_from_disk, third.stats().compiled),
        (1, 0),
        "{what}: the rebuilt file is used"
    );
}

/// Someone who can write the folder puts valid compiled code of their choice under a plugin's
/// name (here: plugin B's, which wasmtime would load without complaint).
#[test]
fn a_planted_cache_file_is_refused_and_rebuilt() {
    assert_damage_is_refused_and_rebuilt("planted", |dir, a_file| {
        let other = cache_file(dir, &tiny::B);
        std::fs::copy(other, a_file).expect("plant the other plugin's file");
    });
}

#[test]
fn an_altered_cache_file_is_refused_and_rebuilt() {
    assert_damage_is_refused_and_rebuilt("altered", |_, a_file| {
        let mut bytes = std::fs::read(a_file).expect("read");
        // A byte well inside the compiled code, not in the headers.
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(a_file, bytes).expect("alter");
    });
}

#[test]
fn a_truncated_cache_file_is_refused_and_rebuilt() {
    assert_damage_is_refused_and_rebuilt("truncated", |_, a_file| {
        let len = std::fs::metadata(a_file).expect("stat").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(a_file)
            .expect("open");
        file.set_len(len - 100).expect("truncate");
    });
}

#[test]
fn the_folder_key_and_files_are_private() {
    let root = tempfile::tempdir().expect("tempdir");
    // A missing folder (and its parents) is made 0700.
    let dir = root.path().join("cache").join("modules");
    runtime_in(&dir)
        .expect("runtime")
        .load(&tiny::A)
        .expect("load");
    assert_eq!(mode(&dir), 0o700);
    let key = dir.join(KEY_FILE);
    assert_eq!(mode(&key), 0o600, "the key file");
    assert_eq!(std::fs::metadata(&key).expect("stat").len(), 32);
    assert_eq!(mode(&cache_file(&dir, &tiny::A)), 0o600);

    // A key others could have read is refused, with the way out.
    chmod(&key, 0o644);
    let err = runtime_in(&dir).err().expect("a readable key is refused");
    assert!(matches!(err, RunError::Cache { .. }), "got {err:?}");
    let text = err.to_string();
    assert!(text.contains(KEY_FILE) && text.contains("rm "), "{text}");
    // Removing it, as the message says, makes a new key; the old files are then refused.
    std::fs::remove_file(&key).expect("rm key");
    let rt = runtime_in(&dir).expect("runtime with a new key");
    rt.load(&tiny::A).expect("load");
    assert_eq!(
        rt.stats().compiled,
        1,
        "files under the old key are not trusted"
    );
}

/// A folder of ours that others can read but not write (as folders made before these checks
/// were, 0755) is made private and used.
#[test]
fn a_folder_of_ours_readable_by_others_is_made_private() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("modules");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o755);
    runtime_in(&dir).expect("a 0755 folder of ours is fine");
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn a_folder_others_can_write_is_refused() {
    for bad in [0o775, 0o757, 0o777] {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("modules");
        std::fs::create_dir(&dir).expect("mkdir");
        chmod(&dir, bad);
        let err = runtime_in(&dir)
            .err()
            .unwrap_or_else(|| panic!("mode {bad:o} must be refused"));
        match &err {
            RunError::Cache { path, .. } => assert_eq!(path, &dir),
            other => panic!("expected a cache error, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&format!("chmod 700 {}", dir.display())),
            "{text}"
        );
        assert!(
            text.contains("writable by its group or by others"),
            "{text}"
        );
        assert_eq!(mode(&dir), bad, "a refused folder is left as it was");
        assert!(!dir.join(KEY_FILE).exists(), "nothing is written in it");
    }
}

#[test]
fn a_folder_owned_by_another_user_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("modules");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o700);
    // nobody:nogroup. Only root can give a folder away: these tests run as root.
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534))
        .expect("chown to nobody (the tests run as root)");
    let err = runtime_in(&dir)
        .err()
        .expect("another user's folder is refused");
    assert!(matches!(err, RunError::Cache { .. }), "got {err:?}");
    let text = err.to_string();
    assert!(
        text.contains("belongs to user 65534") && text.contains(&dir.display().to_string()),
        "{text}"
    );
}

/// Processes starting at once on a new folder agree on one key: whoever wrote a file, the
/// others accept it.
#[test]
fn concurrent_first_uses_share_one_key() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("modules");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                runtime_in(&dir)
                    .expect("runtime")
                    .load(&tiny::A)
                    .expect("load");
            });
        }
    });
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "the key and one compiled file: {names:?}");
    let after = runtime_in(&dir).expect("runtime");
    after.load(&tiny::A).expect("load");
    assert_eq!(after.stats().loaded_from_disk, 1);
}
