//! End-to-end tests of `cdn-local`: the real binary on temporary folders, both modes.

use cdn_testkit::local::*;
use cdn_testkit::path_str as s;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MODES: &[&str] = &["threads", "processes"];

/// Each image gets exactly one plugin call, whatever the width, and every thumbnail fits.
#[test]
fn each_image_is_processed_exactly_once() {
    for mode in MODES {
        let root = tempfile::tempdir().expect("temp dir");
        let (a, b) = (root.path().join("node_a"), root.path().join("node_b"));
        let mut images = make_images(&a, 9, 800, 600, 1);
        images.extend(make_images(&b, 8, 600, 800, 2));
        let log = root.path().join("calls.log");
        let out = run(&[mode, "-j", "3", "--json", s(&a), s(&b)], Some(&log));
        assert_eq!(out.code, Some(0), "{mode}: {out:#?}");
        let summary = out.json();
        assert_eq!(summary["mode"], *mode);
        assert_eq!(summary["done"], 17, "{summary}");
        assert_eq!(summary["failed"], 0);
        assert_eq!(summary["skipped"], 0);
        assert!(summary["images_per_second"].as_f64().expect("rate") > 0.0);
        assert_eq!(summary["plugin_hash"].as_str().expect("hash").len(), 64);

        let calls = call_log(&log);
        let called: Vec<&PathBuf> = calls.keys().collect();
        let mut expected: Vec<&PathBuf> = images.iter().collect();
        expected.sort();
        assert_eq!(called, expected, "{mode}: every image called");
        for (image, pids) in &calls {
            assert_eq!(pids.len(), 1, "{mode}: {} called {pids:?}", image.display());
        }
        let pids: std::collections::BTreeSet<u32> = calls.values().flatten().copied().collect();
        if *mode == "processes" {
            assert!(pids.len() <= 3, "{mode}: at most 3 workers, got {pids:?}");
        } else {
            assert_eq!(pids.len(), 1, "threads: one process");
        }
        for image in &images {
            let (w, h) = if image.starts_with(&a) {
                (256, 192)
            } else {
                (192, 256)
            };
            let (format, tw, th) = decode(&thumb(image));
            assert_eq!((format, tw, th), ("jpeg", w, h), "{}", image.display());
        }
    }
}

/// Processes mode really uses separate processes, none of them the parent.
#[test]
fn processes_mode_works_in_child_processes() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("imgs");
    make_images(&dir, 6, 640, 480, 3);
    let log = root.path().join("calls.log");
    let running = start(
        root.path(),
        &["processes", "-j", "2", "--json", "-q", s(&dir)],
        Some(&log),
    );
    let parent = running.pid();
    let out = running.finish(TIME_LIMIT);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.json()["jobs"], 2);
    let pids: std::collections::BTreeSet<u32> =
        call_log(&log).values().flatten().copied().collect();
    assert!(
        !pids.is_empty() && !pids.contains(&parent),
        "{pids:?} vs parent {parent}"
    );
}

/// A corrupt file, a truncated one, a zero-byte file and a text file named .jpg: the good
/// images are done, the bad ones listed with their errors, exit code 1.
#[test]
fn bad_images_are_reported_and_do_not_stop_the_run() {
    for mode in MODES {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("mixed");
        let good = make_images(&dir, 4, 800, 600, 4);
        let valid = std::fs::read(&good[0]).expect("read");
        std::fs::write(dir.join("truncated.jpg"), &valid[..valid.len() / 3]).expect("write");
        let mut corrupt = vec![0xFF, 0xD8, 0xFF, 0xE0];
        corrupt.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        std::fs::write(dir.join("corrupt.jpg"), corrupt).expect("write");
        std::fs::write(dir.join("empty.jpg"), b"").expect("write");
        std::fs::write(dir.join("notes.jpg"), b"shopping list: milk, eggs\n").expect("write");
        std::fs::write(dir.join("readme.txt"), b"not an image name").expect("write");

        let out = run(&[mode, "-j", "2", "--json", s(&dir)], None);
        assert_eq!(out.code, Some(1), "{mode}: {out:#?}");
        let summary = out.json();
        assert_eq!(summary["done"], 4, "{summary}");
        assert_eq!(summary["failed"], 4, "{summary}");
        let failures = summary["failures"].as_array().expect("failures");
        let error_of = |name: &str| -> String {
            failures
                .iter()
                .find(|f| f["source"].as_str().is_some_and(|s| s.ends_with(name)))
                .and_then(|f| f["error"].as_str())
                .unwrap_or_else(|| panic!("{mode}: {name} not among the failures: {summary}"))
                .to_string()
        };
        assert!(error_of("empty.jpg").contains("empty"), "{summary}");
        assert!(
            error_of("notes.jpg").contains("unsupported format"),
            "{summary}"
        );
        assert!(error_of("truncated.jpg").contains("JPEG"), "{summary}");
        assert!(!error_of("corrupt.jpg").is_empty());
        assert!(
            failures.iter().all(|f| f["kind"] == "plugin_error"),
            "{summary}"
        );
        for image in &good {
            assert_fits(&thumb(image), 256, 256);
        }
        for bad in ["truncated.jpg", "corrupt.jpg", "empty.jpg", "notes.jpg"] {
            assert!(
                !thumb(&dir.join(bad)).exists(),
                "{mode}: no thumbnail for {bad}"
            );
        }

        // The text summary names each bad file with its error, too.
        let out = run(&[mode, "-j", "2", s(&dir)], None);
        assert_eq!(out.code, Some(1));
        assert!(out.stdout.contains("4 skipped, 4 failed"), "{}", out.stdout);
        assert!(
            out.stdout
                .contains("empty.jpg: plugin error (exit code 1): empty input"),
            "{}",
            out.stdout
        );
        assert!(out.stderr.contains("FAILED"), "{}", out.stderr);
    }
}

