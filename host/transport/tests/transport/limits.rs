//! The server's caps over real QUIC on loopback, each exceeded by one peer while another is
//! still served: requests open at once per connection, connections per identity, and the
//! request-body budget across connections. Every test is bounded in time.

use cdn_certs::{InitOptions, Role};
use cdn_transport::{
    Client, ClientError, Frame, FrameLimits, Handler, Identity, Peer, Server, ServerLimits,
};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::watch;

const MIB: usize = 1 << 20;

/// Answers at once, except `{"op": "hold"}`, which waits until the test opens the gate (so its
/// stream and its body stay in use). Every answer says who asked and how big the body was.
struct Gate {
    held: AtomicUsize,
    open: watch::Receiver<bool>,
}

impl Handler for Gate {
    async fn handle(&self, peer: &Peer, request: Frame) -> Frame {
        let op = request
            .header
            .get("op")
            .as_ref()
            .and_then(|op| op.as_str())
            .unwrap_or("")
            .to_string();
        if op == "hold" {
            self.held.fetch_add(1, Ordering::SeqCst);
            let mut open = self.open.clone();
            let _ = open.wait_for(|open| *open).await;
        }
        Frame::new(
            json!({ "op": op, "peer": peer.to_string(), "got": request.body.len() }),
            Vec::new(),
        )
    }
}

struct Running {
    server: Arc<Server>,
    addr: SocketAddr,
    gate: Arc<Gate>,
    open: watch::Sender<bool>,
    _certs: TempDir,
    dir: std::path::PathBuf,
}

impl Running {
    async fn start(frames: FrameLimits, limits: ServerLimits) -> Running {
        let certs = tempfile::tempdir().expect("tempdir");
        cdn_certs::init(&InitOptions {
            workers: vec!["w1".into()],
            clients: vec!["alice".into()],
            ..InitOptions::new(certs.path())
        })
        .expect("cdn-certs init");
        let identity = Identity::load(certs.path(), Role::Master, None).expect("master identity");
        let server = Arc::new(
            Server::bind_with(
                "127.0.0.1:0".parse().expect("addr"),
                &identity,
                frames,
                limits,
            )
            .expect("bind"),
        );
        let addr = server.local_addr().expect("local addr");
        let (open, gate_open) = watch::channel(false);
        let gate = Arc::new(Gate {
            held: AtomicUsize::new(0),
            open: gate_open,
        });
        let serving = server.clone();
        let handler = gate.clone();
        tokio::spawn(async move { serving.serve(handler).await });
        Running {
            server,
            addr,
            gate,
            open,
            dir: certs.path().to_path_buf(),
            _certs: certs,
        }
    }

    async fn connect(&self, role: Role, name: Option<&str>) -> Result<Client, ClientError> {
        let identity = Identity::load(&self.dir, role, name).expect("identity");
        Client::connect(self.addr, "localhost", &identity).await
    }

    async fn client(&self, role: Role, name: Option<&str>) -> Client {
        self.connect(role, name).await.expect("connect")
    }

    fn held(&self) -> usize {
        self.gate.held.load(Ordering::SeqCst)
    }

    fn release(&self) {
        self.open.send_replace(true);
    }
}

fn request(op: &str, body: usize) -> Frame {
    Frame::new(json!({ "op": op }), vec![7u8; body])
}

/// Runs a test body with a time bound.
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("test took longer than 60 s");
}

/// Polls `done` every 10 ms until it is true, for at most 10 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A worker on its own connection is answered promptly.
async fn worker_is_served(running: &Running) {
    let worker = running.client(Role::Worker, Some("w1")).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), worker.request(&request("ping", 0)))
        .await
        .expect("the other peer was answered within 5 s")
        .expect("a response");
    assert_eq!(answer.header.to_map()["peer"], "worker/w1");
    worker.close().await;
}

/// One connection asks for `limit + 1` held requests at once: `limit` reach the handler, the
/// last waits (nothing fails) until one is answered, and another peer is served meanwhile.
async fn one_request_over_the_stream_cap_waits(limits: ServerLimits) {
    let limit = limits.max_streams_per_conn as usize;
    let running = Running::start(FrameLimits::default(), limits).await;
    let client = Arc::new(running.client(Role::Client, None).await);
    let requests: Vec<_> = (0..=limit)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.request(&request("hold", 0)).await })
        })
        .collect();
    eventually(&format!("{limit} requests are held"), || {
        running.held() == limit
    })
    .await;
    // Time for one more to arrive, if the cap let it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        running.held(),
        limit,
        "a request over the cap reached the handler"
    );
    assert!(requests.iter().all(|r| !r.is_finished()));

    worker_is_served(&running).await;

    running.release();
    for answer in requests {
        let answer = answer
            .await
            .expect("join")
            .expect("every request is answered");
        assert_eq!(answer.header.to_map()["op"], "hold");
    }
    assert_eq!(running.held(), limit + 1);
    running.server.close();
}

#[tokio::test]
async fn by_default_a_connection_has_at_most_32_requests_open() {
    bounded(async {
        assert_eq!(ServerLimits::default().max_streams_per_conn, 32);
        one_request_over_the_stream_cap_waits(ServerLimits::default()).await;
    })
    .await;
}

