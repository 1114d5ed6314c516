//! End to end with the real binaries: what each `cdn` command prints (lines, JSON) and its exit
//! code against a real master (and a real worker where an image must finish): `register` one
//! file and `--dir` with its refusals, `query`, `fetch`, `list`, `wait` (0, 3, 4, 5), `plugin`,
//! `stats`, and a client of another CA.

use cdn_proto::ContentHash;
use cdn_testkit::*;
use std::time::{Duration, Instant};

/// A `cdn list` row (or its header) for the tables below, whose widest cells are
/// `pending-b.jpg`, `pending` and `256x192`: columns padded to the widest cell, two spaces
/// apart, no trailing spaces.
fn row(cells: [&str; 7]) -> String {
    let [id, status, source, thumb, attempts, worker, error] = cells;
    format!("{id:<13}  {status:<7}  {source:<6}  {thumb:<7}  {attempts:<8}  {worker:<6}  {error}")
        .trim_end()
        .to_string()
}

/// A JPEG cut to a third of its length: the thumbnail plugin fails on it.
fn corrupt_jpeg() -> Vec<u8> {
    let mut bytes = jpeg(320, 240, 99);
    bytes.truncate(bytes.len() / 3);
    bytes
}

/// The error the master recorded for a failed image, as `cdn` prints it (`KIND: MESSAGE`).
fn last_error(c: &Cluster, id: &str) -> String {
    let view = c.query(id);
    assert_eq!(view["status"], "failed", "{view:#}");
    let kind = view["last_error"]["kind"].as_str().expect("an error kind");
    let message = view["last_error"]["message"]
        .as_str()
        .expect("an error message");
    format!("{kind}: {message}")
}

/// Stops an idle worker with SIGTERM (it exits at once, successfully).
fn stop(mut worker: Proc) {
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", worker.log());
}

