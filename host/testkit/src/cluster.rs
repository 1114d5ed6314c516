//! One test's world: certificates (workers `w1`, `w2`, `w3`; the client's as a bundle), a data folder and a free port in a
//! temporary folder; the master and workers as real `cdn-host` processes; the `cdn` client.

use crate::net::free_udp_port;
use crate::process::{bin, path_str, run_bounded, Proc, Ran};
use crate::wait::{eventually, BOUND};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

pub struct Cluster {
    pub dir: TempDir,
    pub port: u16,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    pub fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = cdn_certs::InitOptions {
            workers: vec!["w1".into(), "w2".into(), "w3".into()],
            ..cdn_certs::InitOptions::new(dir.path().join("certs"))
        };
        cdn_certs::init(&options).expect("cdn-certs init");
        // The client gets what an operator would copy to its machine: a bundle, without ca.key
        // (whose presence `cdn` warns about).
        cdn_certs::bundle(&cdn_certs::BundleOptions {
            dir: dir.path().join("certs"),
            role: cdn_certs::Role::Client,
            name: None,
            out: dir.path().join("client-certs"),
            force: false,
        })
        .expect("cdn-certs bundle");
        Cluster {
            dir,
            port: free_udp_port(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The issuing folder (`cdn-certs init`'s, with `ca.key`): the master's and workers'.
    pub fn certs(&self) -> PathBuf {
        self.path("certs")
    }

    /// The default client's bundle (no `ca.key`), which [`Cluster::cdn`] uses.
    pub fn client_certs(&self) -> PathBuf {
        self.path("client-certs")
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts `cdn-host ARGS` with `RUST_LOG=info`, its log in `NAME.log`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let mut command = Command::new(bin("cdn-host"));
        command.args(args).env("RUST_LOG", "info");
        Proc::spawn(name, command, &self.path(&format!("{name}.log")))
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
            path_str(&certs),
            "--data",
            path_str(&data),
        ];
        args.extend_from_slice(extra);
        let mut master = self.spawn("master", &args);
        let child = &mut master.child;
        let answered = eventually(Duration::from_secs(30), Duration::from_millis(100), || {
            if self.cdn(&["stats"]).code == Some(0) {
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
        self.worker_at(&self.addr(), name, concurrency, extra)
    }

    /// [`Cluster::worker`] given `masters` (one address or several, comma-separated).
    pub fn worker_at(&self, masters: &str, name: &str, concurrency: u32, extra: &[&str]) -> Proc {
        let certs = self.certs();
        let cache = self.worker_cache(name);
        let concurrency = concurrency.to_string();
        let mut args = vec!["worker", "--master", masters];
        if !extra.contains(&"--certs") {
            args.extend(["--certs", path_str(&certs)]);
        }
        args.extend([
            "--name",
            name,
            "--concurrency",
            &concurrency,
            "--cache",
            path_str(&cache),
        ]);
        args.extend_from_slice(extra);
        self.spawn(&format!("worker-{name}"), &args)
    }

    /// Worker `name`'s cache folder (`cache-NAME`, for `--cache`): fetched plugins are its own,
    /// but its compiled code (`modules`) is a link to one folder shared by every test's workers,
    /// `target/tmp/worker-plugin-cache`, so that the tests do not each compile the plugin (some
    /// seconds of CPU per worker). The worker checks that folder as its own (private, ours).
    pub fn worker_cache(&self, name: &str) -> PathBuf {
        let cache = self.path(&format!("cache-{name}"));
        let modules = cache.join("modules");
        if !modules.exists() {
            let shared = shared_worker_modules();
            private_dir(&cache);
            std::os::unix::fs::symlink(&shared, &modules).expect("link the shared module cache");
        }
        cache
    }

    /// Runs `cdn` against this cluster's master with the default client identity.
    pub fn cdn(&self, args: &[&str]) -> Ran {
        self.cdn_with_certs(&self.client_certs(), args)
    }

    /// Runs `cdn` against this cluster's master with the certificates in `certs`.
    pub fn cdn_with_certs(&self, certs: &Path, args: &[&str]) -> Ran {
        self.cdn_run(&self.addr(), certs, args)
    }

    /// Runs `cdn --master MASTERS` (one address or several, comma-separated) with the default
    /// client identity.
    pub fn cdn_at(&self, masters: &str, args: &[&str]) -> Ran {
        self.cdn_run(masters, &self.client_certs(), args)
    }

    fn cdn_run(&self, masters: &str, certs: &Path, args: &[&str]) -> Ran {
        let mut command = Command::new(bin("cdn"));
        command
            .env_remove("CDN_MASTER")
            .env_remove("CDN_CERTS")
            .arg("--master")
            .arg(masters)
            .arg("--certs")
            .arg(certs)
            .arg("--connect-timeout")
            .arg("5s")
            .args(args);
        run_bounded(command, BOUND)
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
        self.wait_until_at(&self.addr(), id, what, pred)
    }

    /// [`Cluster::wait_until`], asking `masters`.
    pub fn wait_until_at(
        &self,
        masters: &str,
        id: &str,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        eventually(BOUND, Duration::from_millis(100), || {
            let view = self.cdn_at(masters, &["query", id]).ok().json();
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

/// `target/tmp/worker-plugin-cache` (made private), where every test worker keeps its compiled
/// plugins.
fn shared_worker_modules() -> PathBuf {
    let binary = bin("cdn-host");
    let target = binary
        .parent()
        .and_then(Path::parent)
        .expect("binaries live in target/<profile>");
    let shared = target.join("tmp").join("worker-plugin-cache");
    private_dir(&shared);
    shared
}

/// Creates `dir` and its missing parents, mode 0700, as the worker would.
fn private_dir(dir: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
}
