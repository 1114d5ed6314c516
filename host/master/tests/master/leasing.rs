//! Leases over real QUIC: long poll, complete and fetch, stale completions after expiry,
//! retryable and final failures, a master restart, and the cap on leases per worker.

use crate::support::*;
use cdn_certs::Role;
use cdn_master::blobs::packed::PACK_FILE;
use cdn_master::MasterConfig;
use cdn_proto::ContentHash;
use cdn_proto::{
    CompleteResponse, ExtendResponse, FailResponse, ImageView, LeaseGrant, LeaseResponse, Params,
    RegisterResponse, Request, StatsResponse, Status,
};
use cdn_transport::Client;
use std::time::{Duration, Instant};

async fn lease(worker: &Client, wait_ms: u64) -> Option<(LeaseGrant, Vec<u8>)> {
    let (r, body) = call::<LeaseResponse>(worker, &Request::Lease { wait_ms, max: 1 }, vec![])
        .await
        .expect("lease");
    r.lease.map(|g| (g, body))
}

async fn query(client: &Client, id: &str) -> ImageView {
    call::<ImageView>(client, &Request::Query { id: id.into() }, vec![])
        .await
        .expect("query")
        .0
}

fn complete(grant: &LeaseGrant) -> Request {
    Request::Complete {
        image_id: grant.image_id.clone(),
        token: grant.token,
        width: 256,
        height: 170,
        format: "jpeg".into(),
    }
}

