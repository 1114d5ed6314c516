//! The master's client ops and authorisation over real QUIC: register, query, duplicates,
//! conflicts, id validation, roles, plugins, stats.

use crate::support::*;
use cdn_certs::Role;
use cdn_master::MasterConfig;
use cdn_proto::ContentHash;
use cdn_proto::{
    ImageView, Params, PluginFetchResponse, PluginInfo, PluginListResponse, RegisterResponse,
    RegisterStatus, Request, StatsResponse, Status,
};

#[tokio::test]
async fn register_query_duplicate_and_conflict() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let bytes = image(1, 5000);

        let (r, _) = call::<RegisterResponse>(&client, &register("cat.jpg"), bytes.clone())
            .await
            .expect("register");
        assert_eq!(r.status, RegisterStatus::New);
        assert_eq!(r.image.status, Status::Pending);
        assert_eq!(r.image.source.size, 5000);
        assert_eq!(r.image.source.hash, ContentHash::of(&bytes));
        assert_eq!(r.image.plugin.name, "thumbnail");
        // Durable before the acknowledgement: the blob is on disk.
        assert!(m.has_blob(&bytes));

        let (q, _) = call::<ImageView>(
            &client,
            &Request::Query {
                id: "cat.jpg".into(),
            },
            vec![],
        )
        .await
        .expect("query");
        assert_eq!(q.status, Status::Pending);
        assert_eq!(q.params, Params::default());
        assert!(q.thumbnail.is_none());
        // The registration's answer (built without reading the row back) is the row.
        assert_eq!(r.image, q);

        let (again, _) = call::<RegisterResponse>(&client, &register("cat.jpg"), bytes.clone())
            .await
            .expect("same bytes again");
        assert_eq!(again.status, RegisterStatus::AlreadyRegistered);

        // A source blob lost (to a crash, or by hand) is put back by the next registration of
        // the same bytes, which is still `already_registered`.
        m.remove_blob(&bytes);
        let (restored, _) = call::<RegisterResponse>(&client, &register("cat.jpg"), bytes.clone())
            .await
            .expect("same bytes once more");
        assert_eq!(restored.status, RegisterStatus::AlreadyRegistered);
        assert!(m.has_blob(&bytes), "the source blob is back");

        let other = image(2, 5000);
        let (kind, message) = error_kind(&client, &register("cat.jpg"), other.clone()).await;
        assert_eq!(kind, "conflict");
        assert_eq!(
            message,
            "image cat.jpg is already registered with different bytes"
        );
        assert!(!m.has_blob(&other));

        let different_params = Request::Register {
            id: "cat.jpg".into(),
            plugin: "thumbnail".into(),
            params: Params {
                width: 64,
                ..Params::default()
            },
        };
        let (kind, message) = error_kind(&client, &different_params, bytes.clone()).await;
        assert_eq!(kind, "conflict");
        assert_eq!(
            message,
            "image cat.jpg is already registered with different params"
        );

        let (kind, _) = error_kind(&client, &Request::Query { id: "dog".into() }, vec![]).await;
        assert_eq!(kind, "not_found");
        let (kind, _) = error_kind(
            &client,
            &Request::Fetch {
                id: "cat.jpg".into(),
            },
            vec![],
        )
        .await;
        assert_eq!(kind, "not_done");

        let list = list_images(&client, None).await;
        assert_eq!(list.images.len(), 1);
        let list = list_images(&client, Some(Status::Done)).await;
        assert!(list.images.is_empty());

        let (stats, _) = call::<StatsResponse>(&client, &Request::Stats, vec![])
            .await
            .expect("stats");
        assert_eq!(stats.counts.pending, 1);
        assert_eq!(stats.workers_connected, 0);
        client.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_ids_params_plugins_and_bodies_are_refused() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        for id in ["../x", "", ".hidden", "a/b"] {
            let (kind, _) = error_kind(&client, &register(id), image(1, 10)).await;
            assert_eq!(kind, "invalid_id", "{id:?}");
            let (kind, _) = error_kind(&client, &Request::Query { id: id.into() }, vec![]).await;
            assert_eq!(kind, "invalid_id", "{id:?}");
        }
        let unknown = Request::Register {
            id: "a".into(),
            plugin: "nope".into(),
            params: Params::default(),
        };
        assert_eq!(
            error_kind(&client, &unknown, image(1, 10)).await.0,
            "unknown_plugin"
        );
        let zero = Request::Register {
            id: "a".into(),
            plugin: "thumbnail".into(),
            params: Params {
                width: 0,
                ..Params::default()
            },
        };
        assert_eq!(
            error_kind(&client, &zero, image(1, 10)).await.0,
            "invalid_params"
        );
        assert_eq!(
            error_kind(&client, &register("a"), vec![]).await.0,
            "empty_body"
        );

        // Nothing of the refused requests was registered.
        let list = list_images(&client, None).await;
        assert!(list.images.is_empty());
        client.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn uploads_over_the_cap_are_too_large() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let config = MasterConfig {
            max_upload: 1000,
            ..MasterConfig::default()
        };
        let m = start(data.path(), certs.path(), config).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        // The transport refuses it (body_too_large) before the master sees it.
        let response = client
            .request(&cdn_transport::Frame {
                header: cdn_proto::to_header(&register("big")).unwrap(),
                body: image(1, 2000),
            })
            .await
            .expect("a response");
        assert_eq!(
            response.as_error().map(|e| e.0).as_deref(),
            Some("body_too_large")
        );
        let (r, _) = call::<RegisterResponse>(&client, &register("small"), image(1, 1000))
            .await
            .expect("at the cap");
        assert_eq!(r.status, RegisterStatus::New);
        client.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn roles_are_enforced() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;

        let (kind, message) = error_kind(&worker, &register("a"), image(1, 10)).await;
        assert_eq!(kind, "forbidden");
        assert!(message.contains("worker"), "{message}");
        for op in [
            Request::Query { id: "a".into() },
            Request::List {
                status: None,
                limit: None,
                after: None,
            },
            Request::PluginAdd { name: "p".into() },
            Request::Stats,
        ] {
            assert_eq!(error_kind(&worker, &op, vec![]).await.0, "forbidden");
        }

        let (kind, message) =
            error_kind(&client, &Request::Lease { wait_ms: 0, max: 1 }, vec![]).await;
        assert_eq!(kind, "forbidden");
        assert!(message.contains("client"), "{message}");
        for op in [
            Request::Extend {
                image_id: "a".into(),
                token: 1,
            },
            Request::Complete {
                image_id: "a".into(),
                token: 1,
                width: 1,
                height: 1,
                format: "jpeg".into(),
            },
            Request::Fail {
                image_id: "a".into(),
                token: 1,
                kind: "x".into(),
                message: "y".into(),
                retryable: true,
                attempted: true,
            },
        ] {
            assert_eq!(error_kind(&client, &op, vec![1]).await.0, "forbidden");
        }

        // Nothing was registered by the worker.
        let list = list_images(&client, None).await;
        assert!(list.images.is_empty());

        // An unknown op is a bad request, whoever asks.
        let response = client
            .request(&cdn_transport::Frame::new(
                serde_json::json!({"op": "delete_everything"}),
                vec![],
            ))
            .await
            .expect("a response");
        assert_eq!(
            response.as_error().map(|e| e.0).as_deref(),
            Some("bad_request")
        );
        worker.close().await;
        client.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn plugins_add_list_fetch() {
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        let m = start(data.path(), certs.path(), MasterConfig::default()).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, None).await;
        let stamp = cdn_plugin_bundle::STAMP.to_vec();

        let (added, _) = call::<PluginInfo>(
            &client,
            &Request::PluginAdd {
                name: "stamp".into(),
            },
            stamp.clone(),
        )
        .await
        .expect("plugin_add");
        assert_eq!(added.name, "stamp");
        assert_eq!(added.hash, ContentHash::of(&stamp));

        let (list, _) = call::<PluginListResponse>(&client, &Request::PluginList, vec![])
            .await
            .expect("plugin_list");
        let names: Vec<_> = list.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["stamp", "thumbnail"]);
        let thumbnail = &list.plugins[1];
        assert_eq!(
            thumbnail.hash,
            ContentHash::of(cdn_plugin_bundle::THUMBNAIL)
        );

        for (who, p) in [(&worker, &added), (&client, thumbnail)] {
            let (fetched, bytes) = call::<PluginFetchResponse>(
                who,
                &Request::PluginFetch {
                    hash: p.hash.to_hex(),
                },
                vec![],
            )
            .await
            .expect("plugin_fetch");
            assert_eq!(fetched.hash, p.hash);
            assert_eq!(ContentHash::of(&bytes), p.hash);
        }

        let (kind, _) = error_kind(
            &client,
            &Request::PluginAdd { name: "bad".into() },
            b"not wasm".to_vec(),
        )
        .await;
        assert_eq!(kind, "invalid_plugin");
        let (kind, _) = error_kind(
            &client,
            &Request::PluginAdd {
                name: "../bad".into(),
            },
            stamp.clone(),
        )
        .await;
        assert_eq!(kind, "invalid_name");

        // A registration naming the plugin records its hash.
        let (r, _) = call::<RegisterResponse>(
            &client,
            &Request::Register {
                id: "s".into(),
                plugin: "stamp".into(),
                params: Params::default(),
            },
            image(3, 100),
        )
        .await
        .expect("register with stamp");
        assert_eq!(r.image.plugin.hash, added.hash);

        // Only modules are served, never other blobs (such as a source image).
        let (kind, _) = error_kind(
            &worker,
            &Request::PluginFetch {
                hash: r.image.source.hash.to_hex(),
            },
            vec![],
        )
        .await;
        assert_eq!(kind, "not_found");
        let (kind, _) = error_kind(
            &worker,
            &Request::PluginFetch {
                hash: "../../etc/passwd".into(),
            },
            vec![],
        )
        .await;
        assert_eq!(kind, "invalid_hash");
        client.close().await;
        worker.close().await;
        m.serving.shutdown().await;
    })
    .await;
}

/// SHA-256 hex, computed independently of the master.
#[test]
fn one_master_per_data_folder() {
    let data = tempfile::tempdir().unwrap();
    let first = cdn_master::Master::open(data.path(), MasterConfig::default()).expect("first");
    match cdn_master::Master::open(data.path(), MasterConfig::default()) {
        Err(e @ cdn_master::MasterError::InUse { .. }) => {
            assert!(e.to_string().contains("in use by another master"), "{e}")
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a second master opened the same data folder"),
    }
    drop(first);
    cdn_master::Master::open(data.path(), MasterConfig::default()).expect("reopen after the first");
}
