//! One or more masters and two workers (`cdn-host`) as real processes on loopback, driven with
//! the real client (`cdn`), as the e2e tests do: certificates made with the `cdn-certs` library,
//! free ports, readiness = `cdn stats` answers. Where the masters keep their state is a
//! [`Deployment`]: the embedded default (SQLite + a folder), or a shared registry and blob store
//! (PostgreSQL + S3) under one or two masters. Every process is killed and reaped when the
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

/// Where the masters keep their state, and how many masters there are.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// How the report names it, e.g. `sqlite + file, 1 master`.
    pub label: String,
    pub masters: usize,
    /// `--registry` (`None`: SQLite in the master's data folder, one master only).
    pub registry: Option<String>,
    /// `--blobs` (`None`: the master's data folder).
    pub blobs: Option<String>,
    /// Variables the masters run with (the S3 endpoint and credentials).
    pub env: Vec<(String, String)>,
}

impl Deployment {
    /// One master over SQLite and a folder: what `cdn-host master` does by default.
    pub fn embedded() -> Deployment {
        Deployment {
            label: "sqlite + file, 1 master".into(),
            masters: 1,
            registry: None,
            blobs: None,
            env: Vec::new(),
        }
    }

    /// The label as a folder name.
    pub fn slug(&self) -> String {
        let slug: String = self
            .label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        slug.split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }
}

/// One running master: its QUIC address and its HTTP side (for `/metrics`).
struct MasterProc {
    addr: String,
    http: String,
    proc: Proc,
}

pub struct Cluster<'a> {
    setup: &'a Setup,
    deployment: Deployment,
    /// Every master's address, comma-separated (what the client and workers are given).
    addrs: String,
    data: PathBuf,
    // Dropped (killed) before the masters.
    workers: Vec<Proc>,
    masters: Vec<MasterProc>,
}

impl<'a> Cluster<'a> {
    /// Starts the deployment's masters (fresh data folders in `dir`) and the two workers, each
    /// running `concurrency` tasks at once (with several masters, each worker prefers another
    /// one), and waits until the masters have seen both workers.
    pub fn start(
        setup: &'a Setup,
        dir: &Path,
        concurrency: u32,
        deployment: &Deployment,
    ) -> Result<Cluster<'a>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let data = dir.join("data");
        let mut masters = Vec::new();
        for m in 0..deployment.masters.max(1) {
            let addr = format!("127.0.0.1:{}", free_udp_port()?);
            let http = format!("127.0.0.1:{}", free_tcp_port()?);
            let mut command = Command::new(&setup.host);
            command
                .arg("master")
                .args(["--listen", &addr, "--http", &http])
                .arg("--certs")
                .arg(&setup.certs)
                .arg("--data")
                .arg(data.join(format!("master-{m}")))
                .envs(deployment.env.iter().map(|(k, v)| (k, v)))
                .env_remove("RUST_LOG");
            if let Some(registry) = &deployment.registry {
                command.args(["--registry", registry]);
            }
            if let Some(blobs) = &deployment.blobs {
                command.args(["--blobs", blobs]);
            }
            let log = dir.join(format!("master-{m}.log"));
            let proc = Proc::spawn(&format!("master {m}"), command, &log)?;
            masters.push(MasterProc { addr, http, proc });
        }
        let addrs = masters
            .iter()
            .map(|m| m.addr.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            setup,
            deployment: deployment.clone(),
            addrs,
            data,
            workers: Vec::new(),
            masters,
        };
        cluster.wait_ready()?;
        for (i, name) in WORKERS.into_iter().enumerate() {
            // Worker i starts with master i (mod the count) and moves on from there.
            let mut order: Vec<&str> = cluster.masters.iter().map(|m| m.addr.as_str()).collect();
            let n = order.len();
            order.rotate_left(i % n);
            let mut command = Command::new(&setup.host);
            command
                .arg("worker")
                .args(["--master", &order.join(",")])
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

    /// The registry's writes and commits, and the blob store's fsyncs, so far (from the
    /// masters' `/metrics`, summed; fsyncs are 0 on S3).
    pub fn durability_counts(&self) -> Result<DurabilityCounts> {
        let mut counts = DurabilityCounts::default();
        for master in &self.masters {
            let (status, body) = http_get(&master.http, "/metrics")?;
            if status != 200 {
                bail!("GET /metrics of {} answered {status}", master.addr);
            }
            let text = String::from_utf8_lossy(&body);
            let value = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .with_context(|| format!("no {name} in /metrics"))
            };
            counts.writes += value("cdn_registry_writes")?;
            counts.commits += value("cdn_registry_commits")?;
            counts.blob_fsyncs += value("cdn_blob_fsyncs")?;
        }
        Ok(counts)
    }