#[tokio::test]
async fn long_poll_lease_complete_fetch() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;

        // Nothing to do: the poll is held for its wait, then answers no lease.
        let started = Instant::now();
        assert!(lease(&worker, 300).await.is_none());
        assert!(started.elapsed() >= Duration::from_millis(250));

        // A poll waiting when a registration arrives returns with it, long before its wait.
        let started = Instant::now();
        let poll = tokio::spawn(async move {
            let got = lease(&worker, 15_000).await;
            (worker, got)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let source = image(7, 4000);
        call::<RegisterResponse>(&client, &register("cat.jpg"), source.clone())
            .await
            .expect("register");
        let (worker, got) = poll.await.expect("poll task");
        assert!(started.elapsed() < Duration::from_secs(10));
        let (grant, body) = got.expect("a lease");
        assert_eq!(grant.image_id, "cat.jpg");
        assert_eq!(body, source);
        assert_eq!(grant.source_hash, ContentHash::of(&source));
        assert_eq!(grant.args, Params::default().to_args());
        assert_eq!(grant.attempt, 1);
        assert_eq!(grant.plugin_name, "thumbnail");

        let (stats, _) = call::<StatsResponse>(&client, &Request::Stats, vec![])
            .await
            .expect("stats");
        assert_eq!(stats.counts.leased, 1);
        assert_eq!(stats.workers_connected, 1);
        let leased = query(&client, "cat.jpg").await;
        assert_eq!(leased.status, Status::Leased);
        assert_eq!(leased.lease.as_ref().map(|l| l.worker.as_str()), Some("w1"));

        let (extended, _) = call::<ExtendResponse>(
            &worker,
            &Request::Extend {
                image_id: grant.image_id.clone(),
                token: grant.token,
            },
            vec![],
        )
        .await
        .expect("extend");
        assert!(extended.deadline_ms >= grant.deadline_ms);

        // Another worker cannot complete w1's lease, even with its token.
        let w2 = connect(certs.path(), m.addr, Role::Worker, Some("w2")).await;
        let (kind, _) = error_kind(&w2, &complete(&grant), b"x".to_vec()).await;
        assert_eq!(kind, "stale");

        let thumb = image(9, 777);
        call::<CompleteResponse>(&worker, &complete(&grant), thumb.clone())
            .await
            .expect("complete");

        let done = query(&client, "cat.jpg").await;
        assert_eq!(done.status, Status::Done);
        assert_eq!(done.made_by.as_deref(), Some("w1"));
        let t = done.thumbnail.expect("thumbnail info");
        assert_eq!(
            (t.size, t.width, t.height, t.format.as_str()),
            (777, 256, 170, "jpeg")
        );
        assert_eq!(t.hash, ContentHash::of(&thumb));
        // A small thumbnail is a row of the blob folder's pack: its file, and the hash.
        let pack = m.data.join("blobs").join(PACK_FILE);
        let pack = std::fs::canonicalize(pack).expect("the pack");
        assert_eq!(t.location, format!("file://{}#{}", pack.display(), t.hash));
        assert!(m.has_blob(&thumb));

        let (view, bytes) = call::<ImageView>(
            &client,
            &Request::Fetch {
                id: "cat.jpg".into(),
            },
            vec![],
        )
        .await
        .expect("fetch");
        assert_eq!(view.status, Status::Done);
        assert_eq!(bytes, thumb);

        // Completing twice is stale.
        let (kind, _) = error_kind(&worker, &complete(&grant), thumb.clone()).await;
        assert_eq!(kind, "stale");
        for c in [client, worker, w2] {
            c.close().await;
        }
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn stale_completion_after_expiry_is_refused() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let config = MasterConfig {
            lease_ttl: Duration::from_millis(300),
            expiry_interval: Duration::from_millis(100),
            ..MasterConfig::default()
        };
        let m = start(data.path(), certs.path(), config).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let w1 = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        let w2 = connect(certs.path(), m.addr, Role::Worker, Some("w2")).await;
        call::<RegisterResponse>(&client, &register("a"), image(1, 100))
            .await
            .expect("register");
        let (first, _) = lease(&w1, 1000).await.expect("first lease");

        // w2 waits; the expiry task returns the image and wakes it.
        let (second, _) = lease(&w2, 10_000).await.expect("second lease after expiry");
        assert_eq!(second.image_id, "a");
        assert!(second.token > first.token);
        assert_eq!(
            second.attempt, 1,
            "the first lease was never extended: no attempt spent"
        );
        let view = query(&client, "a").await;
        assert_eq!(view.status, Status::Leased);
        assert_eq!(
            view.last_error.as_ref().map(|e| e.kind.as_str()),
            Some("lease_expired")
        );

        let late = image(42, 500);
        let (kind, _) = error_kind(&w1, &complete(&first), late.clone()).await;
        assert_eq!(kind, "stale");
        assert!(!m.has_blob(&late));
        let extend_old = Request::Extend {
            image_id: "a".into(),
            token: first.token,
        };
        assert_eq!(error_kind(&w1, &extend_old, vec![]).await.0, "stale");
        let view = query(&client, "a").await;
        assert_eq!(view.status, Status::Leased);
        assert!(view.thumbnail.is_none());

        let good = image(43, 500);
        call::<CompleteResponse>(&w2, &complete(&second), good.clone())
            .await
            .expect("current lease completes");
        let (_, bytes) = call::<ImageView>(&client, &Request::Fetch { id: "a".into() }, vec![])
            .await
            .expect("fetch");
        assert_eq!(bytes, good);
        for c in [client, w1, w2] {
            c.close().await;
        }
        m.serving.shutdown().await;
    })
    .await;
}

fn fail(grant: &LeaseGrant, retryable: bool, message: &str) -> Request {
    Request::Fail {
        image_id: grant.image_id.clone(),
        token: grant.token,
        kind: if retryable { "trap" } else { "plugin" }.into(),
        message: message.into(),
        retryable,
        attempted: true,
    }
}

