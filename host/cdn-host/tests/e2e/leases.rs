//! End to end with the real binaries, where time matters: lease extension, a worker that stops
//! responding (SIGSTOP), a master killed and restarted (once, and three times over one image), a
//! worker stopped with SIGTERM, and a plugin blocked in WASI past the worker's time cap.
//! The tasks use a test plugin that runs for as many milliseconds as its input says.

use cdn_testkit::*;
use std::time::{Duration, Instant};

/// Adds the slow plugin as `slow` and registers `ids`, each running `ms` milliseconds.
fn register_slow(c: &Cluster, ids: &[&str], ms: u32) {
    let wasm = c.file("slow.wasm", &slow_plugin::wasm());
    c.cdn(&["plugin", "add", "slow", path_str(&wasm)]).ok();
    let source = c.file(&format!("slow-{ms}.txt"), ms.to_string().as_bytes());
    for id in ids {
        c.cdn(&["register", id, path_str(&source), "--plugin", "slow"])
            .ok();
    }
}

#[test]
fn the_slow_plugin_takes_its_time() {
    let runtime = cdn_runtime::Runtime::with_cache_dir(Default::default(), None).unwrap();
    let plugin = runtime.load(&slow_plugin::wasm()).unwrap();
    let start = Instant::now();
    let out = plugin.run::<&str>(&[], b"300").unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(out.starts_with(b"\x89PNG"));
    assert_eq!(cdn_samples::decode_rgb(&out).unwrap().width, 2);
}

#[test]
fn a_worker_extends_its_lease_while_it_works() {
    let c = Cluster::new();
    let _master = c.master(&["--lease-ttl", "1s"]);
    register_slow(&c, &["long"], 3500);
    let _worker = c.worker("w1", 1, &[]);
    c.cdn(&["wait", "long", "--timeout", "60s"]).ok();
    let view = c.query("long");
    assert_eq!(view["status"], "done", "{view:#}");
    assert_eq!(view["attempts"], 1, "the lease never expired: {view:#}");
}

#[test]
fn a_stopped_worker_loses_its_task_and_its_late_result_is_refused() {
    let c = Cluster::new();
    let _master = c.master(&["--lease-ttl", "2s"]);
    register_slow(&c, &["s"], 4000);
    let a = c.worker("w1", 1, &[]);
    c.wait_until("s", "leased by w1", |v| v["lease"]["worker"] == "w1");
    a.signal("STOP");

    // The lease expires; another worker takes the task and finishes it.
    let _b = c.worker("w2", 1, &[]);
    c.wait_until("s", "leased by w2", |v| v["lease"]["worker"] == "w2");
    a.signal("CONT");
    // However it learns it (an extend refused: "lease lost"; its result refused; or, when its
    // connection idled out while it was stopped, the lease's deadline long past), the first
    // worker gives the task up.
    let gave_up = [
        "lease lost",
        "late result refused",
        "the lease's deadline passed",
    ];
    eventually(BOUND, Duration::from_millis(50), || {
        let log = a.log();
        gave_up.iter().any(|line| log.contains(line)).then_some(())
    })
    .unwrap_or_else(|| panic!("w1 never gave the task up; its log:\n{}", a.log()));
    c.cdn(&["wait", "s", "--timeout", "60s"]).ok();
    let view = c.query("s");
    assert_eq!(view["status"], "done", "{view:#}");
    assert_eq!(view["made_by"], "w2");
    assert_eq!(view["attempts"], 2);

    // The first worker is still of use.
    let img = c.file("after.jpg", &jpeg(320, 240, 1));
    c.cdn(&["register", "after.jpg", path_str(&img)]).ok();
    c.cdn(&["wait", "after.jpg", "--timeout", "60s"]).ok();
}

