//! Shared by the master's tests: certificates and a master in temporary folders, a real QUIC
//! server on 127.0.0.1 port 0, clients by role, typed calls, and the time bound every test
//! shares (`cdn_testkit::BOUND`).

use cdn_certs::{InitOptions, Role};
use cdn_master::blobs::packed::PACK_FILE;
use cdn_master::{Master, MasterConfig, Serving};
use cdn_proto::{ContentHash, Params, ProtoError, Request};
use cdn_testkit::BOUND;
use cdn_transport::{CallError, Client, Identity};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

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
    pub data: PathBuf,
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
        data: data.to_path_buf(),
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
    match client.call(request, body).await {
        Ok(answer) => Ok(answer),
        Err(CallError::Refused { kind, message }) => Err(ProtoError::Remote { kind, message }),
        Err(e) => panic!("no answer to {}: {e}", request.op()),
    }
}

/// The error kind of a call expected to fail.
pub async fn error_kind(client: &Client, request: &Request, body: Vec<u8>) -> (String, String) {
    match call::<serde_json::Value>(client, request, body).await {
        Ok((v, _)) => panic!("expected an error, got {v}"),
        Err(ProtoError::Remote { kind, message }) => (kind, message),
        Err(e) => panic!("unexpected: {e}"),
    }
}

impl Running {
    /// Whether the blob store holds these bytes (looked up where the folder store keeps them:
    /// a row of its pack, or a file).
    pub fn has_blob(&self, bytes: &[u8]) -> bool {
        let hash = ContentHash::of(bytes);
        self.blob_file(&hash).is_file() || self.packed_rows(&hash) > 0
    }

    /// Removes the blob of these bytes behind the master's back (as a lost file would be).
    pub fn remove_blob(&self, bytes: &[u8]) {
        let hash = ContentHash::of(bytes);
        let file = self.blob_file(&hash);
        if file.is_file() {
            std::fs::remove_file(&file).expect("remove the blob's file");
        }
        self.pack()
            .execute(
                "DELETE FROM blobs WHERE hash = ?1",
                [hash.as_bytes().as_slice()],
            )
            .expect("remove the blob's row");
        assert!(!self.has_blob(bytes));
    }

    fn blob_file(&self, hash: &ContentHash) -> PathBuf {
        let blobs = self.data.join("blobs");
        blobs.join(hash.shard()).join(hash.to_hex())
    }

    fn pack(&self) -> rusqlite::Connection {
        let path = self.data.join("blobs").join(PACK_FILE);
        rusqlite::Connection::open(&path).expect("open the blob pack")
    }

    fn packed_rows(&self, hash: &ContentHash) -> i64 {
        if !self.data.join("blobs").join(PACK_FILE).is_file() {
            return 0; // blobs kept elsewhere (a bucket)
        }
        self.pack()
            .query_row(
                "SELECT count(*) FROM blobs WHERE hash = ?1",
                [hash.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .expect("look in the blob pack")
    }
}

/// A fake image (the master never decodes sources).
pub fn image(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// One page of `list` with the master's default size (every image in these small tests).
pub async fn list_images(
    client: &Client,
    status: Option<cdn_proto::Status>,
) -> cdn_proto::ListResponse {
    let request = Request::List {
        status,
        limit: None,
        after: None,
    };
    call(client, &request, vec![]).await.expect("list").0
}

/// A `register` of `id` with the thumbnail plugin and default params.
pub fn register(id: &str) -> Request {
    Request::Register {
        id: id.into(),
        plugin: "thumbnail".into(),
        params: Params::default(),
    }
}
