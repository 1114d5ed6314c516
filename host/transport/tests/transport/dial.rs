//! [`Dialer`]: the first of several masters that answers wins; a silent one costs the stagger,
//! not the connect timeout; a refusal moves on at once; none answering names every address.

use cdn_certs::{InitOptions, Role};
use cdn_common::MasterList;
use cdn_transport::{ClientError, Dialer, Frame, FrameLimits, Handler, Identity, Peer, Server};
use cdn_transport::{NoMaster, CONNECT_STAGGER};
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

struct Hello;

impl Handler for Hello {
    async fn handle(&self, _peer: &Peer, _request: Frame) -> Frame {
        Frame::new(json!({ "hello": true }), Vec::new())
    }
}

fn certs() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    cdn_certs::init(&InitOptions::new(dir.path())).expect("cdn-certs init");
    dir
}

async fn master(dir: &Path) -> (Arc<Server>, String) {
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
    tokio::spawn(async move { serving.serve(Arc::new(Hello)).await });
    (server, addr.to_string())
}

/// A UDP socket that takes packets and never answers: a master that is down or cut off.
fn black_hole() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = socket.local_addr().expect("local addr");
    (socket, addr.to_string())
}

fn dialer(dir: &Path, masters: &[&str], timeout: Duration) -> Dialer {
    let identity = Identity::load(dir, Role::Client, None).expect("client identity");
    let list = MasterList::parse(&masters.join(",")).expect("master list");
    Dialer::new(list, &identity, timeout).expect("dialer")
}

async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("test took longer than 60 s");
}

#[tokio::test]
async fn a_silent_first_master_costs_the_stagger_not_the_connect_timeout() {
    bounded(async {
        let dir = certs();
        let (_hole, dead) = black_hole();
        let (server, live) = master(dir.path()).await;
        let dialer = dialer(dir.path(), &[&dead, &live], Duration::from_secs(30));
        let started = Instant::now();
        let connected = dialer.connect(0).await.expect("connected");
        let took = started.elapsed();
        assert_eq!(
            (connected.index, connected.master.as_str()),
            (1, live.as_str())
        );
        assert!(took >= CONNECT_STAGGER, "{took:?}");
        assert!(took < CONNECT_STAGGER * 4, "{took:?}");
        let answer = connected
            .client
            .request(&Frame::new(json!({"op": "ping"}), Vec::new()))
            .await
            .expect("answer");
        assert_eq!(answer.header.to_map()["hello"], true);
        connected.client.close().await;
        server.close();
    })
    .await;
}

#[tokio::test]
async fn the_preferred_master_wins_when_it_answers() {
    bounded(async {
        let dir = certs();
        let (a, first) = master(dir.path()).await;
        let (b, second) = master(dir.path()).await;
        let dialer = dialer(dir.path(), &[&first, &second], Duration::from_secs(30));
        for (start, index, addr) in [(0, 0, &first), (1, 1, &second), (2, 0, &first)] {
            let connected = dialer.connect(start).await.expect("connected");
            assert_eq!(connected.index, index, "start {start}");
            assert_eq!(&connected.master, addr);
            assert!(connected.failed.is_empty());
            assert!(!connected.client.is_closed());
            connected.client.close().await;
        }
        a.close();
        b.close();
    })
    .await;
}

#[tokio::test]
async fn a_refusing_master_is_passed_at_once_and_said_why() {
    bounded(async {
        let ours = certs();
        let theirs = certs();
        let (a, other_ca) = master(theirs.path()).await;
        let (b, live) = master(ours.path()).await;
        let dialer = dialer(ours.path(), &[&other_ca, &live], Duration::from_secs(30));
        let started = Instant::now();
        let connected = dialer.connect(0).await.expect("connected");
        assert_eq!(connected.index, 1);
        assert!(
            started.elapsed() < CONNECT_STAGGER,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(connected.failed.len(), 1);
        assert_eq!(connected.failed[0].master, other_ca);
        assert!(
            matches!(connected.failed[0].error, ClientError::Refused { .. }),
            "{:?}",
            connected.failed[0].error
        );
        connected.client.close().await;

        // Only refusals: retrying will not help.
        let refused = dialer_of(ours.path(), &other_ca).connect(0).await.err();
        let refused = refused.expect("refused");
        assert!(!refused.retrying_may_help(), "{refused}");
        a.close();
        b.close();
    })
    .await;
}

fn dialer_of(dir: &Path, master: &str) -> Dialer {
    dialer(dir, &[master], Duration::from_secs(30))
}

#[tokio::test]
async fn none_answering_names_every_master_and_why() {
    bounded(async {
        let dir = certs();
        let (_h1, first) = black_hole();
        let (_h2, second) = black_hole();
        let both = dialer(dir.path(), &[&first, &second], Duration::from_secs(1));
        let started = Instant::now();
        let no_master: NoMaster = match both.connect(0).await {
            Ok(c) => panic!("connected to {}", c.master),
            Err(e) => e,
        };
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(no_master.retrying_may_help());
        let text = no_master.to_string();
        assert!(
            text.starts_with("cannot connect to any of the 2 masters: "),
            "{text}"
        );
        let (at_first, at_second) = (
            text.find(&format!("{first}: no answer within 1 s")),
            text.find(&format!("{second}: no answer within 1 s")),
        );
        assert!(at_first.is_some() && at_second.is_some(), "{text}");
        assert!(at_first < at_second, "tried in order: {text}");

        // One master: the message of a single connection.
        let one = dialer(dir.path(), &[&first], Duration::from_secs(1));
        let text = one.connect(0).await.err().expect("no master").to_string();
        assert!(
            text.starts_with(&format!("cannot connect to the master at {first}: ")),
            "{text}"
        );
    })
    .await;
}
