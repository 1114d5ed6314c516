//! One blob test suite, run against both backends: the folder store in a temporary folder and
//! the S3 store on a real S3 API server (moto, `cdn_testkit::S3Server`, started once per S3
//! run), once with conditional puts (put-if-absent) and once with them off (the plain-put
//! fallback). Each case is a function taking a [`Backend`]; [`both!`] makes one `#[test]` per
//! backend that runs every case and reports every case that failed. Then a whole master over
//! S3: register, lease, complete, query and fetch through QUIC.

use cdn_master::blobs::packed::PACK_FILE;
use cdn_master::blobs::s3::MULTIPART_THRESHOLD;
use cdn_master::blobs::{BlobError, BlobSpec, BlobStore, S3Settings};
use cdn_proto::ContentHash;
use cdn_testkit::S3Server;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tempfile::TempDir;

/// A backend as the cases see it: fresh stores, and the stored bytes behind the store's back.
enum Backend {
    File(TempDir),
    /// The server and settings added to the ones that reach it.
    S3(S3Server, Vec<(&'static str, &'static str)>),
}

/// Where one fresh store keeps its blobs.
enum Place {
    Folder(PathBuf),
    Bucket { bucket: String, prefix: String },
}

/// Names for fresh folders and buckets (S3 bucket names: lowercase, digits, dashes).
static FRESH: AtomicUsize = AtomicUsize::new(0);

impl Backend {
    fn settings(&self) -> S3Settings {
        match self {
            Backend::File(_) => S3Settings::new(),
            Backend::S3(s3, extra) => s3
                .env()
                .into_iter()
                .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .fold(S3Settings::new(), |s, (k, v)| s.with(k, v)),
        }
    }

    fn open(&self, spec: &str) -> Result<BlobStore, BlobError> {
        BlobStore::open_spec(&BlobSpec::parse_with(spec, self.settings())?)
    }

    /// A new, empty store (its own folder; its own bucket, under a prefix).
    fn fresh(&self) -> (BlobStore, Place) {
        self.fresh_with_prefix("blobs/v1")
    }

    fn fresh_with_prefix(&self, prefix: &str) -> (BlobStore, Place) {
        let n = FRESH.fetch_add(1, Ordering::Relaxed);
        let (spec, place) = match self {
            Backend::File(dir) => {
                let folder = dir.path().join(format!("store-{n}"));
                (format!("file:{}", folder.display()), Place::Folder(folder))
            }
            Backend::S3(s3, _) => {
                let bucket = format!("bucket-{n}");
                s3.create_bucket(&bucket);
                let spec = match prefix {
                    "" => format!("s3://{bucket}"),
                    prefix => format!("s3://{bucket}/{prefix}"),
                };
                let place = Place::Bucket {
                    bucket,
                    prefix: prefix.to_string(),
                };
                (spec, place)
            }
        };
        let store = self
            .open(&spec)
            .unwrap_or_else(|e| panic!("opening {spec}: {e}"));
        (store, place)
    }

    /// What `location` must say for `id` in `place`.
    fn expected_location(&self, place: &Place, id: &ContentHash) -> String {
        match place {
            Place::Folder(dir) => {
                let dir = std::fs::canonicalize(dir).expect("store folder");
                // A small blob stored is a row of the pack; anything else has a file.
                match packed(dir.as_path(), id) {
                    Some(_) => format!("file://{}/{PACK_FILE}#{id}", dir.display()),
                    None => format!("file://{}/{}/{id}", dir.display(), id.shard()),
                }
            }
            Place::Bucket { bucket, prefix } => match prefix.as_str() {
                "" => format!("s3://{bucket}/{id}"),
                prefix => format!("s3://{bucket}/{prefix}/{id}"),
            },
        }
    }