/// A second run skips everything; a changed source is redone; `--force` redoes everything.
#[test]
fn rerun_skips_and_force_redoes() {
    for mode in MODES {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("imgs");
        let images = make_images(&dir, 5, 640, 480, 5);
        let log = root.path().join("calls.log");
        let summary = |args: &[&str]| {
            let mut all = vec![*mode, "--json", "-j", "2"];
            all.extend_from_slice(args);
            all.push(s(&dir));
            let out = run(&all, Some(&log));
            assert_eq!(out.code, Some(0), "{mode}: {out:#?}");
            out.json()
        };
        let calls = || call_log(&log).values().map(Vec::len).sum::<usize>();

        let first = summary(&[]);
        assert_eq!(
            (first["done"].as_u64(), first["skipped"].as_u64()),
            (Some(5), Some(0))
        );
        assert_eq!(calls(), 5);

        let again = summary(&[]);
        assert_eq!(
            (again["done"].as_u64(), again["skipped"].as_u64()),
            (Some(0), Some(5))
        );
        assert_eq!(calls(), 5, "{mode}: a re-run calls no plugin");

        // A source newer than its thumbnail is done again, and only that one.
        let later = std::time::SystemTime::now() + Duration::from_secs(3);
        std::fs::File::options()
            .write(true)
            .open(&images[2])
            .and_then(|f| f.set_modified(later))
            .expect("touch");
        let changed = summary(&[]);
        assert_eq!(
            (changed["done"].as_u64(), changed["skipped"].as_u64()),
            (Some(1), Some(4))
        );
        assert_eq!(call_log(&log)[&images[2]].len(), 2);

        let forced = summary(&["--force"]);
        assert_eq!(
            (forced["done"].as_u64(), forced["skipped"].as_u64()),
            (Some(5), Some(0))
        );
        assert_eq!(calls(), 11);
        // Never a thumbnail of a thumbnail, never a temporary file left.
        let expected: Vec<String> = images
            .iter()
            .flat_map(|p| [p.clone(), thumb(p)])
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(names(&dir), expected);
    }
}

/// Killing a worker process mid-run: its image is retried by another, the run completes with
/// every thumbnail made and a correct summary.
#[test]
fn killing_a_worker_loses_no_image() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("big");
    let setup = run(
        &[
            "setup",
            "--dirs",
            s(&dir),
            "--count",
            "40",
            "--size",
            "2400x1800",
            "--seed",
            "7",
        ],
        None,
    );
    assert_eq!(setup.code, Some(0), "{setup:#?}");
    let log = root.path().join("calls.log");
    let mut running = start(
        root.path(),
        &["processes", "-j", "2", "--json", s(&dir)],
        Some(&log),
    );
    let parent = running.pid();
    // Wait until the workers are busy, then kill the one that just took an image.
    let victim = loop {
        running.check_time(TIME_LIMIT);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() >= 3 {
            let pid: u32 = lines[lines.len() - 1]
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("pid in the call log");
            break pid;
        }
        assert!(
            running.child.try_wait().expect("wait").is_none(),
            "the run ended before a worker could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_ne!(victim, parent);
    let killed = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let out = running.finish(TIME_LIMIT);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let summary = out.json();
    assert_eq!(summary["done"], 40, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["worker_deaths"], 1, "{summary}");
    assert_eq!(
        summary["retried"], 1,
        "the killed worker held an image: {summary}"
    );
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);

    let calls = call_log(&log);
    assert_eq!(calls.len(), 40, "every image was called");
    let twice: Vec<_> = calls.iter().filter(|(_, pids)| pids.len() > 1).collect();
    assert_eq!(
        twice.len(),
        1,
        "only the killed worker's image ran twice: {twice:?}"
    );
    let (_, pids) = twice[0];
    assert_eq!(pids.len(), 2);
    assert_eq!(pids[0], victim, "first by the killed worker");
    assert_ne!(pids[1], victim, "then by another");
    for image in calls.keys() {
        assert_fits(&thumb(image), 256, 256);
    }
    assert!(
        names(&dir).iter().all(|n| !n.starts_with('.')),
        "no temporary file left: {:?}",
        names(&dir)
    );
}

