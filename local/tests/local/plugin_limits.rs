//! `cdn-local` under `--plugin-time`: a plugin blocked in a WASI call (an hour's sleep) fails its
//! image with `time_limit` when the cap runs out, in both modes, instead of hanging the run.

use cdn_testkit::local::{command, make_images};
use cdn_testkit::path_str as s;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The cap given to the plugin.
const CAP: Duration = Duration::from_secs(1);
/// A run that takes longer than this did not stop at the cap (start-up and the good images are
/// well under a second each).
const EXPECTED_WITHIN: Duration = Duration::from_secs(20);
/// Past this the run is killed (with its worker processes) and the test fails.
const KILL_AFTER: Duration = Duration::from_secs(60);

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `cdn-local ARGS` in its own process group; past [`KILL_AFTER`], the whole group (the
/// parent and its worker processes, all started here) is killed by its id and the test fails.
fn run_in_group(dir: &Path, args: &[&str]) -> Finished {
    let out = dir.join("stdout");
    let err = dir.join("stderr");
    let mut cmd = command(args, None);
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start cdn-local");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cdn-local") {
            break status;
        }
        if started.elapsed() > KILL_AFTER {
            let group = format!("-{}", child.id());
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
            let _ = child.wait();
            panic!(
                "cdn-local {args:?} still running after {KILL_AFTER:?}; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        took: started.elapsed(),
    }
}

#[test]
fn a_plugin_sleeping_in_wasi_fails_its_image_at_the_time_cap() {
    for mode in ["threads", "processes"] {
        let root = tempfile::tempdir().expect("temp dir");
        let images = root.path().join("images");
        make_images(&images, 1, 64, 48, 5);
        let plugin = root.path().join("sleeper.wasm");
        std::fs::write(&plugin, cdn_testkit::hostile_plugins::sleeper()).expect("write plugin");

        let ran = run_in_group(
            root.path(),
            &[
                mode,
                "--plugin",
                s(&plugin),
                "--plugin-time",
                "1s",
                "--json",
                "-q",
                s(&images),
            ],
        );
        eprintln!("--- {mode} stderr:\n{}", ran.stderr);
        assert_eq!(ran.status.code(), Some(1), "{mode}: one image failed");
        let summary: serde_json::Value = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("{mode}: stdout is not JSON ({e}): {}", ran.stdout));
        assert_eq!(summary["failed"], 1, "{mode}: {summary}");
        assert_eq!(summary["done"], 0, "{mode}: {summary}");
        assert_eq!(
            summary["failures"][0]["kind"], "time_limit",
            "{mode}: {summary}"
        );
        assert!(
            ran.took >= CAP,
            "{mode}: ended before the cap: {:?}",
            ran.took
        );
        assert!(
            ran.took < EXPECTED_WITHIN,
            "{mode}: took {:?} for a 1 s cap",
            ran.took
        );
    }
}
