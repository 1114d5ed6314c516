//! A master and two workers (`cdn-host`) as real processes on loopback, driven with the real
//! client (`cdn`), as the e2e tests do: certificates made with the `cdn-certs` library, a free
//! UDP port, readiness = `cdn stats` answers. Every process is killed and reaped when the
//! `Cluster` drops, also on error.

use crate::net::{free_tcp_port, free_udp_port, http_get};
use crate::proc_stats::{self, Cpu};
use crate::procs::{run_bounded, sibling_binary, Proc};
use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The longest one `cdn` command may take.
const COMMAND_BOUND: Duration = Duration::from_secs(600);
/// The longest a master or the workers may take to become ready.
const START_BOUND: Duration = Duration::from_secs(60);

/// The workers' names (their certificates are `worker-NAME.pem`).
pub const WORKERS: [&str; 2] = ["w1", "w2"];

/// What every cluster of this benchmark shares: the binaries, the certificates, and the
/// workers' caches (so compiled plugins are reused across runs).
pub struct Setup {
    host: PathBuf,
    cdn: PathBuf,
    certs: PathBuf,
    caches: PathBuf,
}

impl Setup {
    /// Certificates in `scratch/certs`, or `None` when `cdn-host` or `cdn` is not built.
    pub fn new(scratch: &Path) -> Result<Option<Setup>> {
        let (Some(host), Some(cdn)) = (sibling_binary("cdn-host"), sibling_binary("cdn")) else {
            return Ok(None);
        };
        let certs = scratch.join("certs");
        cdn_certs::init(&cdn_certs::InitOptions {
            workers: WORKERS.iter().map(|w| w.to_string()).collect(),
            ..cdn_certs::InitOptions::new(certs.clone())
        })
        .context("making certificates with cdn-certs")?;
        Ok(Some(Setup {
            host,
            cdn,
            certs,
            caches: scratch.join("worker-caches"),
        }))
    }
}

pub struct Cluster<'a> {
    setup: &'a Setup,
    addr: String,
    /// The master's HTTP side (for `/metrics`).
    http: String,
    data: PathBuf,
    // Dropped (killed) before the master.
    workers: Vec<Proc>,
    master: Proc,
}

impl<'a> Cluster<'a> {
    /// Starts a master with a fresh data folder in `dir` and the two workers, each running
    /// `concurrency` tasks at once, and waits until the master sees both workers.
    pub fn start(setup: &'a Setup, dir: &Path, concurrency: u32) -> Result<Cluster<'a>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let data = dir.join("data");
        let addr = format!("127.0.0.1:{}", free_udp_port()?);
        let http = format!("127.0.0.1:{}", free_tcp_port()?);
        let mut command = Command::new(&setup.host);
        command
            .arg("master")
            .args(["--listen", &addr, "--http", &http])
            .arg("--certs")
            .arg(&setup.certs)
            .arg("--data")
            .arg(&data)
            .env_remove("RUST_LOG");
        let master = Proc::spawn("the master", command, &dir.join("master.log"))?;
        let mut cluster = Cluster {
            setup,
            addr,
            http,
            data,
            workers: Vec::new(),
            master,
        };
        cluster.wait_ready()?;
        for name in WORKERS {
            let mut command = Command::new(&setup.host);
            command
                .arg("worker")
                .args(["--master", &cluster.addr])
                .arg("--certs")
                .arg(&setup.certs)
                .args(["--name", name, "--concurrency", &concurrency.to_string()])
                .arg("--cache")
                .arg(setup.caches.join(name))
                .env_remove("RUST_LOG");
            let log = dir.join(format!("worker-{name}.log"));
            cluster
                .workers
                .push(Proc::spawn(&format!("worker {name}"), command, &log)?);
        }
        cluster.wait_workers()?;
        Ok(cluster)
    }

