//! Folders made by `cdn_certs::bundle` (what `cdn-certs bundle` writes) are enough for a mutual
//! TLS handshake: a master from its bundle serves a client and a worker from theirs, and none of
//! the three folders holds the CA key.

use cdn_certs::{BundleOptions, InitOptions, Role};
use cdn_transport::{Client, Frame, FrameLimits, Handler, Identity, Peer, Server};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

struct WhoAmI;

impl Handler for WhoAmI {
    async fn handle(&self, peer: &Peer, _request: Frame) -> Frame {
        Frame::new(json!({ "peer": peer.to_string() }), Vec::new())
    }
}

fn bundle(dir: &Path, role: Role, name: Option<&str>, out: PathBuf) -> PathBuf {
    cdn_certs::bundle(&BundleOptions {
        dir: dir.to_path_buf(),
        role,
        name: name.map(str::to_string),
        out: out.clone(),
        force: false,
    })
    .expect("bundle");
    assert!(
        !out.join("ca.key").exists(),
        "{} holds ca.key",
        out.display()
    );
    assert_eq!(cdn_certs::ca_key_warning(&out), None);
    out
}

#[tokio::test]
async fn bundles_alone_are_enough_for_mutual_tls() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let tmp = tempfile::tempdir().expect("tempdir");
        let issuing = tmp.path().join("issuing");
        cdn_certs::init(&InitOptions {
            workers: vec!["w1".into()],
            ..InitOptions::new(&issuing)
        })
        .expect("init");
        assert!(cdn_certs::ca_key_warning(&issuing).is_some());
        let master = bundle(&issuing, Role::Master, None, tmp.path().join("master"));
        let client = bundle(&issuing, Role::Client, None, tmp.path().join("client"));
        let worker = bundle(&issuing, Role::Worker, Some("w1"), tmp.path().join("w1"));

        let identity = Identity::load(&master, Role::Master, None).expect("master from its bundle");
        let server = Arc::new(
            Server::bind(
                "127.0.0.1:0".parse().expect("addr"),
                &identity,
                FrameLimits::default(),
            )
            .expect("bind"),
        );
        let addr = server.local_addr().expect("local addr");
        let serving = server.clone();
        tokio::spawn(async move { serving.serve(Arc::new(WhoAmI)).await });

        for (folder, role, name, expected) in [
            (&client, Role::Client, None, "client/default"),
            (&worker, Role::Worker, Some("w1"), "worker/w1"),
        ] {
            let identity = Identity::load(folder, role, name).expect("identity from its bundle");
            let connection = Client::connect(addr, "localhost", &identity)
                .await
                .expect("handshake");
            let answer = connection
                .request(&Frame::default())
                .await
                .expect("answered");
            assert_eq!(answer.header.to_map()["peer"], expected);
            connection.close().await;
        }
        // The worker's bundle holds only the worker: it cannot act as the default client.
        assert!(Identity::load(&worker, Role::Client, None).is_err());
        server.close();
    })
    .await
    .expect("test took longer than 60 s");
}
