//! `cargo xtask demo`: the networked mode and both local runners on sample photos, with the real
//! binaries as real processes, in `target/demo/`. Every process it starts is stopped before it
//! returns, also on Ctrl-C (the guards below kill and reap whatever is still running).

use crate::describe;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sample photos registered (and run locally).
const IMAGES: u32 = 12;

/// The demo's folder and binaries.
struct Demo {
    bin: PathBuf,
    dir: PathBuf,
    master_addr: String,
    /// The master's HTTP side (`--http`).
    http_addr: String,
    interrupted: Arc<AtomicBool>,
}

pub fn run(root: &Path) -> Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("cannot listen for Ctrl-C")?;
    let dir = root.join("target/demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("logs"))?;
    let demo = Demo {
        bin: root.join("target/release"),
        dir,
        master_addr: format!("127.0.0.1:{}", free_udp_port()?),
        http_addr: format!("127.0.0.1:{}", free_tcp_port()?),
        interrupted,
    };
    let result = demo.steps();
    if demo.interrupted.load(Ordering::SeqCst) {
        bail!("interrupted; every process the demo started has been stopped");
    }
    result
}

impl Demo {
    fn steps(&self) -> Result<()> {
        let certs = self.path("certs");
        let images = self.path("images");
        heading("1/5  Certificates and sample photos");
        self.run(
            self.cmd("cdn-certs")
                .args(["init", "--workers", "w1,w2", "--dir"])
                .arg(&certs),
        )?;
        self.run(
            self.cmd("cdn-local")
                .args([
                    "setup",
                    "--count",
                    &IMAGES.to_string(),
                    "--size",
                    "2000x1500",
                ])
                .arg("--dirs")
                .arg(&images),
        )?;

        heading("2/5  A master and two workers (real processes on loopback)");
        let mut procs = Vec::new();
        procs.push(
            self.spawn(
                "master",
                self.cmd("cdn-host")
                    .args(["master", "--listen", &self.master_addr])
                    .args(["--http", &self.http_addr, "--certs"])
                    .arg(&certs)
                    .arg("--data")
                    .arg(self.path("data")),
            )?,
        );
        for name in ["w1", "w2"] {
            procs.push(
                self.spawn(
                    &format!("worker-{name}"),
                    self.cmd("cdn-host")
                        .args(["worker", "--name", name, "--concurrency", "1"])
                        .args(["--master", &self.master_addr, "--certs"])
                        .arg(&certs)
                        .arg("--cache")
                        .arg(self.path("cache")),
                )?,
            );
        }
        self.wait_for_workers(2)?;
        println!(
            "master on {}, workers w1 and w2 ready (logs in target/demo/logs/)",
            self.master_addr
        );

        heading("3/5  Register the photos with `cdn` and wait for the thumbnails");
        let started = Instant::now();
        self.run(self.cdn().args(["register", "--dir"]).arg(&images))?;
        let ids = image_ids(&images)?;
        self.run(self.cdn().args(["wait", "--timeout", "300s"]).args(&ids))?;
        let seconds = started.elapsed().as_secs_f64();
        let thumbs = self.path("thumbnails");
        std::fs::create_dir_all(&thumbs)?;
        for id in &ids {
            self.quiet(
                self.cdn()
                    .args(["fetch", id, "-o"])
                    .arg(thumbs.join(thumb_name(id))),
            )?;
        }
        self.print_table()?;
        println!(
            "{} images in {seconds:.1} s ({:.1} images/s); thumbnails fetched into target/demo/thumbnails/",
            ids.len(),
            ids.len() as f64 / seconds
        );
        if let Some(id) = ids.first() {
            self.show_http(id)?;
        }
        self.stop_all(procs)?;

        heading("4/5  The same photos on one machine: threads, then processes");
        let local = self.path("local");
        std::fs::create_dir_all(&local)?;
        for id in &ids {
            std::fs::copy(images.join(id), local.join(id))?;
        }
        self.run(
            self.cmd("cdn-local")
                .args(["threads", "-j", "2"])
                .arg(&local),
        )?;
        self.run(
            self.cmd("cdn-local")
                .args(["processes", "-j", "2", "--force"])
                .arg(&local),
        )?;

        heading("5/5  Done. Each step by hand (see README.md):");
        println!(
            "  PATH=\"$PWD/target/release:$PATH\"; cd \"$(mktemp -d)\"\n\
             \x20 cdn-certs init                                  # ./certs\n\
             \x20 cdn-local setup                                 # /tmp/node_a, /tmp/node_b\n\
             \x20 cdn-host master --http 127.0.0.1:8080 &        # 127.0.0.1:4433, ./cdn-data\n\
             \x20 cdn-host worker &\n\
             \x20 cdn register img_dist_1 /tmp/node_a/img_100.jpg\n\
             \x20 cdn wait img_dist_1 && cdn query img_dist_1\n\
             \x20 cdn fetch img_dist_1 -o thumb.jpg\n\
             \x20 curl -o t.jpg http://127.0.0.1:8080/v1/images/img_dist_1/thumbnail\n\
             \x20 cdn-local threads /tmp/node_a /tmp/node_b       # or: processes\n\
             \x20 kill %1 %2                                      # stop worker and master"
        );
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The HTTP side: the status page's URL, and one thumbnail fetched with a plain HTTP GET.
    fn show_http(&self, id: &str) -> Result<()> {
        let path = format!("/v1/images/{id}/thumbnail");
        println!("\nstatus page:  http://{}/", self.http_addr);
        println!("a thumbnail:  http://{}{path}", self.http_addr);
        let HttpAnswer {
            status,
            headers,
            body,
        } = http_get(&self.http_addr, &path)?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("-", |(_, v)| v.as_str())
        };
        println!(
            "GET {path}: {status}, {} bytes, {}, ETag {}, Cache-Control: {}",
            body.len(),
            header("content-type"),
            header("etag"),
            header("cache-control")
        );
        if status.split_whitespace().nth(1) != Some("200") {
            bail!("the thumbnail URL answered {status}");
        }
        Ok(())
    }

