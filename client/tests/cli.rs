//! The `cdn` binary run as a user runs it, for everything that needs no master: help, bad
//! command lines, missing certificates, an unreachable master, unreadable or unwritable files.
//! Each run is bounded in time; the exit codes are the documented ones.

use cdn_testkit::{free_udp_port, path_str as path, run_bounded, Ran};
use std::process::Command;
use std::time::Duration;

/// The longest any run may take (the slowest case waits out a 2 s connect timeout).
const BOUND: Duration = Duration::from_secs(30);

/// Runs `cdn ARGS` with no `CDN_*` variables from the environment, killed after [`BOUND`].
fn cdn(args: &[&str]) -> Ran {
    cdn_env(args, &[])
}

/// [`cdn`] with these environment variables set.
fn cdn_env(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cdn"));
    command
        .args(args)
        .env_remove("CDN_MASTER")
        .env_remove("CDN_CERTS")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied());
    run_bounded(command, BOUND)
}

fn certs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    cdn_certs::init(&cdn_certs::InitOptions::new(dir.path())).expect("cdn-certs init");
    dir
}

/// No panic message, no Debug dump: one or more `cdn: ` lines.
fn assert_clean_error(run: &Ran) {
    assert!(run.stderr.starts_with("cdn: "), "stderr: {}", run.stderr);
    for bad in ["panicked", "RUST_BACKTRACE", "Os {", "Custom {", "kind: "] {
        assert!(!run.stderr.contains(bad), "stderr: {}", run.stderr);
    }
}

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let run = cdn(&["--help"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for command in [
        "register", "query", "fetch", "list", "wait", "plugin", "stats",
    ] {
        assert!(run.stdout.contains(command), "{command}: {}", run.stdout);
    }
    for flag in ["--master", "--certs", "--name", "--connect-timeout"] {
        assert!(run.stdout.contains(flag), "{flag}: {}", run.stdout);
    }
    assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    assert!(run.stdout.contains("5  `wait`"), "{}", run.stdout);
    for sub in [
        &["register", "--help"][..],
        &["plugin", "add", "--help"][..],
    ] {
        let run = cdn(sub);
        assert_eq!(run.code, Some(0), "{sub:?}: {}", run.stderr);
        assert!(run.stdout.contains("Example"), "{sub:?}: {}", run.stdout);
    }
}

#[test]
fn bad_command_lines_exit_2() {
    for args in [
        &["--no-such-flag", "list"][..],
        &["frobnicate"],
        &[],
        &["register"],
        &["register", "a.jpg"],
        &["register", "a.jpg", "a.jpg", "--dir", "."],
        &["register", "a.jpg", "a.jpg", "--fit", "stretch"],
        &["register", "a.jpg", "a.jpg", "--quality", "101"],
        &["register", "a.jpg", "a.jpg", "--width", "0"],
        &["list", "--status", "gone"],
        &["wait"],
        &["wait", "a", "--timeout", "soon"],
        &["fetch", "a"],
        &["list", "--connect-timeout", "ten"],
    ] {
        let run = cdn(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn missing_certificates_exit_1_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-certs");
    let run = cdn(&["--certs", path(&missing), "query", "a.jpg"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(run.stderr.contains("ca.pem"), "{}", run.stderr);
    assert!(run.stderr.contains("cdn-certs init"), "{}", run.stderr);

    // A folder with the CA but no such named client.
    let certs = certs();
    let run = cdn(&["--certs", path(certs.path()), "--name", "bob", "stats"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(run.stderr.contains("client-bob.pem"), "{}", run.stderr);
}

#[test]
fn an_unreachable_master_exits_1_within_the_connect_timeout() {
    let certs = certs();
    let master = format!("127.0.0.1:{}", free_udp_port());
    let run = cdn(&[
        "--certs",
        path(certs.path()),
        "--master",
        &master,
        "--connect-timeout",
        "2s",
        "list",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);
    assert!(run.stderr.contains(&master), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
    assert!(
        run.took >= Duration::from_millis(1500),
        "took {:?}",
        run.took
    );

    // The environment variables work as the flags do.
    let run = cdn_env(
        &["--connect-timeout", "1s", "stats"],
        &[("CDN_MASTER", &master), ("CDN_CERTS", path(certs.path()))],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains(&master), "{}", run.stderr);
}

#[test]
fn a_bad_master_address_exits_1() {
    let certs = certs();
    let run = cdn(&[
        "--certs",
        path(certs.path()),
        "--master",
        "nowhere",
        "stats",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(run.stderr.contains("HOST:PORT"), "{}", run.stderr);
}

#[test]
fn registering_a_missing_file_exits_1_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("missing-cat.jpg");
    // Checked before the certificates or the master are needed.
    let run = cdn(&["register", "cat.jpg", path(&file)]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(run.stderr.contains("missing-cat.jpg"), "{}", run.stderr);

    let folder = dir.path().join("no-such-folder");
    let run = cdn(&["register", "--dir", path(&folder)]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("no-such-folder"), "{}", run.stderr);

    let run = cdn(&["plugin", "add", "p", path(&dir.path().join("p.wasm"))]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("p.wasm"), "{}", run.stderr);
}

#[test]
fn fetching_into_a_missing_folder_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("no-such-folder/thumb.jpg");
    let run = cdn(&["fetch", "cat.jpg", "-o", path(&out)]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_clean_error(&run);
    assert!(run.stderr.contains("no-such-folder"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn a_failed_connection_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("thumb.jpg");
    let run = cdn(&[
        "--certs",
        path(&dir.path().join("none")),
        "fetch",
        "cat.jpg",
        "-o",
        path(&out),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}
