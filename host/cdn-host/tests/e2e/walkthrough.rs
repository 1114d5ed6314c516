//! End to end with the real binaries: the seed's walk-through (section 2.C), a custom plugin
//! added while a worker runs, bad input over the wire, roles, wrong certificates, a plugin that
//! crashes with a huge message, a client's `thumbnail` plugin across restarts, and the upload cap.

use cdn_certs::Role;
use cdn_proto::ContentHash;
use cdn_proto::{kind, to_header, Request};
use cdn_testkit::*;
use cdn_transport::{Client, Frame, Identity};
use std::time::Duration;

#[test]
fn the_seed_walk_through() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let a = c.file("img_100.jpg", &jpeg(1600, 1200, 1));
    let b = c.file("img_101.jpg", &jpeg(900, 1400, 2));
    c.cdn(&["register", "img_100.jpg", path_str(&a)]).ok();
    c.cdn(&[
        "register",
        "img_101.jpg",
        path_str(&b),
        "--width",
        "128",
        "--height",
        "128",
    ])
    .ok();
    assert_eq!(c.query("img_100.jpg")["status"], "pending");

    let _worker = c.worker("w1", 2, &[]);
    c.cdn(&["wait", "img_100.jpg", "img_101.jpg", "--timeout", "60s"])
        .ok();

    let view = c.query("img_100.jpg");
    assert_eq!(view["status"], "done", "{view:#}");
    assert_eq!(view["made_by"], "w1");
    assert_eq!(view["attempts"], 1);
    let location = view["thumbnail"]["location"].as_str().expect("a location");
    // A file of its own, or (a small thumbnail) a row of the blob folder's pack, named by the
    // fragment: `file:///…/packed.sqlite3#HASH`.
    let path = location.strip_prefix("file://").expect("a file:// URI");
    let path = path.split_once('#').map_or(path, |(pack, _)| pack);
    assert!(std::path::Path::new(path).exists(), "{location}");

    let out = c.path("out/img_100_thumb.jpg");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    c.cdn(&["fetch", "img_100.jpg", "-o", path_str(&out)]).ok();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(assert_thumbnail_fits(&bytes, 256, 256), (256, 192));
    assert_eq!(
        (
            view["thumbnail"]["width"].as_u64(),
            view["thumbnail"]["height"].as_u64()
        ),
        (Some(256), Some(192))
    );
    let out = c.path("out/img_101_thumb.jpg");
    c.cdn(&["fetch", "img_101.jpg", "-o", path_str(&out)]).ok();
    assert_thumbnail_fits(&std::fs::read(&out).unwrap(), 128, 128);

    let list = c.cdn(&["list", "--status", "done", "--json"]).ok().json();
    assert_eq!(list["images"].as_array().map(Vec::len), Some(2));
    let stats = c.cdn(&["stats", "--json"]).ok().json();
    assert_eq!(stats["counts"]["done"], 2);
    assert_eq!(stats["workers_connected"], 1);
}

#[test]
fn a_custom_plugin_is_used_without_restarting_the_worker() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let _worker = c.worker("w1", 1, &[]);
    let stamp = c.file("stamp.wasm", cdn_plugin_bundle::STAMP);
    let added = c.cdn(&["plugin", "add", "stamp", path_str(&stamp)]).ok();
    let hash = ContentHash::of(cdn_plugin_bundle::STAMP).to_hex();
    assert!(added.stdout.contains(&hash), "{}", added.stdout);
    let listed = c.cdn(&["plugin", "list", "--json"]).ok().json();
    assert!(listed.to_string().contains(&hash), "{listed}");

    let img = c.file("cat.jpg", &jpeg(800, 600, 3));
    c.cdn(&["register", "cat.jpg", path_str(&img), "--plugin", "stamp"])
        .ok();
    c.cdn(&["wait", "cat.jpg", "--timeout", "60s"]).ok();
    let view = c.query("cat.jpg");
    assert_eq!(view["status"], "done", "{view:#}");
    assert_eq!(view["plugin"]["name"], "stamp");
    assert_eq!(view["plugin"]["hash"], hash.as_str());
    let out = c.path("cat_thumb.jpg");
    c.cdn(&["fetch", "cat.jpg", "-o", path_str(&out)]).ok();
    cdn_samples::decode_rgb(&std::fs::read(&out).unwrap()).expect("the stamped thumbnail decodes");
    // The worker fetched the plugin from the master and cached it on disk under its hash.
    assert!(c.path(&format!("cache-w1/plugins/{hash}.wasm")).exists());
}