/// Killing the parent: the workers notice (EOF on stdin) and exit, every thumbnail that exists
/// is complete, and the next run finishes the job.
#[test]
fn killed_parent_leaves_no_process_and_no_half_file() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("big");
    let setup = run(
        &[
            "setup",
            "--dirs",
            s(&dir),
            "--count",
            "30",
            "--size",
            "2400x1800",
            "--seed",
            "8",
        ],
        None,
    );
    assert_eq!(setup.code, Some(0), "{setup:#?}");
    let log = root.path().join("calls.log");
    let mut running = start(root.path(), &["processes", "-j", "2", s(&dir)], Some(&log));
    let workers = loop {
        running.check_time(TIME_LIMIT);
        let calls = call_log(&log);
        let pids: std::collections::BTreeSet<u32> = calls.values().flatten().copied().collect();
        if calls.len() >= 4 {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    running.child.kill().expect("kill the parent");
    running.child.wait().expect("reap the parent");
    let deadline = Instant::now() + Duration::from_secs(30);
    for pid in &workers {
        while alive(*pid) {
            assert!(
                Instant::now() < deadline,
                "worker {pid} outlived its parent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for name in names(&dir) {
        if name.contains("_thumb.") && !name.starts_with('.') {
            assert_fits(&dir.join(&name), 256, 256);
        }
    }
    let out = run(&["processes", "-j", "2", "--json", s(&dir)], None);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let summary = out.json();
    assert_eq!(
        summary["done"].as_u64().unwrap_or(0) + summary["skipped"].as_u64().unwrap_or(0),
        30
    );
    assert!(summary["skipped"].as_u64().unwrap_or(0) >= 1, "{summary}");
    assert_eq!(
        names(&dir).len(),
        60,
        "sources and thumbnails only: {:?}",
        names(&dir)
    );
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// The box flags reach the plugin: contain, cover, PNG output, a portrait source.
#[test]
fn thumbnails_fit_the_box() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("box");
    let landscape = make_images(&dir, 1, 900, 500, 9).remove(0);
    let portrait = dir.join("tall.jpg");
    std::fs::write(
        &portrait,
        cdn_samples::jpeg(&cdn_samples::photo(300, 700, 3), 85, &Default::default())
            .expect("encode"),
    )
    .expect("write");

    let out = run(
        &["threads", "--width", "120", "--height", "80", s(&dir)],
        None,
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(decode(&thumb(&landscape)), ("jpeg", 120, 67));
    assert_eq!(decode(&thumb(&portrait)), ("jpeg", 34, 80));

    let out = run(
        &[
            "processes",
            "--force",
            "--width",
            "120",
            "--height",
            "80",
            "--fit",
            "cover",
            s(&dir),
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(decode(&thumb(&landscape)), ("jpeg", 120, 80));
    assert_eq!(decode(&thumb(&portrait)), ("jpeg", 120, 80));

    let out = run(
        &[
            "threads",
            "--format",
            "png",
            "--width",
            "64",
            "--height",
            "64",
            s(&dir),
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    let png = dir.join("tall.jpg_thumb.png");
    assert_eq!(decode(&png), ("png", 27, 64));
    // The default box: 256x256.
    let out = run(&["threads", "--force", s(&dir)], None);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(decode(&thumb(&landscape)), ("jpeg", 256, 142));
}

/// A custom plugin with its own flags, given with `--arg`; a bad plugin stops the run at once.
#[test]
fn custom_plugins() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("custom");
    let images = make_images(&dir, 3, 640, 480, 11);
    for mode in MODES {
        let out = run(
            &[
                mode,
                "--force",
                "--plugin",
                "builtin:stamp",
                "--arg=--size",
                "--arg",
                "90",
                s(&dir),
            ],
            None,
        );
        assert_eq!(out.code, Some(0), "{mode}: {out:#?}");
        for image in &images {
            assert_eq!(decode(&thumb(image)), ("jpeg", 90, 90));
        }
        // A flag the plugin does not know: every image fails with the plugin's message.
        let out = run(
            &[
                mode,
                "--force",
                "--json",
                "--plugin",
                "builtin:stamp",
                "--arg=--shadow",
                "--arg=9",
                s(&dir),
            ],
            None,
        );
        assert_eq!(out.code, Some(1), "{mode}: {out:#?}");
        let summary = out.json();
        assert_eq!(summary["failed"], 3);
        assert!(
            summary["failures"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("unknown flag --shadow")),
            "{summary}"
        );
    }
    // A plugin file that is not WebAssembly: refused before any work, exit code 2.
    let fake = root.path().join("fake.wasm");
    std::fs::write(&fake, b"not wasm").expect("write");
    for mode in MODES {
        let out = run(&[mode, "--plugin", s(&fake), s(&dir)], None);
        assert_eq!(out.code, Some(2), "{mode}: {out:#?}");
        assert!(out.stderr.contains("fake.wasm"), "{}", out.stderr);
    }
}

/// Usage errors and missing folders: exit code 2 with a clear message.
#[test]
fn cannot_start_errors() {
    let out = run(&["threads", "/nonexistent/cdn-local-test"], None);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(
        out.stderr.contains("/nonexistent/cdn-local-test"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("cdn-local setup"), "{}", out.stderr);
    let out = run(&["processes", "--arg=--x", "--width", "5", "/tmp"], None);
    assert_eq!(out.code, Some(2), "{out:#?}");
    let out = run(&["threads"], None);
    assert_eq!(out.code, Some(2), "{out:#?}");
    let out = run(&["--help"], None);
    assert_eq!(out.code, Some(0));
    for word in ["setup", "threads", "processes", "Examples"] {
        assert!(out.stdout.contains(word), "{}", out.stdout);
    }
    assert!(!out.stdout.contains("__child"), "the worker role is hidden");
}

/// `setup` makes deterministic, photo-like JPEGs of the asked size and leaves other files alone.
#[test]
fn setup_is_deterministic() {
    let root = tempfile::tempdir().expect("temp dir");
    let (a, b, c) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::write(a.join("mine.txt"), b"keep me").expect("write");
    let make = |dirs: &[&Path], seed: &str| {
        let mut args = vec![
            "setup", "--count", "3", "--size", "640x480", "--seed", seed, "--dirs",
        ];
        args.extend(dirs.iter().map(|d| s(d)));
        let out = run(&args, None);
        assert_eq!(out.code, Some(0), "{out:#?}");
        out
    };
    let out = make(&[&a, &b], "5");
    assert!(out.stdout.contains("6 sample images"), "{}", out.stdout);
    assert_eq!(
        names(&a),
        ["img_100.jpg", "img_200.jpg", "img_300.jpg", "mine.txt"]
    );
    assert_eq!(std::fs::read(a.join("mine.txt")).expect("read"), b"keep me");
    let bytes = |p: PathBuf| std::fs::read(p).expect("read");
    assert_ne!(
        bytes(a.join("img_100.jpg")),
        bytes(b.join("img_100.jpg")),
        "folders differ"
    );
    assert_ne!(
        bytes(a.join("img_100.jpg")),
        bytes(a.join("img_200.jpg")),
        "images differ"
    );
    for name in ["img_100.jpg", "img_200.jpg", "img_300.jpg"] {
        let (format, w, h) = decode(&a.join(name));
        assert_eq!((format, w, h), ("jpeg", 640, 480));
        // Photo-like: a 640x480 JPEG of real content is tens of kilobytes, a flat one is tiny.
        assert!(bytes(a.join(name)).len() > 20_000, "{name} looks flat");
    }
    // The same seed gives the same files (and leaves them untouched), another seed others.
    let before = std::fs::metadata(a.join("img_100.jpg"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let out = make(&[&a, &c], "5");
    assert!(
        out.stdout.contains("3 written, 3 already up to date"),
        "{}",
        out.stdout
    );
    let after = std::fs::metadata(a.join("img_100.jpg"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(before, after);
    make(&[&c], "6");
    assert_ne!(bytes(a.join("img_100.jpg")), bytes(c.join("img_100.jpg")));
}
