//! Helpers of the `cdn-local` tests: run the real binary (bounded in time), make sample images,
//! read the call log, check thumbnails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cdn-local");
/// No test run of the binary may take longer than this.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// A finished run of the binary.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The `--json` summary on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A command for the binary with a shared compiled-plugin cache (so tests do not each compile
/// the plugin) and the call log at `call_log`, with stdout and stderr going to files in `dir`.
pub fn command(args: &[&str], call_log: Option<&Path>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env(
            "IMAGECDN_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache"),
        )
        .env_remove("RUST_LOG")
        .env_remove("CDN_LOCAL_CALL_LOG")
        .stdin(Stdio::null());
    if let Some(log) = call_log {
        cmd.env("CDN_LOCAL_CALL_LOG", log);
    }
    cmd
}

/// A started binary whose output goes to files; killed if dropped unfinished.
pub struct Running {
    pub child: Child,
    started: Instant,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("stdout");
        let err = dir.path().join("stderr");
        cmd.stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"));
        let child = cmd.spawn().expect("start cdn-local");
        Running {
            child,
            started: Instant::now(),
            out,
            err,
            _dir: dir,
        }
    }

    /// Whether the time limit has passed (then the process is killed and the test fails).
    pub fn check_time(&mut self) {
        if self.started.elapsed() > TIME_LIMIT {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "cdn-local ran past {TIME_LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&self.err).unwrap_or_default()
            );
        }
    }

    pub fn finish(mut self) -> Output {
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for cdn-local") {
                let output = Output {
                    code: status.code(),
                    stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
                    stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
                };
                eprintln!("--- cdn-local stderr:\n{}", output.stderr);
                return output;
            }
            self.check_time();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary to completion.
pub fn run(args: &[&str], call_log: Option<&Path>) -> Output {
    Running::start(command(args, call_log)).finish()
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

pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
