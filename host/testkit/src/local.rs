//! `cdn-local` runs: the binary with a shared compiled-plugin cache and its call log, sample
//! folders, and checks of the thumbnails it writes.

use crate::process::{bin, Proc, Ran};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// No test run of `cdn-local` may take longer than this.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// A command for `cdn-local ARGS` with a compiled-plugin cache shared by the tests (so they do
/// not each compile the plugin, in `target/tmp/plugin-cache`) and, if given, the call log (one
/// line per plugin call: the pid and the image) at `call_log`.
pub fn command(args: &[&str], call_log: Option<&Path>) -> Command {
    let binary = bin("cdn-local");
    let target = binary
        .parent()
        .and_then(Path::parent)
        .expect("binaries live in target/<profile>");
    let mut cmd = Command::new(&binary);
    cmd.args(args)
        .env(
            "IMAGECDN_CACHE_DIR",
            target.join("tmp").join("plugin-cache"),
        )
        .env_remove("RUST_LOG")
        .env_remove("CDN_LOCAL_CALL_LOG");
    if let Some(log) = call_log {
        cmd.env("CDN_LOCAL_CALL_LOG", log);
    }
    cmd
}

/// Starts `cdn-local` in the background, its stdout and stderr kept in files under `dir`.
pub fn start(dir: &Path, args: &[&str], call_log: Option<&Path>) -> Proc {
    Proc::spawn_keeping_stdout(
        "cdn-local",
        command(args, call_log),
        &dir.join("cdn-local.stderr"),
        &dir.join("cdn-local.stdout"),
    )
}

/// Runs `cdn-local ARGS` to completion (bounded by [`TIME_LIMIT`]).
pub fn run(args: &[&str], call_log: Option<&Path>) -> Ran {
    let ran = crate::process::run_bounded(command(args, call_log), TIME_LIMIT);
    eprintln!("--- cdn-local stderr:\n{}", ran.stderr);
    ran
}

/// Writes `count` photo-like JPEGs `img_<i>.jpg` of `w`x`h` into `dir`; returns their paths.
pub fn make_images(dir: &Path, count: u32, w: u32, h: u32, seed: u64) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir");
    (0..count)
        .map(|i| {
            let image = cdn_samples::photo(w, h, seed * 1000 + u64::from(i));
            let bytes = cdn_samples::jpeg(&image, 85, &Default::default()).expect("encode sample");
            let path = dir.join(format!("img_{}.jpg", (i + 1) * 100));
            std::fs::write(&path, bytes).expect("write sample");
            path
        })
        .collect()
}

/// The call log: how many plugin calls each image got, and by which pids (in order).
pub fn call_log(path: &Path) -> BTreeMap<PathBuf, Vec<u32>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut calls: BTreeMap<PathBuf, Vec<u32>> = BTreeMap::new();
    for line in text.lines() {
        let (pid, image) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad call log line {line:?}"));
        let pid: u32 = pid.parse().expect("pid");
        calls.entry(PathBuf::from(image)).or_default().push(pid);
    }
    calls
}

/// The thumbnail path of `source` (JPEG output).
pub fn thumb(source: &Path) -> PathBuf {
    let name = source.file_name().expect("file name").to_string_lossy();
    source.with_file_name(format!("{name}_thumb.jpg"))
}

/// Decodes a thumbnail and returns (format, width, height).
pub fn decode(path: &Path) -> (&'static str, u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoded = cdn_samples::decode(&bytes)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    (decoded.format, decoded.image.width, decoded.image.height)
}

/// Asserts that `path` is a JPEG fitting in `w` x `h` and touching the box on one side.
pub fn assert_fits(path: &Path, w: u32, h: u32) {
    let (format, tw, th) = decode(path);
    assert_eq!(format, "jpeg", "{}", path.display());
    assert!(
        tw <= w && th <= h && (tw == w || th == h),
        "{} is {tw}x{th}, not fitted to {w}x{h}",
        path.display()
    );
}

/// Every file name in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
