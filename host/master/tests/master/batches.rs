//! Batches over real QUIC: `lease` with `max` (several grants and their sources in one frame,
//! within the worker's lease cap), and `batch` (each request answered as if alone, in order,
//! with its role checked; a malformed batch refused whole with nothing done).

use crate::support::*;
use cdn_certs::Role;
use cdn_master::MasterConfig;
use cdn_proto::{
    kind, parse_response, split_body, BatchEntry, BatchResponse, CompleteResponse, ContentHash,
    ExtendResponse, LeaseGrant, LeaseResponse, ProtoError, RegisterResponse, RegisterStatus,
    Request, Status,
};
use cdn_transport::Client;

fn entry(request: Request, body: &[u8]) -> BatchEntry {
    BatchEntry {
        request,
        body_len: body.len() as u64,
    }
}

/// Sends a batch of `(request, body)`; each answer as a typed result (or the master's error)
/// with its body.
async fn batch<T: serde::de::DeserializeOwned>(
    client: &Client,
    requests: Vec<(Request, Vec<u8>)>,
) -> Vec<(Result<T, ProtoError>, Vec<u8>)> {
    let entries = requests.iter().map(|(r, b)| entry(r.clone(), b)).collect();
    let body: Vec<u8> = requests.iter().flat_map(|(_, b)| b.clone()).collect();
    let (response, body) =
        call::<BatchResponse>(client, &Request::Batch { requests: entries }, body)
            .await
            .expect("batch");
    assert_eq!(response.answers.len(), requests.len());
    let bodies = split_body(&body, response.answers.iter().map(|a| a.body_len))
        .expect("answer bodies add up");
    response
        .answers
        .iter()
        .zip(bodies)
        .map(|(a, b)| (parse_response::<T>(&a.header), b.to_vec()))
        .collect()
}

async fn lease_many(worker: &Client, max: u32) -> Vec<(LeaseGrant, Vec<u8>)> {
    let (response, body) =
        call::<LeaseResponse>(worker, &Request::Lease { wait_ms: 0, max }, vec![])
            .await
            .expect("lease");
    let grants = response.grants();
    let sources = split_body(&body, grants.iter().map(|g| g.source_size)).expect("sizes add up");
    grants
        .into_iter()
        .zip(sources)
        .map(|(g, s)| (g, s.to_vec()))
        .collect()
}

