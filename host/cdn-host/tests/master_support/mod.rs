//! Shared by the `master_*` tests: certificates and a master in temporary folders, a real QUIC
//! server on 127.0.0.1 port 0, clients by role, typed calls, and a time bound on everything.

#![allow(dead_code)]

use cdn_certs::{InitOptions, Role};
use cdn_host::{Master, MasterConfig, Serving};
use cdn_proto::{parse_response, to_header, ProtoError, Request};
use cdn_transport::{Client, Frame, Identity};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

/// Every test body runs under this bound.
pub const BOUND: Duration = Duration::from_secs(60);

pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("test exceeded its time bound")
}

/// A CA with the default worker and client, plus workers `w1`, `w2`.
pub fn certs() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = InitOptions {
        workers: vec!["w1".into(), "w2".into()],
        ..InitOptions::new(dir.path())
    };
    cdn_certs::init(&options).expect("cdn-certs init");
    dir
}

pub struct Running {
    pub master: Master,
    pub serving: Serving,
    pub addr: SocketAddr,
}

pub async fn start(data: &Path, certs: &Path, config: MasterConfig) -> Running {
    let master = Master::open(data, config).expect("open master");
    let serving = master
        .serve("127.0.0.1:0".parse().expect("addr"), certs)
        .await
        .expect("serve");
    let addr = serving.local_addr();
    Running {
        master,
        serving,
        addr,
    }
}

pub async fn connect(certs: &Path, addr: SocketAddr, role: Role, name: Option<&str>) -> Client {
    let identity = Identity::load(certs, role, name).expect("identity");
    Client::connect(addr, "localhost", &identity)
        .await
        .expect("connect")
}

/// Sends `request` with `body`; the typed response and its body, or the master's error.
pub async fn call<T: DeserializeOwned>(
    client: &Client,
    request: &Request,
    body: Vec<u8>,
) -> Result<(T, Vec<u8>), ProtoError> {
    let frame = Frame {
        header: to_header(request).expect("request header"),
        body,
    };
    let response = client.request(&frame).await.expect("a response");
    let value = parse_response::<T>(&response.header)?;
    Ok((value, response.body))
}

/// The error kind of a call expected to fail.
pub async fn error_kind(client: &Client, request: &Request, body: Vec<u8>) -> (String, String) {
    match call::<serde_json::Value>(client, request, body).await {
        Ok((v, _)) => panic!("expected an error, got {v}"),
        Err(ProtoError::Remote { kind, message }) => (kind, message),
        Err(e) => panic!("unexpected: {e}"),
    }
}

/// A fake image (the master never decodes sources).
pub fn image(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}