#[test]
fn bad_input_over_the_wire() {
    let c = Cluster::new();
    let _master = c.master(&["--max-upload-mib", "1"]);
    let good = c.file("good.jpg", &jpeg(640, 480, 4));
    let other = c.file("other.jpg", &jpeg(640, 480, 5));

    // Ids that are not ids.
    for bad in ["../x", ".hidden", "a/b", "with space", &"x".repeat(129)] {
        let r = c.cdn(&["register", bad, path_str(&good)]);
        assert_eq!(r.code, Some(3), "{bad}: {}", r.stderr);
        assert!(r.stderr.contains(kind::INVALID_ID), "{bad}: {}", r.stderr);
    }
    // Same id: same bytes is a no-op, other bytes a conflict.
    c.cdn(&["register", "good.jpg", path_str(&good)]).ok();
    let again = c.cdn(&["register", "good.jpg", path_str(&good)]).ok();
    assert!(
        again.stdout.contains("already registered"),
        "{}",
        again.stdout
    );
    let conflict = c.cdn(&["register", "good.jpg", path_str(&other)]);
    assert_eq!(conflict.code, Some(3));
    assert!(
        conflict.stderr.contains(kind::CONFLICT),
        "{}",
        conflict.stderr
    );
    // Over the upload cap (1 MiB here).
    let big = c.file("big.bin", &vec![7u8; 2 << 20]);
    let too_large = c.cdn(&["register", "big.jpg", path_str(&big)]);
    assert_eq!(too_large.code, Some(3), "{}", too_large.stderr);
    assert!(
        too_large.stderr.contains("too_large"),
        "{}",
        too_large.stderr
    );
    // Unknown things. (These are this client's ninth and tenth commands in a row that were
    // refused: each must close its connection, or the master's per-identity cap of 8 would
    // refuse the next one.)
    let r = c.cdn(&["query", "nobody.jpg"]);
    assert_eq!(r.code, Some(3));
    assert!(r.stderr.contains(kind::NOT_FOUND), "{}", r.stderr);
    let r = c.cdn(&["fetch", "good.jpg", "-o", path_str(&c.path("x.jpg"))]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stderr.contains(kind::NOT_DONE), "{}", r.stderr);
    assert!(!c.path("x.jpg").exists());

    // Corrupt and non-images end `failed` with the plugin's message; the worker carries on.
    let mut truncated = jpeg(640, 480, 6);
    truncated.truncate(truncated.len() / 3);
    let truncated = c.file("truncated.jpg", &truncated);
    let text = c.file("notes.txt", b"these are not the pixels you are looking for");
    c.cdn(&["register", "truncated.jpg", path_str(&truncated)])
        .ok();
    c.cdn(&["register", "notes.jpg", path_str(&text)]).ok();
    let worker = c.worker("w1", 1, &[]);
    let r = c.cdn(&[
        "wait",
        "truncated.jpg",
        "notes.jpg",
        "good.jpg",
        "--timeout",
        "60s",
    ]);
    assert_eq!(r.code, Some(5), "some failed: {}\n{}", r.stdout, r.stderr);
    for id in ["truncated.jpg", "notes.jpg"] {
        let view = c.query(id);
        assert_eq!(view["status"], "failed", "{view:#}");
        assert_eq!(view["attempts"], 1, "a plugin's verdict is final: {view:#}");
        assert_eq!(view["last_error"]["kind"], "plugin_error", "{view:#}");
        let message = view["last_error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{view:#}");
    }
    assert_eq!(c.query("good.jpg")["status"], "done");
    let after = c.file("after.jpg", &jpeg(320, 240, 7));
    c.cdn(&["register", "after.jpg", path_str(&after)]).ok();
    c.cdn(&["wait", "after.jpg", "--timeout", "60s"]).ok();
    assert!(!worker.log().contains("panicked"), "{}", worker.log());
}

