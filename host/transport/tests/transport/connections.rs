//! The transport over real QUIC sockets on loopback: round trips, mutual-TLS refusals, peer
//! identity, and malformed frames. Every test is bounded in time.

use cdn_certs::{Ca, InitOptions, LeafSpec, Role};
use cdn_transport::tls::anonymous_client_config;
use cdn_transport::{
    Client, ClientError, Frame, FrameLimits, Handler, Identity, Peer, Refusal, Server,
};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// Echoes the request back, with the peer identity the server read from the certificate.
struct Echo;

impl Handler for Echo {
    async fn handle(&self, peer: &Peer, request: Frame) -> Frame {
        if request.header.get("op").as_ref().and_then(|op| op.as_str()) == Some("panic") {
            panic!("the handler was asked to panic");
        }
        Frame::new(
            json!({ "peer_role": peer.role.as_str(), "peer_name": peer.name, "echo": request.header.to_map() }),
            request.body,
        )
    }
}

fn certs(workers: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    cdn_certs::init(&InitOptions {
        workers: workers.iter().map(|w| w.to_string()).collect(),
        ..InitOptions::new(dir.path())
    })
    .expect("cdn-certs init");
    dir
}

async fn start_server(dir: &Path) -> (Arc<Server>, SocketAddr) {
    let identity = Identity::load(dir, Role::Master, None).expect("master identity");
    let server = Arc::new(
        Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            &identity,
            FrameLimits::default(),
        )
        .expect("bind"),
    );
    let addr = server.local_addr().expect("local addr");
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(Arc::new(Echo)).await });
    (server, addr)
}

async fn client(dir: &Path, addr: SocketAddr) -> Client {
    let identity = Identity::load(dir, Role::Client, None).expect("client identity");
    Client::connect(addr, "localhost", &identity)
        .await
        .expect("connect")
}

/// Runs a test body with a time bound.
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("test took longer than 60 s");
}

/// A request's error, whether it failed at connect or at the first response.
async fn first_request_error(
    addr: SocketAddr,
    name: &str,
    config: quinn::ClientConfig,
) -> ClientError {
    match Client::connect_with(addr, name, config).await {
        Err(e) => e,
        Ok(client) => match client
            .request(&Frame::new(json!({"op": "ping"}), Vec::new()))
            .await
        {
            Err(e) => e,
            Ok(frame) => panic!("the request was answered: {:?}", frame.header),
        },
    }
}

#[tokio::test]
async fn round_trip_with_bodies_of_0_1_and_20_mb() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let client = client(dir.path(), addr).await;
        for size in [0usize, 1, 20 << 20] {
            let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let response = client
                .request(&Frame::new(
                    json!({"op": "echo", "size": size}),
                    body.clone(),
                ))
                .await
                .expect("response");
            assert_eq!(response.header.to_map()["echo"]["size"], json!(size));
            assert_eq!(response.body.len(), size);
            assert!(
                response.body == body,
                "body of {size} bytes came back changed"
            );
        }
        assert_eq!(client.peer().map(|p| p.role), Some(Role::Master));
        client.close().await;
        server.close();
    })
    .await;
}