    /// The registry's writes and commits so far (from the master's `/metrics`).
    pub fn registry_commits(&self) -> Result<(u64, u64)> {
        let (status, body) = http_get(&self.http, "/metrics")?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        let text = String::from_utf8_lossy(&body);
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .with_context(|| format!("no {name} in /metrics"))
        };
        Ok((
            value("cdn_registry_writes")?,
            value("cdn_registry_commits")?,
        ))
    }

    /// Polls `cdn stats` until it answers (bounded).
    fn wait_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            let out = self.cdn_output(&["stats"])?;
            if out.status.success() {
                return Ok(());
            }
            self.master.check_running()?;
            if start.elapsed() > START_BOUND {
                bail!(
                    "the master did not answer within {START_BOUND:?}: {}\nits log ends:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    self.master.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `cdn stats --json` until both workers have been seen (bounded).
    fn wait_workers(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            let seen = self.stats()?["workers_connected"].as_u64().unwrap_or(0);
            if seen >= WORKERS.len() as u64 {
                return Ok(());
            }
            for worker in &mut self.workers {
                worker.check_running()?;
            }
            if start.elapsed() > START_BOUND {
                bail!("only {seen} workers connected within {START_BOUND:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `cdn ARGS` against this master with the default client identity.
    fn cdn_output<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output> {
        let mut command = Command::new(&self.setup.cdn);
        command
            .args(["--master", &self.addr])
            .arg("--certs")
            .arg(&self.setup.certs)
            .args(["--connect-timeout", "5s"])
            .args(args)
            .env_remove("RUST_LOG");
        run_bounded(command, COMMAND_BOUND)
    }

    /// Runs `cdn ARGS` and returns its stdout; a non-zero exit is an error.
    pub fn cdn<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String> {
        let out = self.cdn_output(args)?;
        if !out.status.success() {
            let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr: Vec<&str> = stderr.lines().take(10).collect();
            bail!(
                "`cdn {}` failed ({}):\n{}",
                shown.join(" "),
                out.status,
                stderr.join("\n")
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `cdn stats --json`.
    pub fn stats(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.cdn(&["stats", "--json"])?)
            .context("`cdn stats --json` did not print JSON")
    }

    /// Polls `cdn stats --json` every `interval` until `total` images are done; an image that
    /// fails ends the wait with an error.
    pub fn wait_done(&mut self, total: u64, interval: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let stats = self.stats()?;
            let counts = &stats["counts"];
            let (done, failed) = (counts["done"].as_u64(), counts["failed"].as_u64());
            let (Some(done), Some(failed)) = (done, failed) else {
                bail!("`cdn stats --json` has no counts: {stats}");
            };
            if failed > 0 {
                bail!("{failed} images failed (`cdn list --status failed` says why)");
            }
            if done >= total {
                return Ok(());
            }
            self.master.check_running()?;
            for worker in &mut self.workers {
                worker.check_running()?;
            }
            if start.elapsed() > COMMAND_BOUND {
                bail!("only {done} of {total} images were done after {COMMAND_BOUND:?}");
            }
            std::thread::sleep(interval);
        }
    }

    /// Peak RSS of the master and of the first worker, in bytes.
    pub fn peak_rss(&self) -> Result<(u64, u64)> {
        let worker = self.workers.first().context("no worker")?;
        Ok((
            proc_stats::peak_rss(self.master.pid())?,
            proc_stats::peak_rss(worker.pid())?,
        ))
    }

    /// CPU time so far of the master and of all workers together.
    pub fn cpu(&self) -> Result<(Cpu, Cpu)> {
        let mut workers = Cpu::default();
        for worker in &self.workers {
            workers = workers.add(proc_stats::cpu(worker.pid())?);
        }
        Ok((proc_stats::cpu(self.master.pid())?, workers))
    }

    /// Stops every process (killed and reaped) and returns every image the registry holds.
    pub fn stop(self) -> Result<Vec<cdn_proto::ImageView>> {
        let data = self.data.clone();
        drop(self);
        let path = data.join("registry.sqlite3");
        let registry = cdn_master::Registry::open(&path)
            .with_context(|| format!("opening the registry {}", path.display()))?;
        registry
            .list(None)
            .with_context(|| format!("listing the registry {}", path.display()))
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
/// Unix time in milliseconds (the registry's clock: the master runs on this machine).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