/// A real master process; the certificates' roles decide what each peer may call.
#[test]
fn roles_are_enforced_by_the_master() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(BOUND, async {
            let connect = |role, name| {
                let identity = Identity::load(&c.certs(), role, name).expect("identity");
                let addr = c.addr();
                async move {
                    Client::connect_to(&addr, &identity, Duration::from_secs(5))
                        .await
                        .expect("connect")
                }
            };
            let frame = |request: &Request, body: &[u8]| Frame {
                header: to_header(request).unwrap(),
                body: body.to_vec(),
            };
            let client = connect(Role::Client, None).await;
            let worker = connect(Role::Worker, Some("w1")).await;
            let lease = frame(&Request::Lease { wait_ms: 0, max: 1 }, b"");
            let register = frame(
                &Request::Register {
                    id: "x.jpg".into(),
                    plugin: "thumbnail".into(),
                    params: Default::default(),
                },
                b"bytes",
            );
            let refused = client.request(&lease).await.expect("a response");
            assert_eq!(
                refused.as_error().map(|e| e.0).as_deref(),
                Some(kind::FORBIDDEN)
            );
            let refused = worker.request(&register).await.expect("a response");
            assert_eq!(
                refused.as_error().map(|e| e.0).as_deref(),
                Some(kind::FORBIDDEN)
            );
            // Each may do its own job.
            assert!(client
                .request(&register)
                .await
                .unwrap()
                .as_error()
                .is_none());
            assert!(worker.request(&lease).await.unwrap().as_error().is_none());
        })
        .await
        .expect("bounded");
    });
    assert_eq!(c.query("x.jpg")["status"], "leased");
}

#[test]
fn wrong_or_missing_certificates_are_refused_with_a_clear_error() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    // Certificates from another CA.
    let other = tempfile::tempdir().unwrap();
    cdn_certs::init(&cdn_certs::InitOptions {
        workers: vec!["w1".into()],
        ..cdn_certs::InitOptions::new(other.path())
    })
    .unwrap();
    let mut worker = c.worker("w1", 1, &["--certs", path_str(other.path())]);
    let status = worker.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1));
    let log = worker.log();
    assert!(
        log.contains("refused") || log.contains("unknown CA"),
        "{log}"
    );

    let r = c.cdn_with_certs(other.path(), &["stats"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("unknown CA"), "{}", r.stderr);
    // A folder without certificates.
    let empty = tempfile::tempdir().unwrap();
    let mut worker = c.worker("w2", 1, &["--certs", path_str(empty.path())]);
    assert_eq!(worker.wait_exit(Duration::from_secs(30)).code(), Some(1));
    let log = worker.log();
    assert!(
        log.contains("is missing") && log.contains("cdn-certs init"),
        "{log}"
    );
}

#[test]
fn a_worker_with_the_plugin_locally_does_not_fetch_it() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let stamp = c.file("stamp.wasm", cdn_plugin_bundle::STAMP);
    c.cdn(&["plugin", "add", "stamp", path_str(&stamp)]).ok();
    let worker = c.worker("w1", 1, &["--plugin", path_str(&stamp)]);
    let img = c.file("dog.jpg", &jpeg(640, 480, 8));
    c.cdn(&["register", "dog.jpg", path_str(&img), "--plugin", "stamp"])
        .ok();
    c.cdn(&["wait", "dog.jpg", "--timeout", "60s"]).ok();
    let hash = ContentHash::of(cdn_plugin_bundle::STAMP).to_hex();
    assert!(!c.path(&format!("cache-w1/plugins/{hash}.wasm")).exists());
    assert!(
        !worker.log().contains("fetching plugin"),
        "{}",
        worker.log()
    );
    assert!(
        worker.log().contains("local plugin ready"),
        "{}",
        worker.log()
    );
}

