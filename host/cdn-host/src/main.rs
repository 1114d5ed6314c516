//! `cdn-host`: the imagecdn master and worker (DESIGN §4).
//!
//! - `cdn-host master` keeps the registry and blobs in `--data`, or in `--registry` (SQLite or a
//!   PostgreSQL that several masters share) and `--blobs` (a folder or an S3 bucket); serves
//!   QUIC on `--listen`, and leases thumbnail tasks to workers. SIGINT/SIGTERM stop it; with
//!   SQLite, leases in flight go back to `pending` when it starts again.
//! - `cdn-host worker` leases tasks from `--master` (one master or several, `A,B,...`; it
//!   moves to the next when its connection breaks) and runs their plugin in the wasm runtime.
//!   The first SIGINT/SIGTERM stops it taking work and lets it finish what it holds; a second
//!   hands those tasks back to the master at once.
//!
//! Logs go to stderr (`RUST_LOG`, default `info`).

use anyhow::{Context, Result};
use cdn_common::MasterList;
use cdn_master::{HttpConfig, HttpServing, Master, MasterConfig};
use cdn_worker::{Stop, WorkerConfig};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "cdn-host",
    version,
    about = "The imagecdn master and worker",
    after_help = "Examples:\n  cdn-certs init --dir ./pki\n  cdn-host master --certs ./pki\n  cdn-host worker --certs ./pki --concurrency 2\n\nExit codes: 0 stopped cleanly, 1 could not start or failed (the message says why), 2 bad command line."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text (colours only on a terminal) or as JSON objects, one per line.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the master: registry, blob store, leases, QUIC server.
    Master(MasterArgs),
    /// Run a worker: lease tasks from the master and make their thumbnails.
    Worker(WorkerArgs),
}

#[derive(Args)]
struct MasterArgs {
    /// Address to listen on (UDP).
    #[arg(long, default_value = "127.0.0.1:4433", value_name = "ADDR")]
    listen: SocketAddr,
    /// Data folder: the registry (SQLite) and the blob store, unless --registry says otherwise.
    #[arg(long, default_value = "./cdn-data", value_name = "DIR")]
    data: PathBuf,
    /// The registry: `sqlite:PATH` (one master; default: sqlite:DATA/registry.sqlite3) or
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`, which any number of masters share (the
    /// database must exist; its schema is made or migrated at start).
    #[arg(long, value_name = "SPEC", value_parser = parse_registry)]
    registry: Option<cdn_master::RegistrySpec>,
    /// Where blobs (images, thumbnails, plugins) are kept: `file:DIR` (default: `file:DATA/blobs`)
    /// or `s3://BUCKET/PREFIX` (the prefix optional), an S3-compatible bucket that must exist.
    /// S3 settings come from AWS_ENDPOINT (or AWS_ENDPOINT_URL; requests are path-style),
    /// AWS_DEFAULT_REGION or AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN, and AWS_ALLOW_HTTP=true for a plain-http endpoint.
    #[arg(long, value_name = "SPEC", value_parser = parse_blobs)]
    blobs: Option<cdn_master::BlobSpec>,
    /// Certificate folder made by `cdn-certs init` (uses master.pem, master.key, ca.pem).
    #[arg(long, default_value = "./certs", value_name = "DIR")]
    certs: PathBuf,
    /// A named plugin to offer besides the built-in `thumbnail` (repeatable;
    /// `thumbnail=FILE.wasm` replaces the current `thumbnail`, also one a client set with
    /// `cdn plugin add`; without it, a client's `thumbnail` is kept across restarts).
    #[arg(long = "plugin", value_name = "NAME=FILE.wasm", value_parser = parse_named_plugin)]
    plugins: Vec<(String, PathBuf)>,
    /// How long a lease lasts without the worker extending it.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    lease_ttl: Duration,
    /// Attempts before an image is `failed`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// Largest upload (image, thumbnail, plugin), in MiB. At most 64: workers and the plugin
    /// runtime take no more, so a larger image could never be made.
    #[arg(long, default_value_t = 64, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=64))]
    max_upload_mib: u64,
    /// Serve HTTP (thumbnails, sizes on demand, /metrics, /healthz, /readyz, status page) on
    /// this TCP address. Off unless given.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// The key of signed thumbnail URLs (the file's bytes are the key); see `cdn url`.
    #[arg(long, value_name = "FILE", requires = "http")]
    url_key_file: Option<PathBuf>,
    /// Sizes anyone may ask for without a signature, e.g. 128x128,256x256.
    #[arg(long, value_name = "WxH,...", value_delimiter = ',', value_parser = parse_size, requires = "http")]
    http_sizes: Vec<(u32, u32)>,
    /// How long the first request for a new size waits for it (then 202 + Retry-After).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    variant_wait: Duration,
    /// Most requests one connection may have open at once (more wait their turn).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_streams_per_conn: u32,
    /// Most connections one identity (certificate) may have open at once.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_conns_per_identity: u32,
    /// Request-body bytes held at once over all connections, in MiB (a body that cannot get
    /// budget within 10 s is answered `busy`).
    #[arg(long, default_value_t = 512, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65536))]
    body_budget_mib: u64,
    /// Most leases one worker identity holds at once; its further lease polls wait for one to
    /// end, then answer no task.
    #[arg(long, default_value_t = cdn_master::DEFAULT_MAX_LEASES_PER_WORKER, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_leases_per_worker: u32,
}