    /// Replaces the stored bytes of `id` behind the store's back.
    fn overwrite(&self, place: &Place, id: &ContentHash, bytes: &[u8]) {
        match (self, place) {
            (Backend::File(_), Place::Folder(dir)) => match packed(dir, id) {
                Some(pack) => {
                    let set = "UPDATE blobs SET bytes = ?1 WHERE hash = ?2";
                    pack.execute(set, (bytes, id.as_bytes().as_slice()))
                        .expect("overwrite the row");
                }
                None => std::fs::write(dir.join(id.shard()).join(id.to_hex()), bytes)
                    .expect("overwrite the file"),
            },
            (Backend::S3(s3, _), Place::Bucket { bucket, prefix }) => {
                let key = match prefix.as_str() {
                    "" => id.to_hex(),
                    prefix => format!("{prefix}/{id}"),
                };
                s3.put_object(bucket, &key, bytes)
            }
            _ => unreachable!("a place of another backend"),
        }
    }

    /// How many blobs are stored in `place` (files, objects).
    fn stored(&self, place: &Place) -> usize {
        match (self, place) {
            (Backend::File(_), Place::Folder(dir)) => {
                let files = std::fs::read_dir(dir)
                    .expect("store folder")
                    .flatten()
                    .filter(|entry| entry.path().is_dir())
                    .flat_map(|sub| std::fs::read_dir(sub.path()).expect("subfolder"))
                    .count();
                let pack = rusqlite::Connection::open(dir.join(PACK_FILE)).expect("pack");
                let rows: i64 = pack
                    .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
                    .expect("count rows");
                files + rows as usize
            }
            (Backend::S3(s3, _), Place::Bucket { bucket, prefix }) => s3.keys(bucket, prefix).len(),
            _ => unreachable!("a place of another backend"),
        }
    }
}

/// The folder store's pack, when it holds `id`.
fn packed(dir: &std::path::Path, id: &ContentHash) -> Option<rusqlite::Connection> {
    let pack = rusqlite::Connection::open(dir.join(PACK_FILE)).expect("open the pack");
    let rows: i64 = pack
        .query_row(
            "SELECT count(*) FROM blobs WHERE hash = ?1",
            [id.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .expect("look in the pack");
    (rows > 0).then_some(pack)
}

/// Bytes that are not all alike (a multiple of nothing in particular).
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

fn round_trip(b: &Backend) {
    let (store, _) = b.fresh();
    for data in [b"hello".to_vec(), Vec::new(), bytes(1, 100_000)] {
        let id = store.put(&data).expect("put");
        assert_eq!(id, ContentHash::of(&data));
        assert_eq!(store.get(&id).expect("get"), data);
    }
}

fn same_bytes_twice_is_one_blob(b: &Backend) {
    let (store, place) = b.fresh();
    let first = store.put(b"same bytes").expect("put");
    let second = store.put(b"same bytes").expect("put again");
    assert_eq!(first, second);
    // At once from several threads too (put-if-absent racing itself).
    let store = std::sync::Arc::new(store);
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || store.put(b"raced bytes").expect("racing put"))
        })
        .collect();
    let ids: Vec<_> = racers
        .into_iter()
        .map(|t| t.join().expect("racer"))
        .collect();
    assert!(ids.iter().all(|id| *id == ContentHash::of(b"raced bytes")));
    assert_eq!(b.stored(&place), 2, "one blob per content");
    assert_eq!(store.get(&first).expect("get"), b"same bytes");
}

fn contains(b: &Backend) {
    let (store, _) = b.fresh();
    let absent = ContentHash::of(b"never stored");
    assert!(!store.contains(&absent).expect("contains"));
    let id = store.put(b"stored").expect("put");
    assert!(store.contains(&id).expect("contains"));
}

fn a_missing_blob_is_not_found(b: &Backend) {
    let (store, _) = b.fresh();
    let absent = ContentHash::of(b"never stored");
    let err = store.get(&absent).expect_err("nothing there");
    assert!(
        matches!(err, BlobError::NotFound(id) if id == absent),
        "{err}"
    );
    assert!(err.to_string().contains(&absent.to_hex()), "{err}");
}