#[tokio::test]
async fn retryable_failure_requeues_and_final_failure_fails() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, None).await;
        call::<RegisterResponse>(&client, &register("a"), image(1, 100))
            .await
            .expect("register");

        let (first, _) = lease(&worker, 1000).await.expect("lease");
        let (r, _) = call::<FailResponse>(&worker, &fail(&first, true, "wasm trap"), vec![])
            .await
            .expect("fail");
        assert_eq!(r.status, Status::Pending);
        let view = query(&client, "a").await;
        assert_eq!(view.status, Status::Pending);
        assert_eq!(view.attempts, 1);
        assert_eq!(
            view.last_error.as_ref().map(|e| e.message.as_str()),
            Some("wasm trap")
        );
        assert_eq!(
            error_kind(&worker, &fail(&first, true, "again"), vec![])
                .await
                .0,
            "stale"
        );

        let (second, _) = lease(&worker, 1000).await.expect("leased again");
        assert_eq!(second.attempt, 2);
        let (r, _) = call::<FailResponse>(
            &worker,
            &fail(&second, false, "not an image: unknown format"),
            vec![],
        )
        .await
        .expect("fail");
        assert_eq!(r.status, Status::Failed);
        let view = query(&client, "a").await;
        assert_eq!(view.status, Status::Failed);
        let e = view.last_error.expect("last error");
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("plugin", "not an image: unknown format")
        );
        assert!(lease(&worker, 0).await.is_none());
        assert_eq!(
            error_kind(&client, &Request::Fetch { id: "a".into() }, vec![])
                .await
                .0,
            "not_done"
        );
        client.close().await;
        worker.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn restart_keeps_acknowledged_work_and_requeues_leases() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    let thumb = image(99, 321);
    let (done_token, leased_token) = bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, None).await;
        for id in ["a", "b", "c"] {
            call::<RegisterResponse>(&client, &register(id), image(id.as_bytes()[0], 200))
                .await
                .expect("register");
        }
        let (a, _) = lease(&worker, 1000).await.expect("lease a");
        assert_eq!(a.image_id, "a");
        call::<CompleteResponse>(&worker, &complete(&a), thumb.clone())
            .await
            .expect("complete a");
        let (b, _) = lease(&worker, 1000).await.expect("lease b");
        assert_eq!(b.image_id, "b");
        client.close().await;
        worker.close().await;
        m.serving.shutdown().await;
        drop(m.master);
        (a.token, b.token)
    })
    .await;

    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, None).await;

        let (a, bytes) = call::<ImageView>(&client, &Request::Fetch { id: "a".into() }, vec![])
            .await
            .expect("fetch a after restart");
        assert_eq!(a.status, Status::Done);
        assert_eq!(bytes, thumb);
        let b = query(&client, "b").await;
        assert_eq!(b.status, Status::Pending);
        assert_eq!(
            b.last_error.as_ref().map(|e| e.kind.as_str()),
            Some("master_restart")
        );
        assert_eq!(query(&client, "c").await.status, Status::Pending);

        // The old lease of b is stale; new leases get larger tokens.
        let old = Request::Complete {
            image_id: "b".into(),
            token: leased_token,
            width: 1,
            height: 1,
            format: "jpeg".into(),
        };
        assert_eq!(error_kind(&worker, &old, b"late".to_vec()).await.0, "stale");
        let (next, _) = lease(&worker, 1000).await.expect("lease after restart");
        assert_eq!(next.image_id, "b");
        assert!(next.token > leased_token && leased_token > done_token);
        client.close().await;
        worker.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_ends_waiting_polls_without_leasing() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, None).await;
        let poll = tokio::spawn(async move {
            let request = cdn_transport::Frame {
                header: cdn_proto::to_header(&Request::Lease {
                    wait_ms: 15_000,
                    max: 1,
                })
                .unwrap(),
                body: vec![],
            };
            let outcome = worker.request(&request).await;
            (worker, outcome.map(|f| f.header))
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        m.serving.shutdown().await;
        let (_worker, outcome) = poll.await.expect("poll task");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Either the poll's "no lease" arrived before the close, or the connection closed.
        if let Ok(header) = outcome {
            assert_eq!(
                header.get("lease"),
                Some(serde_json::Value::Null),
                "{header:?}"
            );
        }
        let registry = cdn_master::Registry::open(data.path().join("registry.sqlite3"))
            .expect("open the registry beside the master");
        assert_eq!(registry.counts().expect("counts").leased, 0);
    })
    .await;
}