#[derive(Args)]
struct WorkerArgs {
    /// The masters' addresses, HOST:PORT (each certificate must be valid for its HOST), comma
    /// separated: tried in order; when the connection breaks the worker moves to the next
    /// (leases held go on through it).
    #[arg(
        long,
        env = "CDN_MASTER",
        default_value = "127.0.0.1:4433",
        value_name = "HOST:PORT[,HOST:PORT...]"
    )]
    master: MasterList,
    /// Certificate folder (uses worker.pem, or worker-NAME.pem with --name, and ca.pem).
    #[arg(long, default_value = "./certs", value_name = "DIR")]
    certs: PathBuf,
    /// Tasks worked on at once (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=128))]
    concurrency: Option<u16>,
    /// A plugin this worker has locally, so tasks naming its hash need no fetch (repeatable).
    #[arg(long = "plugin", value_name = "FILE.wasm")]
    plugins: Vec<PathBuf>,
    /// The worker's name: its certificate is worker-NAME.pem (default: worker.pem).
    #[arg(long)]
    name: Option<String>,
    /// Cache folder for fetched plugins and compiled code (default: ~/.cache/imagecdn).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Most memory one plugin call may use, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    plugin_memory_mib: u64,
    /// Longest one plugin call may run.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    plugin_time: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Tasks leased ahead of the plugin calls, so the next source is already here when a call
    /// ends. 0 leases only what runs. Default: paced by the calls, enough to cover about 20 ms
    /// of calls per slot (one per slot for calls that long or longer; up to 64 held in all,
    /// and about 64 MiB of sources waiting).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16))]
    prefetch: Option<u16>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected WIDTHxHEIGHT such as 128x128, got {s:?}");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let side = |v: &str| v.parse::<u32>().ok().filter(|n| (1..=16_384).contains(n));
    Ok((side(w).ok_or_else(bad)?, side(h).ok_or_else(bad)?))
}

fn parse_registry(spec: &str) -> Result<cdn_master::RegistrySpec, String> {
    spec.parse()
        .map_err(|e: cdn_master::RegistryError| e.to_string())
}

fn parse_blobs(s: &str) -> Result<cdn_master::BlobSpec, String> {
    s.parse().map_err(|e: cdn_master::BlobError| e.to_string())
}

fn parse_named_plugin(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=FILE.wasm, got {s:?}")),
    }
}

/// mimalloc, not glibc's malloc: the master's many small allocations on many threads
/// (requests, frames, rows, log lines) cost a tenth of its CPU with glibc's (ARCHITECTURE,
/// "Crates").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = init_logs(cli.log_format);
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|rt| {
            let result = rt.block_on(async {
                match cli.command {
                    Command::Master(args) => master(args).await,
                    Command::Worker(args) => worker(args).await,
                }
            });
            // A plugin call of a task handed back may still be running on a blocking thread:
            // do not wait for it (the master has the task back).
            rt.shutdown_timeout(Duration::from_millis(500));
            result
        });
    // The last log lines out before the error line.
    drop(logs);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cdn-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr (`RUST_LOG`, default `info`): text with colours only when stderr is a
/// terminal, or one JSON object per line. A thread of their own writes the lines, through a
/// buffer flushed whenever no more lines wait: no request waits on stderr, and a busy master
/// (a few lines per task) writes many lines per system call instead of one each. None is
/// dropped (a full queue makes the thread that logs wait); the guard, dropped at the end of
/// `main`, writes out what is left.
fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("cdn-logs")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    guard
}

