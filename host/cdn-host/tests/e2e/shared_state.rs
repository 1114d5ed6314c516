//! Past one machine, end to end: two masters over one PostgreSQL database and one S3 bucket
//! (moto), workers and the client given both masters, all as real processes. Work registered
//! through one master is made through the other; a master killed (`kill -9`) in the middle of a
//! few hundred tasks loses nothing: the workers and the client move to the other master, and
//! every image ends `done`, made once.

use cdn_testkit::postgres::Database;
use cdn_testkit::s3::S3Server;
use cdn_testkit::*;
use std::process::Command;
use std::time::Duration;

const BUCKET: &str = "imagecdn-e2e";

/// The shared engines of one test: a database and a bucket of its own.
struct Engines {
    db: Database,
    s3: S3Server,
}

impl Engines {
    fn start() -> Engines {
        let db = postgres::database();
        let s3 = S3Server::start();
        s3.create_bucket(BUCKET);
        Engines { db, s3 }
    }

    /// Starts master `name` on `addr` over the shared registry and bucket (a data folder of its
    /// own for its lock) and waits until it answers.
    fn master(&self, c: &Cluster, name: &str, addr: &str) -> Proc {
        let data = c.path(&format!("data-{name}"));
        let certs = c.certs();
        let mut command = Command::new(bin("cdn-host"));
        command
            .args(["master", "--listen", addr, "--certs", path_str(&certs)])
            .args(["--data", path_str(&data)])
            .args(["--registry", &self.db.url])
            .args(["--blobs", &format!("s3://{BUCKET}/cdn")])
            .envs(self.s3.env())
            .env("RUST_LOG", "info");
        let mut master = Proc::spawn(name, command, &c.path(&format!("{name}.log")));
        let child = &mut master.child;
        let answered = wait::eventually(BOUND, Duration::from_millis(100), || {
            if c.cdn_at(addr, &["stats"]).code == Some(0) {
                return Some(Ok(()));
            }
            child.try_wait().expect("try_wait").map(Err)
        });
        match answered {
            Some(Ok(())) => master,
            Some(Err(status)) => panic!("{name} exited ({status}):\n{}", master.log()),
            None => panic!("{name} did not answer within {BOUND:?}:\n{}", master.log()),
        }
    }
}

fn free_addr() -> String {
    format!("127.0.0.1:{}", free_udp_port())
}

/// Plugin calls a worker logged.
fn calls(worker: &Proc) -> usize {
    worker
        .log()
        .lines()
        .filter(|l| l.contains("working"))
        .count()
}

#[test]
fn work_registered_through_one_master_is_made_through_the_other() {
    let engines = Engines::start();
    let c = Cluster::new();
    let (a, b) = (free_addr(), free_addr());
    let _master_a = engines.master(&c, "master-a", &a);
    let _master_b = engines.master(&c, "master-b", &b);
    let photo = c.file("photo.jpg", &jpeg(640, 480, 7));
    c.cdn_at(&a, &["register", "photo.jpg", path_str(&photo)])
        .ok();
    // B sees what A registered: one registry.
    let view = c.cdn_at(&b, &["query", "photo.jpg"]).ok().json();
    assert_eq!(view["status"], "pending", "{view:#}");
    // A worker that knows only B makes it; A reports it done and serves the thumbnail (one
    // bucket).
    let worker = c.worker_at(&b, "w1", 1, &[]);
    c.cdn_at(&a, &["wait", "photo.jpg", "--timeout", "60s"])
        .ok();
    let view = c.cdn_at(&a, &["query", "photo.jpg"]).ok().json();
    assert_eq!(view["status"], "done", "{view:#}");
    assert_eq!(view["made_by"], "w1");
    let location = view["thumbnail"]["location"].as_str().unwrap_or_default();
    assert!(
        location.starts_with(&format!("s3://{BUCKET}/cdn/")),
        "{view:#}"
    );
    let out = c.path("photo.thumb.jpg");
    c.cdn_at(&a, &["fetch", "photo.jpg", "-o", path_str(&out)])
        .ok();
    assert_eq!(
        assert_thumbnail_fits(&std::fs::read(&out).unwrap(), 256, 256),
        (256, 192)
    );
    // The bytes live in the bucket, under the thumbnail's hash.
    let hash = view["thumbnail"]["hash"]
        .as_str()
        .expect("a thumbnail hash");
    let keys = engines.s3.keys(BUCKET, "cdn/");
    assert!(keys.iter().any(|k| k.ends_with(hash)), "{keys:?}");
    assert_eq!(calls(&worker), 1);
}

#[test]
fn a_master_killed_mid_run_loses_nothing() {
    const IMAGES: usize = 200;
    let engines = Engines::start();
    let c = Cluster::new();
    let (a, b) = (free_addr(), free_addr());
    let both = format!("{a},{b}");
    let master_a = engines.master(&c, "master-a", &a);
    let _master_b = engines.master(&c, "master-b", &b);
    // Each task takes 100 ms (the slow test plugin), so the run lasts seconds and the kill
    // lands in its middle.
    let wasm = c.file("slow.wasm", &slow_plugin::wasm());
    c.cdn_at(&both, &["plugin", "add", "slow", path_str(&wasm)])
        .ok();
    let dir = c.path("tasks");
    std::fs::create_dir_all(&dir).unwrap();
    let ids: Vec<String> = (0..IMAGES).map(|i| format!("img_{i:03}.jpg")).collect();
    for id in &ids {
        std::fs::write(dir.join(id), b"100").unwrap();
    }
    // Workers start with A (the first they are given).
    let w1 = c.worker_at(&both, "w1", 2, &[]);
    let w2 = c.worker_at(&both, "w2", 2, &[]);
    c.cdn_at(
        &both,
        &["register", "--dir", path_str(&dir), "--plugin", "slow"],
    )
    .ok();
    // Once some are done and others in flight, A dies without a word. (Not "once img_000 is
    // done": the client registers in concurrent batches, so the first file may well be among
    // the last made, and then the run is over before the kill.)
    let stats = eventually(BOUND, Duration::from_millis(50), || {
        let stats = c.cdn_at(&b, &["stats", "--json"]).ok().json();
        (stats["counts"]["done"].as_u64().unwrap_or(0) > 0).then_some(stats)
    })
    .expect("nothing was done in time");
    assert!(
        stats["counts"]["done"].as_u64().unwrap_or(0) < IMAGES as u64,
        "all done before the kill: make the run longer: {stats:#}"
    );
    master_a.signal("KILL");
    drop(master_a);
    // The client, given both, waits through B.
    let mut args = vec!["wait", "--timeout", "120s"];
    args.extend(ids.iter().map(String::as_str));
    c.cdn_at(&both, &args).ok();
    let list = c.cdn_at(&b, &["list", "--json"]).ok().json();
    let images = list["images"].as_array().expect("images");
    assert_eq!(
        images.len(),
        IMAGES,
        "an acknowledged registration was lost"
    );
    for view in images {
        assert_eq!(view["status"], "done", "{view:#}");
        assert_eq!(view["attempts"], 1, "made more than once: {view:#}");
    }
    // One plugin call per image across both workers: nothing was made twice.
    assert_eq!(calls(&w1) + calls(&w2), IMAGES);
    assert!(
        w1.log().contains(&b) || w2.log().contains(&b),
        "no worker says it moved to {b}"
    );
}