fn a_corrupted_blob_is_refused(b: &Backend) {
    let (store, place) = b.fresh();
    let id = store.put(b"original bytes").expect("put");
    b.overwrite(&place, &id, b"tampered bytes");
    let err = store.get(&id).expect_err("damaged");
    match &err {
        BlobError::Corrupt { id: got, actual } => {
            assert_eq!(got, &id);
            assert_eq!(actual, &ContentHash::of(b"tampered bytes"));
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(err.to_string().contains("damaged"), "{err}");
    // Shorter bytes (a torn write) too.
    b.overwrite(&place, &id, b"orig");
    assert!(matches!(store.get(&id), Err(BlobError::Corrupt { .. })));
}

fn a_large_blob_round_trips(b: &Backend) {
    let (store, place) = b.fresh();
    // Past the multipart threshold, over three parts, the last one short.
    let data = bytes(7, 2 * MULTIPART_THRESHOLD + 12_345);
    let id = store.put(&data).expect("put large");
    assert_eq!(store.get(&id).expect("get large"), data);
    // Stored again: nothing changes (for S3, the existing object is found and kept).
    assert_eq!(store.put(&data).expect("put large again"), id);
    assert_eq!(b.stored(&place), 1);
    assert_eq!(store.get(&id).expect("get large again"), data);
}

fn a_missing_store_is_an_error_at_open(b: &Backend) {
    match b {
        Backend::File(dir) => {
            // A folder that cannot be made: its parent is a file.
            let file = dir.path().join("a-file");
            std::fs::write(&file, b"not a folder").expect("write");
            let spec = format!("file:{}/blobs", file.display());
            let err = b.open(&spec).expect_err("no folder under a file");
            assert!(err.to_string().contains("a-file"), "{err}");
        }
        Backend::S3(s3, _) => {
            let err = b
                .open("s3://no-such-bucket/blobs")
                .expect_err("the bucket does not exist");
            assert!(matches!(err, BlobError::BucketMissing { .. }), "{err}");
            let text = err.to_string();
            assert!(
                text.contains("no-such-bucket") && text.contains(&s3.endpoint()),
                "names the bucket and the endpoint: {text}"
            );
        }
    }
}

fn locations_are_uris(b: &Backend) {
    for prefix in ["blobs/v1", ""] {
        let (store, place) = b.fresh_with_prefix(prefix);
        let id = store.put(b"somewhere").expect("put");
        assert_eq!(store.location(&id), b.expected_location(&place, &id));
        // What is not stored has a location too (where it would be).
        let absent = ContentHash::of(b"absent");
        assert_eq!(
            store.location(&absent),
            b.expected_location(&place, &absent)
        );
    }
}

fn the_store_answers_its_readiness_check(b: &Backend) {
    let (store, _) = b.fresh();
    store.check().expect("ready");
    let shown = store.to_string();
    assert!(
        shown.starts_with("file:/") || shown.starts_with("s3://bucket-"),
        "{shown}"
    );
}

/// Runs each case against one backend, catching failures so that every case runs; fails with
/// the list of the cases that failed.
macro_rules! both {
    ($($case:ident),+ $(,)?) => {
        fn run_all(backend: &Backend, name: &str) {
            let mut failed = Vec::new();
            $(
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $case(backend)));
                if ok.is_err() {
                    failed.push(stringify!($case));
                }
            )+
            assert!(failed.is_empty(), "{name} backend failed: {failed:?} (messages above)");
        }

        #[test]
        fn file_backend() {
            run_all(&Backend::File(tempfile::tempdir().expect("tempdir")), "file");
        }

        #[test]
        fn s3_backend() {
            run_all(&Backend::S3(S3Server::start(), vec![]), "s3");
        }

        /// A store that refuses conditional puts: the plain put stands in.
        #[test]
        fn s3_backend_without_conditional_puts() {
            let settings = vec![("AWS_CONDITIONAL_PUT", "disabled")];
            run_all(&Backend::S3(S3Server::start(), settings), "s3 without conditional puts");
        }
    };
}

