//! The HTTP side's speed: GET requests/s on one cached thumbnail URL of the master
//! (`cdn-host master --http`) against nginx serving the same bytes from a file, both driven by
//! `wrk` with the same settings in the same run. Target: at least 0.5x nginx. When `wrk` or
//! `nginx` is not installed, the section says so and the run goes on.

use crate::net::{free_tcp_port, free_udp_port, http_get};
use crate::procs::{run_bounded, sibling_binary, Proc};
use crate::report::{times, Report};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// wrk's settings, the same for both servers.
const WRK_ARGS: [&str; 4] = ["-t1", "-c32", "-d5s", "--latency"];
const TARGET: f64 = 0.5;

fn installed(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let out = Command::new("which").arg(name).output().ok()?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
}

pub fn report(out: &mut Report, scratch: &Path) -> Result<()> {
    out.section("HTTP: a cached thumbnail against nginx");
    let wrk = installed("wrk", &["/usr/bin/wrk"]);
    let nginx = installed("nginx", &["/usr/sbin/nginx"]);
    let (Some(wrk), Some(nginx)) = (wrk.clone(), nginx.clone()) else {
        let missing: Vec<&str> = [("wrk", wrk.is_none()), ("nginx", nginx.is_none())]
            .into_iter()
            .filter(|(_, missing)| *missing)
            .map(|(name, _)| name)
            .collect();
        out.para(&format!(
            "{} not installed: skipped (`apt-get install -y wrk nginx-light`).",
            missing.join(" and ")
        ));
        return Ok(());
    };
    let (Some(host), Some(cdn)) = (sibling_binary("cdn-host"), sibling_binary("cdn")) else {
        out.para("(Skipped: build `cdn-host` and `cdn` first, e.g. `cargo xtask build`.)");
        return Ok(());
    };
    let dir = scratch.join("http");
    std::fs::create_dir_all(&dir)?;
    let certs = dir.join("certs");
    cdn_certs::init(&cdn_certs::InitOptions {
        workers: vec!["w1".into()],
        ..cdn_certs::InitOptions::new(certs.clone())
    })
    .context("making certificates")?;
    let quic = format!("127.0.0.1:{}", free_udp_port()?);
    let http = format!("127.0.0.1:{}", free_tcp_port()?);

    let mut master_cmd = Command::new(&host);
    master_cmd
        .args(["master", "--listen", &quic, "--http", &http, "--certs"])
        .arg(&certs)
        .arg("--data")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn");
    let mut master = Proc::spawn("the master", master_cmd, &dir.join("master.log"))?;
    let mut worker_cmd = Command::new(&host);
    worker_cmd
        .args(["worker", "--master", &quic, "--name", "w1", "--certs"])
        .arg(&certs)
        .arg("--cache")
        .arg(dir.join("cache"))
        .env("RUST_LOG", "warn");
    let _worker = Proc::spawn("the worker", worker_cmd, &dir.join("worker.log"))?;

    let source = dir.join("photo.jpg");
    let photo = cdn_samples::photo(1600, 1200, 7);
    let jpeg = cdn_samples::jpeg(&photo, 85, &Default::default()).context("encoding a JPEG")?;
    std::fs::write(&source, jpeg)?;
    let cdn_cmd = |args: &[&str]| {
        let mut c = Command::new(&cdn);
        c.args(["--master", &quic, "--certs"])
            .arg(&certs)
            .args(args);
        c
    };
    let started = Instant::now();
    loop {
        let mut register = cdn_cmd(&["register", "photo.jpg"]);
        register.arg(&source);
        if run_bounded(register, Duration::from_secs(30))?
            .status
            .success()
        {
            break;
        }
        master.check_running()?;
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the master did not take the registration within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let waited = run_bounded(
        cdn_cmd(&["wait", "photo.jpg", "--timeout", "120s"]),
        Duration::from_secs(150),
    )?;
    if !waited.status.success() {
        bail!(
            "the thumbnail was not made: {}",
            String::from_utf8_lossy(&waited.stderr)
        );
    }
    let path = "/v1/images/photo.jpg/thumbnail";
    let (status, body) = http_get(&http, path)?;
    if status != 200 {
        bail!("GET {path} answered {status}");
    }

    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("thumb.jpg"), &body)?;
    let nginx_addr = format!("127.0.0.1:{}", free_tcp_port()?);
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {pid};\n\
             error_log {err} warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n\
             types {{ image/jpeg jpg; }}\n  server {{\n    listen {nginx_addr};\n\
             root {www};\n  }}\n}}\n",
            pid = dir.join("nginx.pid").display(),
            err = dir.join("nginx-error.log").display(),
            www = www.display(),
        ),
    )?;
    let mut nginx_cmd = Command::new(&nginx);
    nginx_cmd.arg("-p").arg(&dir).arg("-c").arg(&conf);
    let mut nginx_proc = Proc::spawn("nginx", nginx_cmd, &dir.join("nginx.log"))?;
    let started = Instant::now();
    while http_get(&nginx_addr, "/thumb.jpg").map(|(s, _)| s).ok() != Some(200) {
        nginx_proc.check_running()?;
        if started.elapsed() > Duration::from_secs(20) {
            bail!("nginx did not answer within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let ours = wrk_rps(&wrk, &format!("http://{http}{path}"))?;
    let theirs = wrk_rps(&wrk, &format!("http://{nginx_addr}/thumb.jpg"))?;
    let ratio = ours / theirs;
    out.table(
        &["server", "GET requests/s", "vs nginx"],
        &[
            vec![
                "imagecdn master (`--http`, thumbnail in memory)".into(),
                format!("{ours:.0}"),
                times(ratio),
            ],
            vec![
                "nginx (1 worker, sendfile, the same bytes)".into(),
                format!("{theirs:.0}"),
                times(1.0),
            ],
        ],
    );
    out.para(&format!(
        "One {} byte thumbnail; `wrk {}` against each, one after the other, on this machine \
         (wrk shares its CPUs). Target: at least {TARGET}x nginx.",
        body.len(),
        WRK_ARGS.join(" ")
    ));
    out.outcome(
        "HTTP: cached thumbnail GET/s >= 0.5x nginx",
        format!("{ours:.0} req/s ({} of nginx)", times(ratio)),
        Some(ratio / TARGET),
    );
    Ok(())
}

/// Requests/s that `wrk` reports for `url`.
fn wrk_rps(wrk: &Path, url: &str) -> Result<f64> {
    let mut command = Command::new(wrk);
    command.args(WRK_ARGS).arg(url);
    let output = run_bounded(command, Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        bail!(
            "wrk {url} failed:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))
}