#[test]
fn register_once_again_in_conflict_and_with_params() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let cat = c.file("cat.jpg", b"cat bytes");
    let cat = path_str(&cat);
    let r = c.cdn(&["register", "cat.jpg", cat]).ok();
    assert_eq!(r.stdout, "registered cat.jpg (9 bytes, plugin thumbnail)\n");

    let r = c.cdn(&["register", "cat.jpg", cat]).ok();
    assert_eq!(
        r.stdout,
        "cat.jpg: already registered with the same bytes (nothing to do)\n"
    );

    let other = c.file("other.jpg", b"other bytes");
    let r = c.cdn(&["register", "cat.jpg", path_str(&other)]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "cdn: conflict: image cat.jpg is already registered with different bytes\n"
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(
        c.query("cat.jpg")["source"]["size"],
        9,
        "the first bytes stay"
    );

    let r = c.cdn(&["register", "bad id", cat]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stderr.starts_with("cdn: invalid_id: "), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    let r = c.cdn(&["register", "dog.jpg", cat, "--plugin", "nope"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.starts_with("cdn: unknown_plugin: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    assert_eq!(
        c.cdn(&["query", "dog.jpg"]).code,
        Some(3),
        "nothing was registered"
    );

    let r = c
        .cdn(&[
            "register",
            "small.jpg",
            cat,
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
        ])
        .ok();
    let json = r.json();
    assert_eq!(json["status"], "new", "{json:#}");
    assert_eq!(json["image"]["id"], "small.jpg");
    assert_eq!(json["image"]["status"], "pending");
    assert_eq!(json["image"]["plugin"]["name"], "thumbnail");
    let params = serde_json::json!({"width": 64, "height": 32, "fit": "cover", "format": "png", "quality": 90, "max_pixels": 100_000_000});
    assert_eq!(json["image"]["params"], params);
    // The master stored them: a query shows the same.
    assert_eq!(c.query("small.jpg")["params"], params);
}

#[test]
fn register_a_folder_reporting_each_refusal() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let dir = c.path("photos");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    for i in 0..20 {
        write(&format!("img_{i:02}.jpg"), format!("image {i}").as_bytes());
    }
    write("UPPER.PNG", b"png");
    write("img_00.jpg_thumb.jpg", b"thumb"); // a local runner's output: left out
    write("notes.txt", b"text"); // not an image extension: left out
    write("bad name.jpg", b"x"); // not a valid id
    write("empty.webp", b""); // no bytes
                              // Already registered: img_05.jpg with other bytes (a conflict), img_06.jpg with the same.
    let other = c.file("other.bin", b"other bytes");
    c.cdn(&["register", "img_05.jpg", path_str(&other)]).ok();
    c.cdn(&["register", "img_06.jpg", path_str(&dir.join("img_06.jpg"))])
        .ok();

    let r = c.cdn(&["register", "--dir", path_str(&dir)]);
    assert_eq!(
        r.code,
        Some(3),
        "some were refused: {}\n{}",
        r.stdout,
        r.stderr
    );
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines.pop(),
        Some("19 new, 1 already registered, 3 refused"),
        "{}",
        r.stdout
    );
    lines.sort();
    let mut expected: Vec<String> = (0..20)
        .filter(|i| ![5, 6].contains(i))
        .map(|i| {
            let size = format!("image {i}").len();
            format!("registered img_{i:02}.jpg ({size} bytes, plugin thumbnail)")
        })
        .collect();
    expected.push("registered UPPER.PNG (3 bytes, plugin thumbnail)".into());
    expected.push("img_06.jpg: already registered with the same bytes (nothing to do)".into());
    expected.sort();
    assert_eq!(lines, expected, "{}", r.stdout);
    assert!(lines.contains(&"registered img_07.jpg (7 bytes, plugin thumbnail)"));

    let mut errors: Vec<&str> = r.stderr.lines().collect();
    errors.sort();
    assert_eq!(errors.len(), 3, "{}", r.stderr);
    assert!(
        errors[0].starts_with("cdn: bad name.jpg: invalid_id: "),
        "{}",
        r.stderr
    );
    assert_eq!(errors[1], "cdn: empty.webp: empty_body: no image bytes");
    assert_eq!(
        errors[2],
        "cdn: img_05.jpg: conflict: image img_05.jpg is already registered with different bytes"
    );

    assert_eq!(c.query("img_19.jpg")["status"], "pending");
    assert_eq!(c.query("UPPER.PNG")["source"]["size"], 3);
    assert_eq!(
        c.query("img_05.jpg")["source"]["size"],
        11,
        "the first bytes stay"
    );
    for left_out in ["img_00.jpg_thumb.jpg", "notes.txt", "empty.webp"] {
        let r = c.cdn(&["query", left_out]);
        assert_eq!(r.code, Some(3), "{left_out}: {}", r.stdout);
        assert_eq!(r.stderr, format!("cdn: not_found: no image {left_out}\n"));
    }
    let stats = c.cdn(&["stats", "--json"]).ok().json();
    assert_eq!(stats["counts"]["pending"], 21, "{stats:#}");

    // Again with only good files (img_05.jpg now as registered): nothing new, exit 0; the
    // JSON form has one element per file, sorted by name, and the summary goes to stderr.
    std::fs::remove_file(dir.join("bad name.jpg")).unwrap();
    std::fs::remove_file(dir.join("empty.webp")).unwrap();
    write("img_05.jpg", b"other bytes");
    let r = c
        .cdn(&["register", "--dir", path_str(&dir), "--json", "-j", "3"])
        .ok();
    assert_eq!(r.stderr, "0 new, 21 already registered, 0 refused\n");
    let json = r.json();
    let array = json.as_array().expect("an array");
    assert_eq!(array.len(), 21, "{json:#}");
    assert_eq!(array[0]["image"]["id"], "UPPER.PNG");
    assert_eq!(array[1]["image"]["id"], "img_00.jpg");
    assert!(
        array.iter().all(|r| r["status"] == "already_registered"),
        "{json:#}"
    );
}

#[test]
fn query_fetch_list_and_stats() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let good = jpeg(320, 240, 1);
    let corrupt = corrupt_jpeg();
    let good_file = c.file("good.jpg", &good);
    let corrupt_file = c.file("corrupt.jpg", &corrupt);
    c.cdn(&["register", "done-a.jpg", path_str(&good_file)])
        .ok();
    c.cdn(&["register", "fail-c.jpg", path_str(&corrupt_file)])
        .ok();
    let worker = c.worker("w1", 1, &[]);
    let r = c.cdn(&["wait", "done-a.jpg", "fail-c.jpg", "--timeout", "60s"]);
    assert_eq!(r.code, Some(5), "one failed: {}\n{}", r.stdout, r.stderr);
    stop(worker);
    // Registered with no worker running: it stays pending.
    let source = c.file("source.jpg", b"source");
    c.cdn(&["register", "pending-b.jpg", path_str(&source)])
        .ok();

    let r = c.cdn(&["query", "done-a.jpg"]).ok();
    let view = r.json();
    assert_eq!(view["status"], "done", "{view:#}");
    assert!(view["thumbnail"]["location"].is_string(), "{view:#}");
    assert!(
        r.stdout.contains("\n  \"status\": \"done\""),
        "pretty JSON: {}",
        r.stdout
    );

    let r = c.cdn(&["query", "nobody.jpg"]);
    assert_eq!(r.code, Some(3));
    assert_eq!(r.stderr, "cdn: not_found: no image nobody.jpg\n");
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    // Fetch to a file, then to stdout: the same bytes, a 256x192 JPEG.
    let out = c.path("thumb.jpg");
    let r = c.cdn(&["fetch", "done-a.jpg", "-o", path_str(&out)]).ok();
    let thumb = std::fs::read(&out).unwrap();
    assert_eq!(assert_thumbnail_fits(&thumb, 256, 256), (256, 192));
    assert_eq!(view["thumbnail"]["size"], thumb.len());
    assert_eq!(
        r.stderr,
        format!(
            "wrote {} (256x192 jpeg, {} bytes)\n",
            path_str(&out),
            thumb.len()
        )
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let r = c.cdn(&["fetch", "done-a.jpg", "-o", "-"]).ok();
    assert!(r.stdout_bytes == thumb, "stdout is the thumbnail");
    assert_eq!(
        r.stderr,
        format!("wrote stdout (256x192 jpeg, {} bytes)\n", thumb.len())
    );

    // Not done: refused, and no file (not even a temporary one) is left behind.
    let empty = c.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = c.cdn(&[
        "fetch",
        "pending-b.jpg",
        "-o",
        path_str(&empty.join("p.jpg")),
    ]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "cdn: not_done: image pending-b.jpg is pending, not done\n"
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // The table, in registration order.
    let error = last_error(&c, "fail-c.jpg");
    assert!(error.starts_with("plugin_error: "), "{error}");
    let r = c.cdn(&["list"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let (good_size, corrupt_size) = (good.len().to_string(), corrupt.len().to_string());
    assert_eq!(
        lines,
        [
            row(["ID", "STATUS", "SOURCE", "THUMB", "ATTEMPTS", "WORKER", "ERROR"]),
            row(["done-a.jpg", "done", &good_size, "256x192", "1", "w1", "-"]),
            row(["fail-c.jpg", "failed", &corrupt_size, "-", "1", "-", &error]),
            row(["pending-b.jpg", "pending", "6", "-", "0", "-", "-"]),
        ],
        "{}",
        r.stdout
    );
    assert_eq!(
        lines[0],
        "ID             STATUS   SOURCE  THUMB    ATTEMPTS  WORKER  ERROR"
    );

    let json = c.cdn(&["list", "--status", "failed", "--json"]).ok().json();
    let images = json["images"].as_array().expect("images");
    assert_eq!(images.len(), 1, "{json:#}");
    assert_eq!(images[0]["id"], "fail-c.jpg");
    let json = c
        .cdn(&["list", "--status", "pending", "--json"])
        .ok()
        .json();
    assert_eq!(json["images"][0]["id"], "pending-b.jpg", "{json:#}");

    // The worker stopped a moment ago: still seen within the window.
    let r = c.cdn(&["stats"]).ok();
    assert_eq!(
        r.stdout,
        "pending  1\nleased   0\ndone     1\nfailed   1\nworkers  1 (seen in the last 30 s)\n"
    );
    let json = c.cdn(&["stats", "--json"]).ok().json();
    assert_eq!(json["counts"]["done"], 1, "{json:#}");
    assert_eq!(json["counts"]["failed"], 1, "{json:#}");
    assert_eq!(json["workers_window_s"], 30, "{json:#}");
}

#[test]
fn wait_exit_codes() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let good = c.file("good.jpg", &jpeg(320, 240, 2));
    let corrupt = c.file("corrupt.jpg", &corrupt_jpeg());
    c.cdn(&["register", "done-a.jpg", path_str(&good)]).ok();
    c.cdn(&["register", "fail-c.jpg", path_str(&corrupt)]).ok();
    let worker = c.worker("w1", 1, &[]);
    c.cdn(&["wait", "done-a.jpg", "--timeout", "60s"]).ok();
    c.wait_until("fail-c.jpg", "failed", |v| v["status"] == "failed");

    // 0: one done already, one still working (the slow plugin, 1.5 s); each line as it ends.
    let slow = c.file("slow.wasm", &slow_plugin::wasm());
    c.cdn(&["plugin", "add", "slow", path_str(&slow)]).ok();
    let ms = c.file("1500ms.txt", b"1500");
    c.cdn(&["register", "later-b", path_str(&ms), "--plugin", "slow"])
        .ok();
    let r = c
        .cdn(&[
            "wait",
            "later-b",
            "done-a.jpg",
            "--interval",
            "50ms",
            "--timeout",
            "60s",
        ])
        .ok();
    assert_eq!(r.stdout, "done-a.jpg done\nlater-b done\n");
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    // 5: one failed; its error on stderr.
    let r = c.cdn(&["wait", "done-a.jpg", "fail-c.jpg"]);
    assert_eq!(r.code, Some(5), "{}", r.stderr);
    assert_eq!(r.stdout, "done-a.jpg done\nfail-c.jpg failed\n");
    assert_eq!(
        r.stderr,
        format!("cdn: fail-c.jpg: {}\n", last_error(&c, "fail-c.jpg"))
    );

    // 4: no worker running, so one stays pending past the timeout.
    stop(worker);
    let bytes = c.file("source.jpg", b"source");
    c.cdn(&["register", "slow-d", path_str(&bytes)]).ok();
    let started = Instant::now();
    let r = c.cdn(&["wait", "done-a.jpg", "slow-d", "--timeout", "1s"]);
    let took = started.elapsed();
    assert_eq!(r.code, Some(4), "{}", r.stderr);
    assert_eq!(r.stdout, "done-a.jpg done\n");
    assert_eq!(
        r.stderr,
        "cdn: timed out after 1s; unfinished: slow-d (pending)\n"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // 3: an id the master does not know.
    let r = c.cdn(&["wait", "done-a.jpg", "nobody"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(r.stderr, "cdn: not_found: no image nobody\n");
}

#[test]
fn plugin_add_and_list() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let stamp_hash = ContentHash::of(cdn_plugin_bundle::STAMP).to_hex();
    let thumbnail_hash = ContentHash::of(cdn_plugin_bundle::THUMBNAIL).to_hex();
    let stamp = c.file("stamp.wasm", cdn_plugin_bundle::STAMP);
    let r = c.cdn(&["plugin", "add", "stamp", path_str(&stamp)]).ok();
    assert_eq!(r.stdout, format!("plugin stamp = {stamp_hash}\n"));

    let junk = c.file("junk.wasm", b"junk");
    let r = c.cdn(&["plugin", "add", "junk", path_str(&junk)]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "cdn: invalid_plugin: not a WebAssembly module (no \\0asm header)\n"
    );

    let r = c.cdn(&["plugin", "list"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "NAME       HASH".to_string(),
            format!("stamp      {stamp_hash}"),
            format!("thumbnail  {thumbnail_hash}"),
        ],
        "{}",
        r.stdout
    );

    let json = c.cdn(&["plugin", "list", "--json"]).ok().json();
    let plugins = json["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 2, "{json:#}");
    assert_eq!(plugins[0]["name"], "stamp");
    assert_eq!(plugins[0]["hash"], stamp_hash.as_str());
    assert_eq!(plugins[1]["name"], "thumbnail");
}

#[test]
fn a_client_of_another_ca_exits_1_with_one_clean_line() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let other = tempfile::tempdir().unwrap();
    cdn_certs::init(&cdn_certs::InitOptions::new(other.path())).unwrap();
    let r = c.cdn_with_certs(other.path(), &["stats"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.starts_with("cdn: "), "{}", r.stderr);
    // That folder is an issuing one: `cdn` warns that the CA's key sits beside its certificate.
    assert!(
        r.stderr.contains("ca.key is the CA's private key")
            && r.stderr.contains("cdn-certs bundle"),
        "{}",
        r.stderr
    );
    // The cluster's own client reads a bundle, and says nothing on stderr.
    let ok = c.cdn(&["stats"]).ok();
    assert!(ok.stderr.is_empty(), "{}", ok.stderr);
    assert!(
        r.stderr.contains("cannot connect to the master"),
        "{}",
        r.stderr
    );
    for bad in ["panicked", "RUST_BACKTRACE", "Os {", "Custom {", "kind: "] {
        assert!(!r.stderr.contains(bad), "{}", r.stderr);
    }
}

#[test]
fn retry_puts_failed_images_back_and_refuses_others() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let bad = c.file("bad.jpg", &corrupt_jpeg());
    let good = c.file("good.jpg", &jpeg(320, 240, 3));
    c.cdn(&["register", "bad.jpg", path_str(&bad)]).ok();
    c.cdn(&["register", "good.jpg", path_str(&good)]).ok();
    let worker = c.worker("w1", 1, &[]);
    assert_eq!(
        c.cdn(&["wait", "bad.jpg", "good.jpg", "--timeout", "60s"])
            .code,
        Some(5)
    );
    stop(worker);

    // Nothing runs now: a retried image stays `pending`, with its attempts reset.
    let r = c.cdn(&["retry", "--failed"]).ok();
    assert_eq!(r.stdout.trim(), "retried bad.jpg", "{}", r.stdout);
    let view = c.query("bad.jpg");
    assert_eq!(view["status"], "pending", "{view:#}");
    assert_eq!(view["attempts"], 0, "{view:#}");
    let r = c.cdn(&["retry", "--failed"]).ok();
    assert_eq!(r.stdout.trim(), "nothing to retry", "{}", r.stdout);

    // Only failed images are retried; the others are named on stderr, exit 3.
    let r = c.cdn(&["retry", "good.jpg", "bad.jpg"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stderr.contains("good.jpg: not retried"), "{}", r.stderr);
    assert!(r.stderr.contains("bad.jpg: not retried"), "{}", r.stderr);
    assert_eq!(c.query("good.jpg")["status"], "done");
}