/// A plugin that writes 60 KB of escape characters to stderr and crashes: its error (cut to
/// about 1 KiB) reaches the registry instead of the fail report being refused for size and the
/// image ending "lease expired", and `cdn` prints it without the escapes.
#[test]
fn a_crash_with_a_huge_message_fails_with_its_own_error_printed_safely() {
    let c = Cluster::new();
    let _master = c.master(&["--max-attempts", "1"]);
    let loud = c.file("loud.wasm", &hostile_plugins::loud_trap());
    c.cdn(&["plugin", "add", "loud", path_str(&loud)]).ok();
    let img = c.file("a.jpg", &jpeg(64, 48, 1));
    c.cdn(&["register", "a.jpg", path_str(&img), "--plugin", "loud"])
        .ok();
    let _worker = c.worker("w1", 1, &[]);
    let r = c.cdn(&["wait", "a.jpg", "--timeout", "60s"]);
    assert_eq!(r.code, Some(5), "{}", r.stderr);
    assert!(
        r.stderr.contains("trap") && r.stderr.contains("boom"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\x1b'),
        "escape characters reached the terminal"
    );
    let view = c.query("a.jpg");
    assert_eq!(view["last_error"]["kind"], "trap", "{view:#}");
    let message = view["last_error"]["message"].as_str().expect("a message");
    assert!(message.contains("boom"), "{message}");
    assert!(
        message.len() <= cdn_proto::MAX_ERROR_TEXT,
        "{}",
        message.len()
    );
    let table = c.cdn(&["list"]).ok();
    assert!(!table.stdout.contains('\x1b'), "{}", table.stdout);
}

/// `cdn plugin add thumbnail FILE` is kept across a restart (before, the built-in was written
/// back, and re-registering an identical image then answered `conflict`); `--plugin
/// thumbnail=FILE` at start replaces it.
#[test]
fn a_thumbnail_plugin_set_by_a_client_survives_a_restart() {
    let c = Cluster::new();
    let mut master = c.master(&[]);
    let stamp = c.file("stamp.wasm", cdn_plugin_bundle::STAMP);
    let stamp_hash = c
        .cdn(&["plugin", "add", "thumbnail", path_str(&stamp)])
        .ok()
        .stdout;
    let img = c.file("a.jpg", &jpeg(320, 240, 2));
    c.cdn(&["register", "a.jpg", path_str(&img)]).ok();
    let before = c.cdn(&["plugin", "list", "--json"]).ok().json();

    master.signal("TERM");
    master.wait_exit(Duration::from_secs(10));
    drop(master);
    let mut master = c.master(&[]);
    assert_eq!(
        c.cdn(&["plugin", "list", "--json"]).ok().json(),
        before,
        "{stamp_hash}"
    );
    let again = c.cdn(&["register", "a.jpg", path_str(&img)]).ok();
    assert!(
        again.stdout.contains("already registered"),
        "{}",
        again.stdout
    );

    master.signal("TERM");
    master.wait_exit(Duration::from_secs(10));
    drop(master);
    let built_in = c.file("thumbnail.wasm", cdn_plugin_bundle::THUMBNAIL);
    let flag = format!("thumbnail={}", path_str(&built_in));
    let _master = c.master(&["--plugin", &flag]);
    let after = c.cdn(&["plugin", "list", "--json"]).ok().json();
    assert_ne!(after, before, "the flag replaces the client's thumbnail");
}

/// Uploads over 64 MiB could never be made (workers and the plugin runtime take no more), so
/// the master refuses the setting at start.
#[test]
fn an_upload_cap_over_64_mib_is_refused_at_start() {
    let c = Cluster::new();
    let mut master = std::process::Command::new(bin("cdn-host"));
    master.args([
        "master",
        "--certs",
        path_str(&c.certs()),
        "--max-upload-mib",
        "65",
    ]);
    let r = run_bounded(master, BOUND);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--max-upload-mib"), "{}", r.stderr);
    assert!(r.stderr.contains("1..=64"), "{}", r.stderr);
}
