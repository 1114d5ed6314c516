//! A real S3 API server for tests: moto's server mode (`moto_server`, from `pip install
//! "moto[server]"`) as a process on a free port of 127.0.0.1, stopped by pid when dropped.
//!
//! moto keeps everything in memory, accepts any credentials and does not check signatures, so
//! the test side can make buckets and overwrite objects with plain HTTP requests ([`S3Server::
//! create_bucket`], [`S3Server::put_object`]) while the code under test talks to it as to any
//! S3 store, with the settings [`S3Server::env`] gives. (The requests carry a well-formed
//! `Authorization` header with a dummy signature: moto treats requests without one as
//! anonymous and refuses them on objects, but does not verify signatures.)

use crate::net::free_tcp_port;
use crate::process::Proc;
use crate::wait::eventually;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// How long moto may take to answer after it starts (about 2 s on an idle machine; much more
/// while the machine compiles).
const START_BOUND: Duration = Duration::from_secs(60);
/// How long one request to it may take.
const REQUEST_BOUND: Duration = Duration::from_secs(30);

/// The access key [`S3Server::env`] gives, in SigV4's form (moto reads the key, not the signature).
const DUMMY_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
     SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// A running moto server.
pub struct S3Server {
    proc: Proc,
    port: u16,
    _dir: TempDir,
}

impl S3Server {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` and waits (bounded) until it answers.
    /// Panics with what to install when `moto_server` is missing.
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_tcp_port();
        let mut command = Command::new("moto_server");
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        assert!(
            on_path("moto_server"),
            "moto_server is not on PATH (the S3 API server the blob tests use): install it with \
             `python3 -m pip install \"moto[server]\"` (`.ci/run` does)"
        );
        let mut proc = Proc::spawn("moto_server", command, &dir.path().join("moto.log"));
        let answered = eventually(START_BOUND, Duration::from_millis(100), || {
            if !proc.is_running() {
                return Some(Err(()));
            }
            request(port, "GET", "/", &[]).ok().map(|_| Ok(()))
        });
        match answered {
            Some(Ok(())) => {}
            Some(Err(())) => panic!("moto_server exited at start; its log:\n{}", proc.log()),
            None => panic!(
                "moto_server did not answer on 127.0.0.1:{port} within {START_BOUND:?}; its log:\n{}",
                proc.log()
            ),
        }
        S3Server {
            proc,
            port,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The `AWS_*` settings that reach this server (path-style, plain http, any credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Makes the bucket `name` (a plain `PUT /NAME`).
    pub fn create_bucket(&self, name: &str) {
        let (status, body) = self.call("PUT", &format!("/{name}"), &[]);
        assert_eq!(
            status,
            200,
            "creating bucket {name}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Writes `bytes` at `bucket/key` behind the back of the code under test.
    pub fn put_object(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let (status, body) = self.call("PUT", &format!("/{bucket}/{key}"), bytes);
        assert_eq!(
            status,
            200,
            "putting {bucket}/{key}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// The object's bytes, `None` when there is none.
    pub fn get_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self.call("GET", &format!("/{bucket}/{key}"), &[]) {
            (200, body) => Some(body),
            (404, _) => None,
            (status, body) => panic!(
                "getting {bucket}/{key}: {status} {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// The keys in `bucket` under `prefix` (one listing page: up to 1000).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (status, body) = self.call(
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}"),
            &[],
        );
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "listing {bucket}: {body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_string()))
            .collect()
    }

    fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        request(self.port, method, path, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path} to moto_server: {e}; its log:\n{}",
                self.proc.log()
            )
        })
    }
}

/// Whether an executable `name` is in one of `$PATH`'s folders.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// One HTTP/1.1 request to 127.0.0.1:`port` (connection closed after): status and body.
fn request(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(REQUEST_BOUND))?;
    stream.set_write_timeout(Some(REQUEST_BOUND))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n\
         Authorization: {DUMMY_AUTH}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok((status, body))
}

/// A chunked transfer-encoded body, decoded.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n").as_deref(),
            Some(&b"hello world"[..])
        );
        assert_eq!(dechunk(b"5\r\nhel"), None);
    }
}