#[tokio::test]
async fn the_stream_cap_is_configurable() {
    bounded(async {
        one_request_over_the_stream_cap_waits(ServerLimits {
            max_streams_per_conn: 3,
            ..ServerLimits::default()
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn one_connection_over_the_identity_cap_is_closed_with_a_reason() {
    bounded(async {
        let running = Running::start(FrameLimits::default(), ServerLimits::default()).await;
        let limit = running.server.limits().max_conns_per_identity;
        assert_eq!(limit, 8);
        let me = Peer {
            role: Role::Client,
            name: "default".into(),
        };
        let mut open = Vec::new();
        for _ in 0..limit {
            let client = running.client(Role::Client, None).await;
            client
                .request(&request("ping", 0))
                .await
                .expect("within the cap");
            open.push(client);
        }
        assert_eq!(running.server.connections_of(&me), limit);

        // One more of the same identity: refused, at connect or at its first request.
        let error = match running.connect(Role::Client, None).await {
            Err(e) => e,
            Ok(extra) => extra
                .request(&request("ping", 0))
                .await
                .expect_err("a connection over the cap is not served"),
        };
        assert!(
            matches!(error, ClientError::TooManyConnections { .. }),
            "{error:?}"
        );
        let shown = error.to_string();
        assert!(
            shown.contains("too many connections for client/default (at most 8 at once)"),
            "{shown}"
        );
        assert_eq!(
            running.server.connections_of(&me),
            limit,
            "the refused one is not counted"
        );

        // Other identities are not affected.
        worker_is_served(&running).await;
        let alice = running.client(Role::Client, Some("alice")).await;
        alice
            .request(&request("ping", 0))
            .await
            .expect("alice served");

        // A closed connection frees its slot.
        let first = open.remove(0);
        first.close().await;
        eventually("the server sees the close", || {
            running.server.connections_of(&me) < limit
        })
        .await;
        let again = running.client(Role::Client, None).await;
        let answer = again
            .request(&request("ping", 0))
            .await
            .expect("served again");
        assert_eq!(answer.header.to_map()["peer"], "client/default");
        running.server.close();
    })
    .await;
}

#[tokio::test]
async fn a_body_over_the_budget_waits_then_is_answered_busy() {
    bounded(async {
        let wait = Duration::from_secs(3);
        let frames = FrameLimits {
            max_body: 4 * MIB as u64,
            ..FrameLimits::default()
        };
        let running = Running::start(
            frames,
            ServerLimits {
                body_budget: 4 * MIB as u64,
                budget_wait: wait,
                ..ServerLimits::default()
            },
        )
        .await;
        // The client's 3 MiB body is held by its handler: 3 of the 4 MiB are in use.
        let client = Arc::new(running.client(Role::Client, None).await);
        let holding = {
            let client = client.clone();
            tokio::spawn(async move { client.request(&request("hold", 3 * MIB)).await })
        };
        eventually("the first body is held", || running.held() == 1).await;
        assert_eq!(running.server.body_budget_in_use(), 3 * MIB as u64);

        // The worker's 3 MiB cannot get its budget: it waits...
        let worker = Arc::new(running.client(Role::Worker, Some("w1")).await);
        let started = Instant::now();
        let over = {
            let worker = worker.clone();
            tokio::spawn(async move { worker.request(&request("put", 3 * MIB)).await })
        };
        // ...while a request without a body, from another peer, is served.
        let alice = running.client(Role::Client, Some("alice")).await;
        alice
            .request(&request("ping", 0))
            .await
            .expect("alice served");
        assert!(!over.is_finished(), "the body over the budget waits");

        // ...and is answered `busy` once it has waited `wait`.
        let answer = over.await.expect("join").expect("an error frame");
        let (kind, message) = answer.as_error().expect("an error frame");
        assert_eq!(kind, "busy", "{message}");
        assert!(message.contains("budget"), "{message}");
        assert!(
            started.elapsed() >= wait,
            "answered after {:?}",
            started.elapsed()
        );
        assert_eq!(
            running.server.body_budget_in_use(),
            3 * MIB as u64,
            "the refused body gave its part back"
        );

        // The same again, but the held body is let go while the other waits: it gets through.
        let waiting = {
            let worker = worker.clone();
            tokio::spawn(async move { worker.request(&request("put", 3 * MIB)).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished());
        running.release();
        let held = holding.await.expect("join").expect("held request answered");
        assert_eq!(held.header.to_map()["got"], 3 * MIB);
        let put = waiting
            .await
            .expect("join")
            .expect("the waiting body got through");
        assert_eq!(put.as_error(), None);
        assert_eq!(put.header.to_map()["got"], 3 * MIB);
        eventually("all budget is back", || {
            running.server.body_budget_in_use() == 0
        })
        .await;
        running.server.close();
    })
    .await;
}

#[tokio::test]
async fn a_body_budget_below_the_largest_body_is_raised_and_zero_caps_are_refused() {
    let certs = tempfile::tempdir().expect("tempdir");
    cdn_certs::init(&InitOptions::new(certs.path())).expect("init");
    let identity = Identity::load(certs.path(), Role::Master, None).expect("identity");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Server::bind_with(
        addr,
        &identity,
        FrameLimits::default(),
        ServerLimits {
            body_budget: 1,
            ..ServerLimits::default()
        },
    )
    .expect("bind");
    assert_eq!(server.limits().body_budget, FrameLimits::default().max_body);
    for limits in [
        ServerLimits {
            max_streams_per_conn: 0,
            ..ServerLimits::default()
        },
        ServerLimits {
            max_conns_per_identity: 0,
            ..ServerLimits::default()
        },
    ] {
        let error = Server::bind_with(addr, &identity, FrameLimits::default(), limits)
            .err()
            .expect("refused");
        assert!(error.to_string().contains("at least 1"), "{error}");
    }
}