#[tokio::test]
async fn the_certificate_decides_role_and_name_not_the_header() {
    bounded(async {
        let dir = certs(&["w1"]);
        let (server, addr) = start_server(dir.path()).await;
        let identity = Identity::load(dir.path(), Role::Worker, Some("w1")).expect("worker w1");
        let client = Client::connect(addr, "localhost", &identity)
            .await
            .expect("connect");
        let response = client
            .request(&Frame::new(
                json!({"op": "register", "role": "master", "name": "evil", "peer_role": "master"}),
                Vec::new(),
            ))
            .await
            .expect("response");
        assert_eq!(response.header.to_map()["peer_role"], "worker");
        assert_eq!(response.header.to_map()["peer_name"], "w1");
        server.close();
    })
    .await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let config = anonymous_client_config(&dir.path().join("ca.pem")).expect("config");
        let error = first_request_error(addr, "localhost", config).await;
        assert_eq!(
            error.refusal(),
            Some(Refusal::NoClientCertificate),
            "{error}"
        );
        assert!(matches!(error, ClientError::Refused { by_peer: true, .. }));
        assert!(
            error.to_string().contains("no client certificate"),
            "{error}"
        );
        // The server still serves good clients.
        let ok = client(dir.path(), addr).await;
        ok.request(&Frame::default())
            .await
            .expect("served after a refusal");
        server.close();
    })
    .await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    bounded(async {
        let dir = certs(&[]);
        let other = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        // Trusts the right CA (so it accepts the master) but presents a foreign certificate.
        let identity = Identity::from_files(
            &dir.path().join("ca.pem"),
            &other.path().join("client.pem"),
            &other.path().join("client.key"),
        )
        .expect("identity");
        let error = first_request_error(addr, "localhost", identity.client_config().unwrap()).await;
        assert_eq!(error.refusal(), Some(Refusal::UnknownCa), "{error}");
        assert!(matches!(error, ClientError::Refused { by_peer: true, .. }));
        assert!(error.to_string().contains("unknown CA"), "{error}");
        server.close();
    })
    .await;
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let ca = Ca::load(dir.path()).expect("ca");
        let mut spec = LeafSpec::new(Role::Client, "old");
        let now = time::OffsetDateTime::now_utc();
        spec.not_before = now - time::Duration::days(30);
        spec.not_after = now - time::Duration::days(1);
        ca.sign(&spec)
            .expect("sign")
            .write(dir.path(), Role::Client, "old")
            .expect("write");
        let identity = Identity::load(dir.path(), Role::Client, Some("old")).expect("identity");
        let error = first_request_error(addr, "localhost", identity.client_config().unwrap()).await;
        assert_eq!(
            error.refusal(),
            Some(Refusal::CertificateExpired),
            "{error}"
        );
        assert!(matches!(error, ClientError::Refused { by_peer: true, .. }));
        assert!(error.to_string().contains("certificate expired"), "{error}");
        server.close();
    })
    .await;
}

#[tokio::test]
async fn a_server_whose_certificate_does_not_match_the_name_is_refused() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let identity = Identity::load(dir.path(), Role::Client, None).expect("identity");
        let error =
            first_request_error(addr, "wrong.example", identity.client_config().unwrap()).await;
        assert_eq!(
            error.refusal(),
            Some(Refusal::ServerNameMismatch),
            "{error}"
        );
        assert!(matches!(error, ClientError::Refused { by_peer: false, .. }));
        assert!(
            error.to_string().contains("server name mismatch"),
            "{error}"
        );
        server.close();
    })
    .await;
}

/// A QUIC connection of the test's own (not a `Client`), to send bytes no client would.
async fn raw_connection(dir: &Path, addr: SocketAddr) -> quinn::Connection {
    let identity = Identity::load(dir, Role::Client, None).expect("client identity");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client endpoint");
    endpoint.set_default_client_config(identity.client_config().expect("client config"));
    endpoint
        .connect(addr, "localhost")
        .expect("connect")
        .await
        .expect("handshake")
}

