//! Several masters (`--master A,B`, `$CDN_MASTER`), with the real binaries: the client skips a
//! master that does not answer and names every master when none does; a worker whose master is
//! killed (`kill -9`) moves to the next and makes that master's images; a `cdn wait` whose
//! master is killed moves on too. The masters here are independent (each its own SQLite and
//! folder): what is tested is the moving, not a shared registry.

use cdn_testkit::*;
use std::process::Command;
use std::time::Duration;

/// A second master of cluster `c`: its own port, data folder and log (`NAME.log`), the same
/// certificates. Returns it once it answers, with its address.
fn another_master(c: &Cluster, name: &str) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let certs = c.certs();
    let data = c.path(&format!("data-{name}"));
    let mut master = c.spawn(
        name,
        &[
            "master",
            "--listen",
            &addr,
            "--certs",
            path_str(&certs),
            "--data",
            path_str(&data),
        ],
    );
    let child = &mut master.child;
    let answered = eventually(Duration::from_secs(30), Duration::from_millis(100), || {
        if cdn(c, &[&addr], &["stats"]).code == Some(0) {
            return Some(Ok(()));
        }
        child.try_wait().expect("try_wait").map(Err)
    });
    match answered {
        Some(Ok(())) => (master, addr),
        Some(Err(status)) => panic!("{name} exited ({status}):\n{}", master.log()),
        None => panic!("{name} did not answer within 30 s:\n{}", master.log()),
    }
}

/// `cdn` with the cluster's client certificates and `--connect-timeout` (and nothing from the
/// environment).
fn cdn_command(c: &Cluster, connect_timeout: &str) -> Command {
    let mut command = Command::new(bin("cdn"));
    command
        .env_remove("CDN_MASTER")
        .env_remove("CDN_CERTS")
        .arg("--certs")
        .arg(c.client_certs())
        .args(["--connect-timeout", connect_timeout]);
    command
}

/// Runs `cdn --master M1,M2,... ARGS`.
fn cdn(c: &Cluster, masters: &[&str], args: &[&str]) -> Ran {
    let mut command = cdn_command(c, "5s");
    command.arg("--master").arg(masters.join(",")).args(args);
    run_bounded(command, BOUND)
}

/// A free UDP port on 127.0.0.1 that nobody listens on: a master that is down.
fn dead() -> String {
    format!("127.0.0.1:{}", free_udp_port())
}

/// Starts worker `name` of cluster `c` given `masters` (comma separated, in this order).
fn worker(c: &Cluster, name: &str, masters: &[&str]) -> Proc {
    let certs = c.certs();
    let cache = c.worker_cache(name);
    let masters = masters.join(",");
    c.spawn(
        &format!("worker-{name}"),
        &[
            "worker",
            "--master",
            &masters,
            "--certs",
            path_str(&certs),
            "--name",
            name,
            "--concurrency",
            "1",
            "--cache",
            path_str(&cache),
        ],
    )
}

#[test]
fn the_client_skips_a_dead_master_and_names_every_master_when_none_answers() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let _worker = c.worker("w1", 1, &[]);
    let live = c.addr();
    let down = dead();
    let img = c.file("a.jpg", &jpeg(320, 240, 1));

    // --master DEAD,LIVE: the dead one costs the stagger, not the 5 s connect timeout.
    let r = cdn(&c, &[&down, &live], &["register", "a.jpg", path_str(&img)]).ok();
    assert!(r.took < Duration::from_secs(4), "took {:?}", r.took);
    let r = cdn(&c, &[&down, &live], &["wait", "a.jpg", "--timeout", "60s"]).ok();
    assert_eq!(r.stdout, "a.jpg done\n");
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    // The same from $CDN_MASTER.
    let from_env = |args: &[&str]| {
        let mut command = cdn_command(&c, "5s");
        command
            .env("CDN_MASTER", format!("{down},{live}"))
            .args(args);
        run_bounded(command, BOUND)
    };
    from_env(&["register", "b.jpg", path_str(&img)]).ok();
    let r = from_env(&["wait", "b.jpg", "--timeout", "60s"]).ok();
    assert_eq!(r.stdout, "b.jpg done\n");

    // Only dead masters: exit 1, one line naming both, and why.
    let other = dead();
    let mut command = cdn_command(&c, "1s");
    command.args(["--master", &format!("{down},{other}"), "stats"]);
    let r = run_bounded(command, BOUND);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("cdn: cannot connect to any of the 2 masters: "),
        "{}",
        r.stderr
    );
    for addr in [&down, &other] {
        assert!(
            r.stderr.contains(&format!("{addr}: no answer within 1 s")),
            "{}",
            r.stderr
        );
    }
    assert!(r.took < Duration::from_secs(5), "took {:?}", r.took);

    // A bad list: exit 1 (as a bad single address always was), saying which item.
    let r = cdn(&c, &[&live, ""], &["stats"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.starts_with("cdn: master address 2 of "),
        "{}",
        r.stderr
    );
}

