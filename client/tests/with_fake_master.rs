//! The `cdn` binary against a stand-in master over real QUIC (see `support/fake_master.rs`): the
//! documented output lines, JSON, exit codes 0/3/4/5, atomic fetches and concurrent `--dir`
//! registrations. The real master is exercised by host/cdn-host's end-to-end tests.

mod support;

use support::fake_master::{FakeMaster, THUMB};
use support::*;

struct Setup {
    certs: tempfile::TempDir,
    files: tempfile::TempDir,
    master: FakeMaster,
}

impl Setup {
    fn new() -> Setup {
        let certs = certs();
        let master = FakeMaster::start(certs.path());
        Setup {
            certs,
            files: tempfile::tempdir().expect("tempdir"),
            master,
        }
    }

    /// Runs `cdn` against the fake master.
    fn cdn(&self, args: &[&str]) -> Run {
        let address = self.master.address();
        let mut all = vec![
            "--certs",
            path(self.certs.path()),
            "--master",
            &address,
            "--connect-timeout",
            "5s",
        ];
        all.extend_from_slice(args);
        cdn(&all)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let file = self.files.path().join(name);
        std::fs::write(&file, bytes).expect("write");
        path(&file).to_string()
    }
}

#[test]
fn register_once_again_and_in_conflict() {
    let s = Setup::new();
    let cat = s.file("cat.jpg", b"cat bytes");
    let run = s.cdn(&["register", "cat.jpg", &cat]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "registered cat.jpg (9 bytes, plugin thumbnail)\n"
    );

    let run = s.cdn(&["register", "cat.jpg", &cat]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "cat.jpg: already registered with the same bytes (nothing to do)\n"
    );

    let other = s.file("other.jpg", b"other bytes");
    let run = s.cdn(&["register", "cat.jpg", &other]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "cdn: conflict: image cat.jpg is already registered with different bytes\n"
    );
    assert!(run.stdout.is_empty());

    let run = s.cdn(&["register", "bad id", &cat]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.starts_with("cdn: invalid_id: "),
        "{}",
        run.stderr
    );

    let run = s.cdn(&["register", "dog.jpg", &cat, "--plugin", "nope"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.starts_with("cdn: unknown_plugin: "),
        "{}",
        run.stderr
    );

    let run = s.cdn(&[
        "register",
        "small.jpg",
        &cat,
        "--width",
        "64",
        "--height",
        "32",
        "--fit",
        "cover",
        "--format",
        "png",
        "--quality",
        "90",
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["status"], "new");
    assert_eq!(json["image"]["id"], "small.jpg");
    assert_eq!(
        json["image"]["params"],
        serde_json::json!({"width": 64, "height": 32, "fit": "cover", "format": "png", "quality": 90})
    );
}

#[test]
fn register_a_folder_concurrently_reporting_each_refusal() {
    let s = Setup::new();
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..20 {
        std::fs::write(
            dir.path().join(format!("img_{i:02}.jpg")),
            format!("image {i}"),
        )
        .expect("write");
    }
    std::fs::write(dir.path().join("UPPER.PNG"), b"png").expect("write");
    std::fs::write(dir.path().join("img_00.jpg_thumb.jpg"), b"thumb").expect("write");
    std::fs::write(dir.path().join("notes.txt"), b"text").expect("write");
    std::fs::write(dir.path().join("bad name.jpg"), b"x").expect("write");
    std::fs::write(dir.path().join("empty.webp"), b"").expect("write");

    let run = s.cdn(&["register", "--dir", path(dir.path())]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.pop(),
        Some("21 new, 0 already registered, 2 refused"),
        "{}",
        run.stdout
    );
    lines.sort();
    assert_eq!(lines.len(), 21, "{}", run.stdout);
    assert_eq!(lines[0], "registered UPPER.PNG (3 bytes, plugin thumbnail)");
    assert!(lines.contains(&"registered img_07.jpg (7 bytes, plugin thumbnail)"));
    let mut errors: Vec<&str> = run.stderr.lines().collect();
    errors.sort();
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(
        errors[0].starts_with("cdn: bad name.jpg: invalid_id: "),
        "{}",
        run.stderr
    );
    assert_eq!(errors[1], "cdn: empty.webp: empty_body: no image bytes");
    assert_eq!(
        s.master.status("img_19.jpg"),
        Some(cdn_proto::Status::Pending)
    );
    assert_eq!(s.master.status("img_00.jpg_thumb.jpg"), None);
    let most = s
        .master
        .state
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=8).contains(&most),
        "{most} registrations in flight at once"
    );

    // Again, only the good files: nothing new, exit 0; the JSON form has one element per file.
    std::fs::remove_file(dir.path().join("bad name.jpg")).expect("rm");
    std::fs::remove_file(dir.path().join("empty.webp")).expect("rm");
    let run = s.cdn(&["register", "--dir", path(dir.path()), "--json", "-j", "3"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, "0 new, 21 already registered, 0 refused\n");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let array = json.as_array().expect("array");
    assert_eq!(array.len(), 21);
    assert_eq!(array[0]["image"]["id"], "UPPER.PNG");
    assert!(array.iter().all(|r| r["status"] == "already_registered"));
}

#[test]
fn query_fetch_and_list() {
    let s = Setup::new();
    let bytes = s.file("x", b"source");
    for id in ["done-a.jpg", "pending-b.jpg", "fail-c.jpg"] {
        assert_eq!(s.cdn(&["register", id, &bytes]).code, Some(0));
    }

    let run = s.cdn(&["query", "done-a.jpg"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["status"], "done");
    assert!(json["thumbnail"]["location"].is_string(), "{json}");
    assert!(
        run.stdout.contains("\n  \"status\": \"done\""),
        "pretty JSON"
    );

    let run = s.cdn(&["query", "nobody.jpg"]);
    assert_eq!(run.code, Some(3));
    assert_eq!(run.stderr, "cdn: not_found: no image nobody.jpg\n");

    let out = s.files.path().join("thumb.jpg");
    let run = s.cdn(&["fetch", "done-a.jpg", "-o", path(&out)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(std::fs::read(&out).expect("thumb"), THUMB);
    assert_eq!(
        run.stderr,
        format!("wrote {} (16x8 jpeg, 5 bytes)\n", path(&out))
    );

    let run = s.cdn(&["fetch", "done-a.jpg", "-o", "-"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.as_bytes(), THUMB);
    assert_eq!(run.stderr, "wrote stdout (16x8 jpeg, 5 bytes)\n");

    // Not done: refused, and no file (not even a temporary one) is left behind.
    let before = std::fs::read_dir(s.files.path()).expect("ls").count();
    let pending = s.files.path().join("pending.jpg");
    let run = s.cdn(&["fetch", "pending-b.jpg", "-o", path(&pending)]);
    assert_eq!(run.code, Some(3));
    assert_eq!(
        run.stderr,
        "cdn: not_done: image pending-b.jpg is pending\n"
    );
    assert_eq!(
        std::fs::read_dir(s.files.path()).expect("ls").count(),
        before
    );

    let run = s.cdn(&["list"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "ID             STATUS   SOURCE  THUMB  ATTEMPTS  WORKER  ERROR",
            "done-a.jpg     done     6       16x8   1         w1      -",
            "fail-c.jpg     failed   6       -      3         -       plugin: not an image",
            "pending-b.jpg  pending  6       -      0         -       -",
        ]
    );

    let run = s.cdn(&["list", "--status", "failed", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["images"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["images"][0]["id"], "fail-c.jpg");

    let run = s.cdn(&["stats"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "pending  1\nleased   0\ndone     1\nfailed   1\nworkers  1 (seen in the last 30 s)\n"
    );
    let run = s.cdn(&["stats", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["counts"]["done"], 1);
}

#[test]
fn wait_exit_codes() {
    let s = Setup::new();
    let bytes = s.file("x", b"source");
    for id in ["done-a", "later-b", "fail-c", "slow-d"] {
        assert_eq!(s.cdn(&["register", id, &bytes]).code, Some(0));
    }

    let run = s.cdn(&["wait", "later-b", "done-a", "--interval", "50ms"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "done-a done\nlater-b done\n");

    let run = s.cdn(&["wait", "done-a", "fail-c"]);
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert_eq!(run.stdout, "done-a done\nfail-c failed\n");
    assert_eq!(run.stderr, "cdn: fail-c: plugin: not an image\n");

    let run = s.cdn(&["wait", "done-a", "slow-d", "--timeout", "1s"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(run.stdout, "done-a done\n");
    assert_eq!(
        run.stderr,
        "cdn: timed out after 1s; unfinished: slow-d (pending)\n"
    );
    assert!(
        run.took < std::time::Duration::from_secs(8),
        "{:?}",
        run.took
    );

    let run = s.cdn(&["wait", "done-a", "nobody"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(run.stderr, "cdn: not_found: no image nobody\n");
}

#[test]
fn plugins() {
    let s = Setup::new();
    let wasm = s.file("stamp.wasm", b"\0asm\x01\0\0\0");
    let run = s.cdn(&["plugin", "add", "stamp", &wasm]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("plugin stamp = "), "{}", run.stdout);
    let hash = run
        .stdout
        .trim_end()
        .rsplit(' ')
        .next()
        .expect("hash")
        .to_string();

    let junk = s.file("junk.wasm", b"junk");
    let run = s.cdn(&["plugin", "add", "junk", &junk]);
    assert_eq!(run.code, Some(3));
    assert_eq!(run.stderr, "cdn: invalid_plugin: not a wasm module\n");

    let run = s.cdn(&["plugin", "list"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].starts_with("NAME "), "{}", run.stdout);
    assert_eq!(lines[1], format!("stamp      {hash}"));
    assert!(lines[2].starts_with("thumbnail  "), "{}", run.stdout);

    let run = s.cdn(&["plugin", "list", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["plugins"][0]["name"], "stamp");
}

#[test]
fn a_master_with_another_ca_is_refused_with_exit_1() {
    let s = Setup::new();
    let other = certs();
    let address = s.master.address();
    let run = cdn(&[
        "--certs",
        path(other.path()),
        "--master",
        &address,
        "--connect-timeout",
        "5s",
        "stats",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(
        run.stderr.contains("cannot connect to the master"),
        "{}",
        run.stderr
    );
}