#[tokio::test]
async fn lease_hands_out_up_to_max_with_each_source() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let config = MasterConfig {
            max_leases_per_worker: 4,
            ..MasterConfig::default()
        };
        let m = start(data.path(), certs.path(), config).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        for i in 0..6u8 {
            let id = format!("img{i}.jpg");
            call::<RegisterResponse>(&client, &register(&id), image(i, 100 + usize::from(i)))
                .await
                .expect("register");
        }
        // Three asked, three given, oldest first, each with its own bytes.
        let first = lease_many(&worker, 3).await;
        let ids: Vec<_> = first.iter().map(|(g, _)| g.image_id.as_str()).collect();
        assert_eq!(ids, ["img0.jpg", "img1.jpg", "img2.jpg"]);
        for (i, (grant, source)) in first.iter().enumerate() {
            assert_eq!(source, &image(i as u8, 100 + i));
            assert_eq!(grant.source_hash, ContentHash::of(source));
        }
        // The cap is 4 leases per worker: ten asked, one given.
        let second = lease_many(&worker, 10).await;
        assert_eq!(second.len(), 1, "the lease cap");
        assert_eq!(second[0].0.image_id, "img3.jpg");
        // Another worker gets the rest.
        let other = connect(certs.path(), m.addr, Role::Worker, Some("w2")).await;
        let rest = lease_many(&other, 64).await;
        assert_eq!(rest.len(), 2);
        // A max over the protocol's is served as the protocol's (nothing is left anyway).
        assert!(lease_many(&other, 10_000).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_batch_answers_each_request_as_if_alone() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;

        // Registrations: new, a bad id, a conflict with the first, and one more.
        let answers = batch::<RegisterResponse>(
            &client,
            vec![
                (register("a.jpg"), image(1, 50)),
                (register("../x"), image(2, 50)),
                (register("a.jpg"), image(3, 50)),
                (register("b.jpg"), image(4, 60)),
            ],
        )
        .await;
        let kinds: Vec<_> = answers
            .iter()
            .map(|(a, _)| match a {
                Ok(r) => format!("{:?}", r.status),
                Err(e) => e.remote_kind().unwrap_or("?").to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["New", kind::INVALID_ID, kind::CONFLICT, "New"],
            "{answers:?}"
        );
        let Ok(b) = &answers[3].0 else { panic!("b") };
        assert_eq!(b.status, RegisterStatus::New);
        assert_eq!(b.image.source.size, 60);

        // A worker's reports: extend and complete one lease, a stale token, and a register
        // (not a worker's op: forbidden, alone).
        let leased = lease_many(&worker, 2).await;
        assert_eq!(leased.len(), 2);
        let (g0, g1) = (&leased[0].0, &leased[1].0);
        let thumb = b"\x89PNG thumbnail".to_vec();
        let answers = batch::<serde_json::Value>(
            &worker,
            vec![
                (
                    Request::Extend {
                        image_id: g0.image_id.clone(),
                        token: g0.token,
                    },
                    vec![],
                ),
                (
                    Request::Complete {
                        image_id: g0.image_id.clone(),
                        token: g0.token,
                        width: 2,
                        height: 1,
                        format: "png".into(),
                    },
                    thumb.clone(),
                ),
                (
                    Request::Extend {
                        image_id: g1.image_id.clone(),
                        token: g1.token + 1000,
                    },
                    vec![],
                ),
                (register("c.jpg"), image(5, 10)),
            ],
        )
        .await;
        assert!(
            serde_json::from_value::<ExtendResponse>(answers[0].0.as_ref().unwrap().clone())
                .is_ok()
        );
        assert!(
            serde_json::from_value::<CompleteResponse>(answers[1].0.as_ref().unwrap().clone())
                .is_ok()
        );
        let kind_of = |i: usize| {
            answers[i]
                .0
                .as_ref()
                .err()
                .and_then(|e| e.remote_kind())
                .map(str::to_string)
        };
        assert_eq!(kind_of(2).as_deref(), Some(kind::STALE));
        assert_eq!(kind_of(3).as_deref(), Some(kind::FORBIDDEN));
        let done = list_images(&client, Some(Status::Done)).await.images;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id, g0.image_id);
        assert!(m.has_blob(&thumb));
        let pending = list_images(&client, Some(Status::Pending)).await.images;
        assert!(pending.is_empty(), "c.jpg was not registered: {pending:?}");
    })
    .await;
}

#[tokio::test]
async fn a_malformed_batch_is_refused_whole() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        let one = entry(register("a.jpg"), &image(1, 10));

        // Body lengths that do not add up (short, and long).
        for body in [image(1, 9), image(1, 11)] {
            let request = Request::Batch {
                requests: vec![one.clone()],
            };
            let (kind, message) = error_kind(&client, &request, body).await;
            assert_eq!(kind, kind::BAD_REQUEST, "{message}");
        }
        // A batch inside a batch, a long poll inside a batch.
        let nested = Request::Batch {
            requests: vec![entry(
                Request::Batch {
                    requests: vec![one.clone()],
                },
                &image(1, 10),
            )],
        };
        let (kind, message) = error_kind(&client, &nested, image(1, 10)).await;
        assert_eq!(kind, kind::BAD_REQUEST);
        assert!(message.contains("batch"), "{message}");
        let poll = Request::Batch {
            requests: vec![entry(
                Request::Lease {
                    wait_ms: 20_000,
                    max: 1,
                },
                b"",
            )],
        };
        let (kind, message) = error_kind(&worker, &poll, vec![]).await;
        assert_eq!(kind, kind::BAD_REQUEST);
        assert!(message.contains("lease"), "{message}");
        // Too many requests.
        let many = Request::Batch {
            requests: vec![entry(Request::Stats, b""); cdn_proto::MAX_BATCH_REQUESTS + 1],
        };
        let (kind, _) = error_kind(&client, &many, vec![]).await;
        assert_eq!(kind, kind::BAD_REQUEST);
        // Nothing of them was done.
        assert!(list_images(&client, None).await.images.is_empty());
    })
    .await;
}