#[test]
fn a_worker_moves_to_the_next_master_when_its_master_is_killed() {
    let c = Cluster::new();
    let mut a = c.master(&[]);
    let (_b, b_addr) = another_master(&c, "master-b");
    let a_addr = c.addr();
    let img = c.file("img.jpg", &jpeg(320, 240, 2));
    cdn(&c, &[&a_addr], &["register", "on-a.jpg", path_str(&img)]).ok();
    cdn(&c, &[&b_addr], &["register", "before.jpg", path_str(&img)]).ok();

    let w = worker(&c, "w1", &[&a_addr, &b_addr]);
    cdn(&c, &[&a_addr], &["wait", "on-a.jpg", "--timeout", "60s"]).ok();
    assert_eq!(
        cdn(&c, &[&b_addr], &["query", "before.jpg"]).ok().json()["status"],
        "pending",
        "the worker works for A first"
    );

    a.signal("KILL");
    a.wait_exit(Duration::from_secs(10));
    cdn(&c, &[&b_addr], &["register", "after.jpg", path_str(&img)]).ok();
    let r = cdn(
        &c,
        &[&b_addr],
        &["wait", "before.jpg", "after.jpg", "--timeout", "90s"],
    );
    assert_eq!(r.code, Some(0), "{}\nworker log:\n{}", r.stderr, w.log());
    for id in ["before.jpg", "after.jpg"] {
        let view = cdn(&c, &[&b_addr], &["query", id]).ok().json();
        assert_eq!(view["status"], "done", "{view:#}");
        assert_eq!(view["made_by"], "w1", "{view:#}");
    }
    let log = w.log();
    assert!(log.contains("lost the connection to the master"), "{log}");
    assert!(log.contains("moved to another master"), "{log}");
    assert!(log.contains(&format!("master={b_addr}")), "{log}");
}

#[test]
fn a_waiting_client_moves_to_the_next_master_when_its_master_is_killed() {
    let c = Cluster::new();
    let mut a = c.master(&[]);
    let (_b, b_addr) = another_master(&c, "master-b");
    let a_addr = c.addr();
    let img = c.file("img.jpg", &jpeg(320, 240, 3));
    // Registered on both; only B has a worker, so on A it stays pending.
    for addr in [&a_addr, &b_addr] {
        cdn(&c, &[addr], &["register", "x.jpg", path_str(&img)]).ok();
    }

    let mut command = cdn_command(&c, "5s");
    command
        .env("RUST_LOG", "cdn=debug,warn")
        .args(["--master", &format!("{a_addr},{b_addr}")])
        .args(["wait", "x.jpg", "--timeout", "90s"]);
    let waiting = Proc::spawn_keeping_stdout(
        "cdn-wait",
        command,
        &c.path("cdn-wait.log"),
        &c.path("cdn-wait.out"),
    );
    waiting.wait_log(&format!("connected master={a_addr}"), BOUND);
    let _worker = worker(&c, "w1", &[&b_addr]);
    cdn(&c, &[&b_addr], &["wait", "x.jpg", "--timeout", "60s"]).ok();

    a.signal("KILL");
    a.wait_exit(Duration::from_secs(10));
    let r = waiting.finish(BOUND);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "x.jpg done\n");
    assert!(r.stderr.contains("moved to another master"), "{}", r.stderr);
}
