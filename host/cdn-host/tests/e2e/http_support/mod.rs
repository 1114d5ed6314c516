//! Shared by the `http*` tests: a master with its HTTP side on a free loopback port, and a
//! real HTTP client (ureq) that reports every status instead of failing on 4xx/5xx.

#![allow(dead_code)]

use cdn_testkit::*;
use std::time::Duration;

/// One answer, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error kind of a JSON error body.
    pub fn error_kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("no error kind in {}", self.text()))
            .to_string()
    }
}

/// An HTTP/1.1 client with a bound on every request.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Reply {
    let mut response = response.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET url` with extra request headers.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.call(), &format!("GET {url}"))
}

pub fn get(url: &str) -> Reply {
    get_with(url, &[])
}

pub fn head(url: &str) -> Reply {
    read(agent().head(url).call(), &format!("HEAD {url}"))
}

/// A cluster whose master serves HTTP too.
pub struct HttpCluster {
    pub c: Cluster,
    pub http_port: u16,
    pub master: Proc,
}

impl HttpCluster {
    /// Starts the master with `--http 127.0.0.1:PORT` and `extra` flags, and waits until
    /// `/healthz` answers.
    pub fn start(extra: &[&str]) -> HttpCluster {
        let c = Cluster::new();
        let http_port = free_tcp_port();
        let http = format!("127.0.0.1:{http_port}");
        let mut args = vec!["--http", http.as_str()];
        args.extend_from_slice(extra);
        let master = c.master(&args);
        let cluster = HttpCluster {
            c,
            http_port,
            master,
        };
        let health = cluster.url("/healthz");
        eventually(Duration::from_secs(30), Duration::from_millis(50), || {
            agent()
                .get(&health)
                .call()
                .ok()
                .filter(|r| r.status() == 200)
        })
        .unwrap_or_else(|| {
            panic!(
                "/healthz never answered; master log:\n{}",
                cluster.master.log()
            )
        });
        cluster
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub fn thumb_url(&self, id: &str) -> String {
        self.url(&format!("/v1/images/{id}/thumbnail"))
    }

    /// Registers `id` (a photo of `w` x `h`) with `flags`.
    pub fn register(&self, id: &str, w: u32, h: u32, seed: u64, flags: &[&str]) {
        let path = self.c.file(id, &jpeg(w, h, seed));
        let mut args = vec!["register", id, path_str(&path)];
        args.extend_from_slice(flags);
        self.c.cdn(&args).ok();
    }

    pub fn wait_done(&self, ids: &[&str]) {
        let mut args = vec!["wait"];
        args.extend_from_slice(ids);
        args.extend(["--timeout", "90s"]);
        self.c.cdn(&args).ok();
    }
}
