//! Shared by the tests: run the `cdn` binary with a time bound, certificates in a temporary
//! folder. (The commands against a real master are tested in host/cdn-host's `e2e_client`.)

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any run may take (the slowest case waits out a 2 s connect timeout).
pub const BOUND: Duration = Duration::from_secs(30);

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `cdn ARGS` with no `CDN_*` variables from the environment, killing it after [`BOUND`].
pub fn cdn(args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdn"))
        .args(args)
        .env_remove("CDN_MASTER")
        .env_remove("CDN_CERTS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cdn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cdn") {
            break status;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cdn {args:?} did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        took: started.elapsed(),
    }
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

pub fn certs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    cdn_certs::init(&cdn_certs::InitOptions::new(dir.path())).expect("cdn-certs init");
    dir
}

/// No panic message, no Debug dump: one or more `cdn: ` lines.
pub fn assert_clean_error(run: &Run) {
    assert!(run.stderr.starts_with("cdn: "), "stderr: {}", run.stderr);
    for bad in ["panicked", "RUST_BACKTRACE", "Os {", "Custom {", "kind: "] {
        assert!(!run.stderr.contains(bad), "stderr: {}", run.stderr);
    }
}