#[test]
fn a_master_killed_and_restarted_loses_nothing_acknowledged() {
    let c = Cluster::new();
    let mut master = c.master(&["--lease-ttl", "5s"]);
    let ids: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    register_slow(&c, &ids, 1500);
    let _worker = c.worker("w1", 2, &[]);
    // Wait until some are leased (and maybe some done), then kill the master mid-flight.
    let mut stats = serde_json::Value::Null;
    eventually(BOUND, Duration::from_millis(50), || {
        stats = c.cdn(&["stats", "--json"]).ok().json();
        (stats["counts"]["leased"].as_u64() >= Some(1)).then_some(())
    })
    .unwrap_or_else(|| panic!("nothing was leased: {stats}"));
    master.signal("KILL");
    master.wait_exit(Duration::from_secs(10));
    drop(master);

    let _master = c.master(&["--lease-ttl", "5s"]);
    let mut args = vec!["wait"];
    args.extend(&ids);
    args.extend(["--timeout", "90s"]);
    c.cdn(&args).ok();
    let list = c.cdn(&["list", "--json"]).ok().json();
    let images = list["images"].as_array().expect("images");
    assert_eq!(images.len(), ids.len(), "{list:#}");
    assert!(images.iter().all(|v| v["status"] == "done"), "{list:#}");
}

#[test]
fn sigterm_lets_a_worker_finish_and_a_second_hands_back() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    register_slow(&c, &["finish"], 1500);
    let mut w = c.worker("w1", 1, &[]);
    c.wait_until("finish", "leased", |v| v["status"] == "leased");
    w.signal("TERM");
    let status = w.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", w.log());
    assert_eq!(c.query("finish")["status"], "done");

    // Twice: the task goes back to the queue at once, not after its lease.
    register_slow(&c, &["handed"], 20_000);
    let mut w = c.worker("w2", 1, &[]);
    c.wait_until("handed", "leased", |v| v["status"] == "leased");
    w.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    w.signal("TERM");
    let status = w.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", w.log());
    let view = c.query("handed");
    assert_eq!(view["status"], "pending", "{view:#}");
    assert_eq!(view["last_error"]["kind"], "worker_stopped", "{view:#}");
}

/// Restarts are the master's doing, not the image's: before, each one spent an attempt, and
/// three of them failed a good image for ever ("lease expired 3 times").
#[test]
fn three_master_restarts_spend_no_attempt() {
    let c = Cluster::new();
    let flags = ["--lease-ttl", "3s", "--max-attempts", "3"];
    let mut master = c.master(&flags);
    register_slow(&c, &["survivor"], 2500);
    let _worker = c.worker("w1", 1, &[]);
    for round in 1..=3 {
        c.wait_until("survivor", &format!("leased before kill {round}"), |v| {
            v["status"] == "leased"
        });
        master.signal("KILL");
        master.wait_exit(Duration::from_secs(10));
        drop(master);
        master = c.master(&flags);
    }
    c.cdn(&["wait", "survivor", "--timeout", "90s"]).ok();
    let view = c.query("survivor");
    assert_eq!(view["status"], "done", "{view:#}");
    assert_eq!(view["attempts"], 1, "{view:#}");
}

/// A plugin asleep in WASI for an hour: the worker's runtime ends the call at `--plugin-time`,
/// the image fails with `time_limit`, and the worker goes on.
#[test]
fn a_plugin_sleeping_in_wasi_fails_at_the_workers_time_cap() {
    let c = Cluster::new();
    let _master = c.master(&["--max-attempts", "1", "--lease-ttl", "2s"]);
    let sleeper = c.file("sleeper.wasm", &hostile_plugins::sleeper());
    c.cdn(&["plugin", "add", "sleeper", path_str(&sleeper)])
        .ok();
    let img = c.file("a.jpg", &jpeg(64, 48, 1));
    c.cdn(&[
        "register",
        "asleep.jpg",
        path_str(&img),
        "--plugin",
        "sleeper",
    ])
    .ok();
    let started = Instant::now();
    let _worker = c.worker("w1", 1, &["--plugin-time", "1s"]);
    let r = c.cdn(&["wait", "asleep.jpg", "--timeout", "60s"]);
    assert_eq!(r.code, Some(5), "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let view = c.query("asleep.jpg");
    assert_eq!(view["last_error"]["kind"], "time_limit", "{view:#}");

    // The worker is still of use.
    c.cdn(&["register", "awake.jpg", path_str(&img)]).ok();
    c.cdn(&["wait", "awake.jpg", "--timeout", "60s"]).ok();
}
