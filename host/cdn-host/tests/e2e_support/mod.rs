//! Shared by the `e2e_*` tests: the real binaries (`cdn-host`, `cdn`) as real processes on
//! loopback, each test in its own temporary folder with its own certificates and a free port.
//! Every process started is killed (by pid) and reaped when its guard drops, also when a test
//! fails; each wait is bounded.

#![allow(dead_code)]

pub mod slow_plugin;

use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The longest any single command or wait in these tests may take.
pub const BOUND: Duration = Duration::from_secs(120);

/// `target/release/cdn-host` (built by cargo for this test).
pub fn cdn_host_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cdn-host"))
}

/// The client binary, built beside `cdn-host` (`cargo xtask test` builds every binary first).
pub fn cdn_bin() -> PathBuf {
    let path = cdn_host_bin().with_file_name("cdn");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release -p cdn-client` (cargo xtask test does)",
        path.display()
    );
    path
}

/// Calls `check` every `every` until it gives a value; `None` once `within` has passed.
pub fn eventually<T>(
    within: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local addr").port()
}

/// A running process, killed and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let child = &mut self.child;
        eventually(within, Duration::from_millis(50), || {
            child.try_wait().expect("try_wait")
        })
        .unwrap_or_else(|| {
            panic!(
                "{} did not exit within {within:?}; its log:\n{}",
                self.name,
                self.log()
            )
        })
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, within: Duration) {
        eventually(within, Duration::from_millis(50), || {
            self.log().contains(needle).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{} never logged {needle:?} within {within:?}; its log:\n{}",
                self.name,
                self.log()
            )
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // A stopped process must be continued to die promptly of SIGKILL on some kernels.
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The finished result of a `cdn` command.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
}

impl Ran {
    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stdout_bytes: output.stdout,
        }
    }

    pub fn ok(self) -> Ran {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs a command to completion, killing it if it runs past [`BOUND`].
pub fn run_bounded(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain the pipes in threads so a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let status = eventually(BOUND, Duration::from_millis(20), || {
        child.try_wait().expect("try_wait")
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} ran past {BOUND:?}");
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// One test's world: certificates (workers `w1`, `w2`, `w3`), a data folder, a port.
pub struct Cluster {
    pub dir: TempDir,
    pub port: u16,
}

impl Cluster {
    pub fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = cdn_certs::InitOptions {
            workers: vec!["w1".into(), "w2".into(), "w3".into()],
            ..cdn_certs::InitOptions::new(dir.path().join("certs"))
        };
        cdn_certs::init(&options).expect("cdn-certs init");
        Cluster {
            dir,
            port: free_udp_port(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn certs(&self) -> PathBuf {
        self.path("certs")
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let log = self.path(&format!("{name}.log"));
        // Appending, so a restarted process keeps the earlier log.
        let file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(cdn_host_bin())
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn cdn-host");
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// Starts the master (extra flags after the defaults) and waits until it answers.
    pub fn master(&self, extra: &[&str]) -> Proc {
        let certs = self.certs();
        let data = self.path("data");
        let listen = self.addr();
        let mut args = vec![
            "master",
            "--listen",
            &listen,
            "--certs",
            certs.to_str().expect("utf-8 path"),
            "--data",
            data.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        let mut master = self.spawn("master", &args);
        let child = &mut master.child;
        let answered = eventually(Duration::from_secs(30), Duration::from_millis(100), || {
            if self.cdn(&["stats"]).code == 0 {
                return Some(Ok(()));
            }
            child.try_wait().expect("try_wait").map(Err)
        });
        match answered {
            Some(Ok(())) => master,
            Some(Err(status)) => panic!("the master exited ({status}):\n{}", master.log()),
            None => panic!("the master did not answer within 30 s:\n{}", master.log()),
        }
    }

    /// Starts worker `name` (`w1`, `w2`, `w3`) with `concurrency` and a cache of its own
    /// (`extra` may name other `--certs`).
    pub fn worker(&self, name: &str, concurrency: u32, extra: &[&str]) -> Proc {
        let certs = self.certs();
        let cache = self.path(&format!("cache-{name}"));
        let master = self.addr();
        let concurrency = concurrency.to_string();
        let mut args = vec!["worker", "--master", &master];
        if !extra.contains(&"--certs") {
            args.extend(["--certs", certs.to_str().expect("utf-8 path")]);
        }
        args.extend([
            "--name",
            name,
            "--concurrency",
            &concurrency,
            "--cache",
            cache.to_str().expect("utf-8 path"),
        ]);
        args.extend_from_slice(extra);
        self.spawn(&format!("worker-{name}"), &args)
    }

    /// Runs `cdn` against this cluster's master with the default client identity.
    pub fn cdn(&self, args: &[&str]) -> Ran {
        self.cdn_with_certs(&self.certs(), args)
    }

    /// Runs `cdn` against this cluster's master with the certificates in `certs`.
    pub fn cdn_with_certs(&self, certs: &Path, args: &[&str]) -> Ran {
        let mut command = Command::new(cdn_bin());
        command
            .arg("--master")
            .arg(self.addr())
            .arg("--certs")
            .arg(certs)
            .arg("--connect-timeout")
            .arg("5s")
            .args(args);
        Ran::from(run_bounded(command))
    }

    /// `cdn query ID` as JSON.
    pub fn query(&self, id: &str) -> serde_json::Value {
        self.cdn(&["query", id]).ok().json()
    }

    /// Polls `cdn query ID` until `pred` holds (bounded).
    pub fn wait_until(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        eventually(BOUND, Duration::from_millis(100), || {
            let view = self.query(id);
            if pred(&view) {
                return Some(view);
            }
            last = view;
            None
        })
        .unwrap_or_else(|| panic!("{id} never became {what}: {last:#}"))
    }

    /// Writes `bytes` to a file in this test's folder and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write file");
        path
    }
}

/// A photo-like JPEG of `width` x `height` (different for each seed).
pub fn jpeg(width: u32, height: u32, seed: u64) -> Vec<u8> {
    cdn_samples::jpeg(
        &cdn_samples::photo(width, height, seed),
        85,
        &Default::default(),
    )
    .expect("encode jpeg")
}

/// Checks that `bytes` decode as an image that fits `w` x `h`; returns its size.
pub fn assert_thumbnail_fits(bytes: &[u8], w: u32, h: u32) -> (u32, u32) {
    let decoded = cdn_samples::decode_rgb(bytes).expect("the thumbnail decodes");
    let (tw, th) = (decoded.width, decoded.height);
    assert!(
        tw <= w && th <= h && tw > 0 && th > 0,
        "{tw}x{th} does not fit {w}x{h}"
    );
    assert!(
        tw == w || th == h,
        "{tw}x{th} does not touch the {w}x{h} box"
    );
    (tw, th)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