both!(
    round_trip,
    same_bytes_twice_is_one_blob,
    contains,
    a_missing_blob_is_not_found,
    a_corrupted_blob_is_refused,
    a_large_blob_round_trips,
    a_missing_store_is_an_error_at_open,
    locations_are_uris,
    the_store_answers_its_readiness_check,
);

/// A whole master with its blobs in a bucket: what a client and a worker see.
#[tokio::test]
async fn a_master_over_s3() {
    use crate::support::*;
    use cdn_certs::Role;
    use cdn_master::MasterConfig;
    use cdn_proto::{
        CompleteResponse, ImageView, LeaseResponse, Params, RegisterResponse, Request, Status,
    };

    let backend = Backend::S3(S3Server::start(), vec![]);
    let Backend::S3(s3, _) = &backend else {
        unreachable!()
    };
    s3.create_bucket("images");
    let spec = BlobSpec::parse_with("s3://images/cdn", backend.settings()).expect("spec");
    let missing = BlobSpec::parse_with("s3://no-such-bucket", backend.settings()).expect("spec");
    let certs = certs();
    let data = tempfile::tempdir().unwrap();
    bounded(async {
        // A missing bucket stops the master at open (an error, also on an async thread).
        let config = MasterConfig {
            blobs: Some(missing),
            ..MasterConfig::default()
        };
        let refused = tempfile::tempdir().unwrap();
        let err = cdn_master::Master::open(refused.path(), config)
            .err()
            .expect("no bucket, no master");
        assert!(err.to_string().contains("no-such-bucket"), "{err}");

        let config = MasterConfig {
            blobs: Some(spec),
            ..MasterConfig::default()
        };
        let m = start(data.path(), certs.path(), config).await;
        let client = connect(certs.path(), m.addr, Role::Client, None).await;
        let worker = connect(certs.path(), m.addr, Role::Worker, Some("w1")).await;
        let source = image(3, 5000);
        let register = Request::Register {
            id: "cat.jpg".into(),
            plugin: "thumbnail".into(),
            params: Params::default(),
        };
        call::<RegisterResponse>(&client, &register, source.clone())
            .await
            .expect("register");
        assert!(!m.has_blob(&source), "nothing in the data folder's blobs");
        let (leased, body) = call::<LeaseResponse>(
            &worker,
            &Request::Lease {
                wait_ms: 5000,
                max: 1,
            },
            vec![],
        )
        .await
        .expect("lease");
        let grant = leased.lease.expect("a lease");
        assert_eq!(body, source, "the source came back from the bucket");
        let thumb = image(4, 700);
        let complete = Request::Complete {
            image_id: grant.image_id.clone(),
            token: grant.token,
            width: 256,
            height: 170,
            format: "jpeg".into(),
        };
        call::<CompleteResponse>(&worker, &complete, thumb.clone())
            .await
            .expect("complete");
        let (view, _) = call::<ImageView>(
            &client,
            &Request::Query {
                id: "cat.jpg".into(),
            },
            vec![],
        )
        .await
        .expect("query");
        assert_eq!(view.status, Status::Done);
        let t = view.thumbnail.expect("thumbnail");
        assert_eq!(
            t.location,
            format!("s3://images/cdn/{}", ContentHash::of(&thumb))
        );
        let (_, fetched) = call::<ImageView>(
            &client,
            &Request::Fetch {
                id: "cat.jpg".into(),
            },
            vec![],
        )
        .await
        .expect("fetch");
        assert_eq!(fetched, thumb);
        let keys = s3.keys("images", "cdn/");
        for blob in [&source, &thumb, &cdn_plugin_bundle::THUMBNAIL.to_vec()] {
            let key = format!("cdn/{}", ContentHash::of(blob));
            assert!(keys.contains(&key), "{key} not in {keys:?}");
        }
        for c in [client, worker] {
            c.close().await;
        }
        m.serving.shutdown().await;
        // The master (and the S3 client's runtime) is dropped here, on an async thread.
    })
    .await;
}