    fn cmd(&self, binary: &str) -> Command {
        Command::new(self.bin.join(binary))
    }

    fn cdn(&self) -> Command {
        let mut cmd = self.cmd("cdn");
        cmd.args(["--master", &self.master_addr, "--certs"])
            .arg(self.path("certs"));
        cmd
    }

    /// Runs a command with the terminal (its output and progress bars show), bounded by Ctrl-C.
    fn run(&self, cmd: &mut Command) -> Result<()> {
        let status = self.wait(cmd, Stdio::inherit())?;
        if !status.success() {
            bail!("{} failed ({status})", describe(cmd));
        }
        Ok(())
    }

    /// Runs a command whose output is not interesting unless it fails.
    fn quiet(&self, cmd: &mut Command) -> Result<()> {
        let log = self.path("logs/commands.log");
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)?;
        let status = self.wait(cmd.stderr(file.try_clone()?), Stdio::from(file))?;
        if !status.success() {
            bail!("{} failed ({status}); see {}", describe(cmd), log.display());
        }
        Ok(())
    }

    fn wait(&self, cmd: &mut Command, stdout: Stdio) -> Result<ExitStatus> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .spawn()
            .with_context(|| format!("cannot start {}", describe(cmd)))?;
        let mut guard = Guard {
            name: describe(cmd),
            child,
        };
        loop {
            if let Some(status) = guard.child.try_wait()? {
                return Ok(status);
            }
            if self.interrupted.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a long-running process, its stderr into `logs/NAME.log`.
    fn spawn(&self, name: &str, cmd: &mut Command) -> Result<Guard> {
        let log = std::fs::File::create(self.path(&format!("logs/{name}.log")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", describe(cmd)))?;
        Ok(Guard {
            name: name.to_string(),
            child,
        })
    }

    /// Waits until the master answers and `n` workers have asked it for work (they load their
    /// plugin first, and retry until the master is up).
    fn wait_for_workers(&self, n: u64) -> Result<()> {
        let start = Instant::now();
        loop {
            let out = self.cdn().args(["stats", "--json"]).output()?;
            let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if stats["workers_connected"].as_u64() >= Some(n) {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) || self.interrupted.load(Ordering::SeqCst)
            {
                bail!("the master or the workers did not start; see target/demo/logs/");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// id, status, size -> thumbnail size, worker, ms (register to done), from `cdn list --json`.
    fn print_table(&self) -> Result<()> {
        let out = self.cdn().args(["list", "--json"]).output()?;
        if !out.status.success() {
            bail!("cdn list failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let list: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("cdn list --json printed no JSON")?;
        let mut images = list["images"].as_array().cloned().unwrap_or_default();
        images.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        println!(
            "\n{:<14} {:<7} {:>26}   {:<7} {:>6}",
            "id", "status", "size -> thumbnail", "worker", "ms"
        );
        for v in images {
            let source = format!(
                "{} KB",
                v["source"]["size"].as_u64().unwrap_or(0).div_ceil(1000)
            );
            let thumb = &v["thumbnail"];
            let made = format!(
                "{}x{} {} KB",
                thumb["width"].as_u64().unwrap_or(0),
                thumb["height"].as_u64().unwrap_or(0),
                thumb["size"].as_u64().unwrap_or(0).div_ceil(1000)
            );
            let ms = match (v["finished_ms"].as_i64(), v["created_ms"].as_i64()) {
                (Some(end), Some(start)) => (end - start).to_string(),
                _ => "-".into(),
            };
            println!(
                "{:<14} {:<7} {:>26}   {:<7} {:>6}",
                v["id"].as_str().unwrap_or("?"),
                v["status"].as_str().unwrap_or("?"),
                format!("{source} -> {made}"),
                v["made_by"].as_str().unwrap_or("-"),
                ms
            );
        }
        println!();
        Ok(())
    }

    /// SIGTERM to each (workers first, the master last), then waits for them to exit.
    fn stop_all(&self, procs: Vec<Guard>) -> Result<()> {
        for mut p in procs.into_iter().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &p.child.id().to_string()])
                .status();
            let start = Instant::now();
            while p.child.try_wait()?.is_none() {
                if start.elapsed() > Duration::from_secs(20) {
                    bail!("{} did not stop within 20 s", p.name);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            println!("stopped {}", p.name);
        }
        Ok(())
    }
}

/// A child process, killed and reaped on drop (on error or Ctrl-C).
struct Guard {
    name: String,
    child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn heading(text: &str) {
    println!("\n== {text}\n");
}

fn free_udp_port() -> Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("cannot find a free UDP port")?;
    Ok(socket.local_addr()?.port())
}

/// The file names in `dir`, sorted (the ids `cdn register --dir` gives them).
fn image_ids(dir: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        if let Some(name) = entry?.file_name().to_str() {
            ids.push(name.to_string());
        }
    }
    ids.sort();
    Ok(ids)
}

/// `img_100.jpg` -> `img_100_thumb.jpg`.
fn thumb_name(id: &str) -> String {
    match id.rsplit_once('.') {
        Some((stem, _)) => format!("{stem}_thumb.jpg"),
        None => format!("{id}_thumb.jpg"),
    }
}

/// What [`http_get`] read.
struct HttpAnswer {
    /// The status line (`HTTP/1.1 200 OK`).
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A plain HTTP/1.1 GET over a TCP stream: the status line, the headers and the body (the
/// server closes the connection after it, as asked).
fn http_get(addr: &str, path: &str) -> Result<HttpAnswer> {
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("reading the answer to GET {path}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    })
}

fn free_tcp_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free TCP port")?;
    Ok(listener.local_addr()?.port())
}