    /// Polls `cdn stats` of each master until it answers (bounded).
    fn wait_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        for m in 0..self.masters.len() {
            loop {
                let addr = self.masters[m].addr.clone();
                let out = self.cdn_output_at(&addr, &["stats"])?;
                if out.status.success() {
                    break;
                }
                let master = &mut self.masters[m].proc;
                master.check_running()?;
                if start.elapsed() > START_BOUND {
                    bail!(
                        "the master at {addr} did not answer within {START_BOUND:?}: {}\nits log ends:\n{}",
                        String::from_utf8_lossy(&out.stderr),
                        master.log_tail()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Polls every master's `cdn stats --json` until the workers each has seen add up to both
    /// workers (bounded).
    fn wait_workers(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut seen = 0;
            for master in &self.masters {
                let out = self.cdn_output_at(&master.addr, &["stats", "--json"])?;
                let stats: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or_default();
                seen += stats["workers_connected"].as_u64().unwrap_or(0);
            }
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

    /// Runs `cdn ARGS` against the masters with the default client identity.
    fn cdn_output<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output> {
        self.cdn_output_at(&self.addrs, args)
    }

    /// Runs `cdn ARGS` against `masters` (one address or several, comma-separated).
    fn cdn_output_at<S: AsRef<OsStr>>(&self, masters: &str, args: &[S]) -> Result<Output> {
        let mut command = Command::new(&self.setup.cdn);
        command
            .args(["--master", masters])
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
            for master in &mut self.masters {
                master.proc.check_running()?;
            }
            for worker in &mut self.workers {
                worker.check_running()?;
            }
            if start.elapsed() > COMMAND_BOUND {
                bail!("only {done} of {total} images were done after {COMMAND_BOUND:?}");
            }
            std::thread::sleep(interval);
        }
    }

    /// The first master's process id (for `perf record`).
    pub fn master_pid(&self) -> Result<u32> {
        Ok(self.masters.first().context("no master")?.proc.pid())
    }

    /// Peak RSS of the largest master and of the first worker, in bytes.
    pub fn peak_rss(&self) -> Result<(u64, u64)> {
        let worker = self.workers.first().context("no worker")?;
        let mut master = 0;
        for m in &self.masters {
            master = master.max(proc_stats::peak_rss(m.proc.pid())?);
        }
        Ok((master, proc_stats::peak_rss(worker.pid())?))
    }

    /// CPU time so far of the masters together and of all workers together.
    pub fn cpu(&self) -> Result<(Cpu, Cpu)> {
        let (mut masters, mut workers) = (Cpu::default(), Cpu::default());
        for master in &self.masters {
            masters = masters.add(proc_stats::cpu(master.proc.pid())?);
        }
        for worker in &self.workers {
            workers = workers.add(proc_stats::cpu(worker.pid())?);
        }
        Ok((masters, workers))
    }

    /// Stops every process (killed and reaped) and returns every image the registry holds.
    pub fn stop(self) -> Result<Vec<cdn_proto::ImageView>> {
        let spec = match &self.deployment.registry {
            Some(spec) => spec.clone(),
            None => format!(
                "sqlite:{}",
                self.data.join("master-0/registry.sqlite3").display()
            ),
        };
        drop(self);
        let spec: cdn_master::RegistrySpec = spec.parse()?;
        let registry = cdn_master::Registry::connect(&spec)
            .with_context(|| format!("opening the registry {spec}"))?;
        registry
            .list(None)
            .with_context(|| format!("listing the registry {spec}"))
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
/// Unix time in milliseconds (the registry's clock: the master runs on this machine).
/// What the masters report of their durable writes ([`Cluster::durability_counts`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct DurabilityCounts {
    pub writes: u64,
    pub commits: u64,
    pub blob_fsyncs: u64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