/// Sends `bytes` as a request on a new stream of `connection` and reads the response frame.
async fn raw_request(connection: &quinn::Connection, bytes: &[u8]) -> Frame {
    let (mut send, mut recv) = connection.open_bi().await.expect("open a stream");
    // The server may stop reading early; its response is what counts.
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    cdn_transport::frame::read(&mut recv, FrameLimits::default())
        .await
        .expect("a response frame")
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_connection_keeps_serving() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let connection = raw_connection(dir.path(), addr).await;
        let framed = |header: &str, body: &[u8]| {
            let mut bytes = (header.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(body);
            bytes
        };
        let mut truncated_header = 100u32.to_be_bytes().to_vec();
        truncated_header.extend_from_slice(b"{\"body_le");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("header_too_large", u32::MAX.to_be_bytes().to_vec()),
            ("truncated_header", truncated_header),
            ("invalid_json", framed("{not json", b"")),
            ("header_not_object", framed("[1,2]", b"")),
            ("bad_body_len", framed(r#"{"op":"x"}"#, b"")),
            ("truncated_body", framed(r#"{"body_len":100}"#, &[7u8; 10])),
            (
                "body_too_large",
                framed(r#"{"body_len":1099511627776}"#, b""),
            ),
            ("trailing_bytes", framed(r#"{"body_len":2}"#, b"abcdef")),
            // Over the cap, and the bytes really follow: the server stops reading early.
            (
                "body_too_large",
                framed(r#"{"body_len":67108865}"#, &vec![1u8; 1 << 20]),
            ),
        ];
        for (kind, bytes) in cases {
            let response = raw_request(&connection, &bytes).await;
            let (got, message) = response.as_error().expect("an error frame");
            assert_eq!(got, kind, "{message}");
            assert!(!message.is_empty());
            // The same connection still serves a good request.
            let good = Frame::new(json!({"after": kind}), b"ok".to_vec()).encode();
            let ok = raw_request(&connection, &good).await;
            assert_eq!(ok.body, b"ok", "served after a bad frame");
        }
        // And the server takes new connections.
        let other = self::client(dir.path(), addr).await;
        other
            .request(&Frame::default())
            .await
            .expect("new connection served");
        server.close();
    })
    .await;
}

#[tokio::test]
async fn missing_certificate_files_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = Identity::load(dir.path(), Role::Worker, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("ca.pem is missing"), "{error}");
    assert!(error.contains("cdn-certs init"), "{error}");
    let error = Identity::load(dir.path(), Role::Worker, Some("../x"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("invalid name"), "{error}");
}

#[tokio::test]
async fn a_body_over_the_cap_through_the_api_gets_an_error_frame() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let client = client(dir.path(), addr).await;
        // One byte over 64 MiB: the server refuses it from the header and stops the stream; the
        // client's write fails, and it still reads the server's answer.
        let response = client
            .request(&Frame::new(
                json!({"op": "upload"}),
                vec![0u8; (64 << 20) + 1],
            ))
            .await
            .expect("an error response");
        assert_eq!(
            response.as_error().map(|(kind, _)| kind).as_deref(),
            Some("body_too_large")
        );
        let ok = client
            .request(&Frame::new(json!({"op": "after"}), vec![2u8; 3]))
            .await
            .expect("served after");
        assert_eq!(ok.body, vec![2u8; 3]);
        server.close();
    })
    .await;
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_server_carries_on() {
    bounded(async {
        let dir = certs(&[]);
        let (server, addr) = start_server(dir.path()).await;
        let client = client(dir.path(), addr).await;
        let response = client
            .request(&Frame::new(json!({"op": "panic"}), Vec::new()))
            .await
            .expect("a response");
        assert_eq!(
            response.as_error().map(|(kind, _)| kind).as_deref(),
            Some("internal")
        );
        client
            .request(&Frame::default())
            .await
            .expect("served after a panic");
        server.close();
    })
    .await;
}

#[tokio::test]
async fn a_request_that_never_completes_times_out_with_an_error_frame() {
    bounded(async {
        let dir = certs(&[]);
        let identity = Identity::load(dir.path(), Role::Master, None).expect("master identity");
        let server = Arc::new(
            Server::bind(
                "127.0.0.1:0".parse().expect("addr"),
                &identity,
                FrameLimits::default(),
            )
            .expect("bind")
            .with_read_timeout(Duration::from_millis(300)),
        );
        let addr = server.local_addr().expect("local addr");
        let serving = server.clone();
        tokio::spawn(async move { serving.serve(Arc::new(Echo)).await });

        let config = Identity::load(dir.path(), Role::Client, None)
            .expect("client identity")
            .client_config()
            .expect("config");
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("ep");
        let connection = endpoint
            .connect_with(config, addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        // Half a header, then silence (the stream stays open).
        send.write_all(&100u32.to_be_bytes()).await.expect("write");
        let response = cdn_transport::frame::read(&mut recv, FrameLimits::default())
            .await
            .expect("an error frame");
        assert_eq!(
            response.as_error().map(|(kind, _)| kind).as_deref(),
            Some("timeout")
        );
        connection.close(0u32.into(), b"done");
        server.close();
    })
    .await;
}

#[test]
fn encoded_headers_carry_body_len() {
    let frame = Frame::new(json!({"id": "img_100", "width": 256}), b"jpeg".to_vec());
    let bytes = frame.encode();
    let header_len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[4..4 + header_len]).expect("json");
    assert_eq!(header["body_len"], json!(4));
    assert_eq!(header["id"], json!("img_100"));
    assert_eq!(&bytes[4 + header_len..], b"jpeg");
}