async fn master(args: MasterArgs) -> Result<()> {
    let mut plugins = Vec::new();
    for (name, path) in &args.plugins {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read plugin {name} from {}", path.display()))?;
        plugins.push((name.clone(), bytes));
    }
    let config = MasterConfig {
        lease_ttl: args.lease_ttl,
        max_attempts: args.max_attempts,
        plugins,
        max_upload: args.max_upload_mib << 20,
        blobs: args.blobs.clone(),
        max_leases_per_worker: args.max_leases_per_worker,
        registry: args.registry.clone(),
        server_limits: cdn_master::ServerLimits {
            max_streams_per_conn: args.max_streams_per_conn,
            max_conns_per_identity: args.max_conns_per_identity,
            body_budget: args.body_budget_mib << 20,
            ..cdn_master::ServerLimits::default()
        },
        ..MasterConfig::default()
    };
    let data = args.data.clone();
    let master = tokio::task::spawn_blocking(move || Master::open(&data, config))
        .await
        .context("opening the data folder failed")?
        .with_context(|| match &args.blobs {
            None => format!("cannot open the data folder {}", args.data.display()),
            Some(blobs) => format!(
                "cannot open the data folder {} with the blob store {blobs}",
                args.data.display()
            ),
        })?;
    let serving = master
        .serve(args.listen, &args.certs)
        .await
        .with_context(|| format!("cannot serve on {}", args.listen))?;
    tracing::info!(
        addr = %serving.local_addr(),
        data = %args.data.display(),
        lease_ttl = %humantime::format_duration(args.lease_ttl),
        max_attempts = args.max_attempts,
        "master ready"
    );
    let http = match args.http {
        Some(addr) => Some(serve_http(&master, &args, addr).await?),
        None => None,
    };
    let mut signals = Signals::new()?;
    let which = signals.next().await;
    tracing::info!("{which}: stopping");
    if let Some(http) = http {
        http.shutdown().await;
    }
    serving.shutdown().await;
    Ok(())
}

async fn serve_http(master: &Master, args: &MasterArgs, addr: SocketAddr) -> Result<HttpServing> {
    let mut config = HttpConfig::new(addr);
    if let Some(path) = &args.url_key_file {
        let key = std::fs::read(path)
            .with_context(|| format!("cannot read the URL key {}", path.display()))?;
        anyhow::ensure!(!key.is_empty(), "the URL key {} is empty", path.display());
        config.url_key = Some(key);
    }
    config.sizes = args.http_sizes.clone();
    config.variant_wait = args.variant_wait;
    let http = master
        .serve_http(config)
        .await
        .with_context(|| format!("cannot serve HTTP on {addr}"))?;
    tracing::info!(status_page = %format!("http://{}/", http.local_addr()), "HTTP ready");
    Ok(http)
}

async fn worker(args: WorkerArgs) -> Result<()> {
    let cache = match args.cache {
        Some(dir) => dir,
        None => cdn_runtime::default_cache_root().unwrap_or_else(|| PathBuf::from("./cdn-cache")),
    };
    let concurrency = match args.concurrency {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut config = WorkerConfig::new(args.master, args.certs, cache);
    config.name = args.name;
    config.concurrency = concurrency;
    config.plugins = args.plugins;
    config.limits.memory_bytes = usize::try_from(args.plugin_memory_mib << 20)
        .context("--plugin-memory-mib is too large for this machine")?;
    config.limits.time = args.plugin_time;
    config.prefetch = args.prefetch.map(usize::from);

    let _metrics = match args.metrics {
        Some(addr) => Some(
            cdn_worker::metrics::serve(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?
                .1,
        ),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let mut signals = Signals::new()?;
    let work = cdn_worker::run(config, stop_rx);
    tokio::pin!(work);
    let summary = loop {
        tokio::select! {
            result = &mut work => break result?,
            which = signals.next() => {
                let next = if *stop_tx.borrow() == Stop::Run {
                    tracing::info!("{which}: finishing the tasks held, then stopping (again to hand them back now)");
                    Stop::Drain
                } else {
                    tracing::info!("{which}: handing the tasks held back to the master");
                    Stop::HandBack
                };
                stop_tx.send_replace(next);
            }
        }
    };
    tracing::info!(
        done = summary.done,
        failed = summary.failed,
        dropped = summary.dropped,
        "worker stopped"
    );
    Ok(())
}

/// SIGINT and SIGTERM, whichever comes.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        let listen = |kind| signal(kind).context("cannot listen for signals");
        Ok(Signals {
            int: listen(SignalKind::interrupt())?,
            term: listen(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_plugins_parse() {
        assert_eq!(
            parse_named_plugin("stamp=./p/stamp.wasm"),
            Ok(("stamp".to_string(), PathBuf::from("./p/stamp.wasm")))
        );
        for bad in ["stamp", "=x.wasm", "stamp="] {
            assert!(parse_named_plugin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_worker_takes_a_list_of_masters() {
        let cli = Cli::try_parse_from(["cdn-host", "worker", "--master", "a:1, b:2"]).unwrap();
        let Command::Worker(args) = cli.command else {
            panic!("not a worker")
        };
        assert_eq!(args.master.iter().collect::<Vec<_>>(), ["a:1", "b:2"]);
        for bad in ["a:1,,b:2", "a", "a:1,a:1"] {
            let err = Cli::try_parse_from(["cdn-host", "worker", "--master", bad]);
            assert!(err.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