#[tokio::test]
async fn one_registration_wakes_one_lease_among_waiting_workers() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let mut polls = Vec::new();
        for name in ["w1", "w2"] {
            let worker = connect(certs.path(), m.addr, Role::Worker, Some(name)).await;
            polls.push(tokio::spawn(async move {
                let got = lease(&worker, 2_000).await;
                worker.close().await;
                got.map(|(g, _)| g.image_id)
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        call::<RegisterResponse>(&client, &register("only"), image(5, 50))
            .await
            .expect("register");
        let mut got = Vec::new();
        for poll in polls {
            got.push(poll.await.expect("poll task"));
        }
        got.sort();
        assert_eq!(got, [None, Some("only".to_string())]);
        client.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn expiry_after_max_attempts_fails_the_image() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let config = MasterConfig {
            lease_ttl: Duration::from_millis(200),
            expiry_interval: Duration::from_millis(50),
            max_attempts: 1,
            ..MasterConfig::default()
        };
        let m = start(data.path(), certs.path(), config).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, None).await;
        call::<RegisterResponse>(&client, &register("a"), image(1, 100))
            .await
            .expect("register");
        let (grant, _) = lease(&worker, 1000).await.expect("lease");
        // The worker reports the plugin running (the attempt counts), then goes quiet.
        call::<cdn_proto::ExtendResponse>(
            &worker,
            &Request::Extend {
                image_id: grant.image_id.clone(),
                token: grant.token,
            },
            vec![],
        )
        .await
        .expect("extend");
        let failed = loop {
            let view = query(&client, "a").await;
            if view.status != Status::Leased {
                break view;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(
            failed.last_error.as_ref().map(|e| e.kind.as_str()),
            Some("lease_expired")
        );
        assert_eq!(
            error_kind(&worker, &complete(&grant), b"late".to_vec())
                .await
                .0,
            "stale"
        );
        assert!(lease(&worker, 0).await.is_none());
        client.close().await;
        worker.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

/// A worker that gives up on its long poll (drops the request, as a stopping worker does) must
/// not be handed the next image: that would sit leased to nobody until the lease expired.
#[tokio::test]
async fn an_abandoned_poll_takes_no_work() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let quitter = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w2")).await;

        let gave_up = tokio::time::timeout(Duration::from_millis(300), lease(&quitter, 15_000));
        assert!(gave_up.await.is_err(), "the poll should still be waiting");
        // Let the master see the stream go away.
        tokio::time::sleep(Duration::from_millis(300)).await;

        call::<RegisterResponse>(&client, &register("a.jpg"), image(1, 100))
            .await
            .expect("register");
        let started = Instant::now();
        let (grant, _) = lease(&worker, 5_000)
            .await
            .expect("the image is free to lease");
        assert_eq!(grant.image_id, "a.jpg");
        assert_eq!(
            grant.attempt, 1,
            "no attempt was spent on the abandoned poll"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let _ = quitter;
    })
    .await;
}

#[tokio::test]
async fn a_worker_at_its_lease_cap_waits_while_another_is_served() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let config = MasterConfig {
            max_leases_per_worker: 1,
            ..MasterConfig::default()
        };
        let m = start(data.path(), certs.path(), config).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        for (seed, id) in [(1, "a"), (2, "b")] {
            call::<RegisterResponse>(&client, &register(id), image(seed, 100))
                .await
                .expect("register");
        }
        let w1 = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        let w2 = connect(certs.path(), m.addr, Role::Worker, Some("w2")).await;
        let (first, _) = lease(&w1, 1000).await.expect("w1's first lease");

        // w1 holds its one lease: its next poll waits its whole time and gets nothing, although
        // an image is pending...
        let started = Instant::now();
        assert!(lease(&w1, 600).await.is_none(), "w1 is at its cap of 1");
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "the capped poll waited: {:?}",
            started.elapsed()
        );
        // ...which another worker is given at once.
        let (second, _) = lease(&w2, 1000).await.expect("w2 is served");
        assert_ne!(second.image_id, first.image_id);

        // Once w1's lease ends, w1 may lease again.
        call::<FailResponse>(&w1, &fail(&first, true, "given back"), vec![])
            .await
            .expect("fail");
        let (again, _) = lease(&w1, 1000).await.expect("w1 is served again");
        assert_eq!(again.image_id, first.image_id);
        client.close().await;
        m.serving.shutdown().await;
    })
    .await;
}
