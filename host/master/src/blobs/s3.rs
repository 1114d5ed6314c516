//! The S3 backend (`s3://BUCKET/PREFIX`): blobs as objects in an S3-compatible bucket, through
//! the `object_store` crate's S3 client.
//!
//! - Keys are `PREFIX/<64 hex digits of the hash>` (just the hex without a prefix).
//! - Settings are the variables `object_store` reads (`AmazonS3Builder::from_env`): `AWS_ENDPOINT`
//!   (or `AWS_ENDPOINT_URL`), `AWS_DEFAULT_REGION` / `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP=true` for a plain-http store.
//!   Requests are path-style (`ENDPOINT/BUCKET/KEY`, what self-hosted stores expect) unless
//!   `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
//! - Open checks that the bucket exists (one cheap list request): a missing bucket or an
//!   unreachable endpoint is an error at start, naming both.
//! - A put is put-if-absent (`If-None-Match: *`): an object already there is the same content,
//!   so "already exists" is success; a store without conditional puts gets a plain put. Above
//!   [`MULTIPART_THRESHOLD`] bytes the upload is multipart (parts of [`PART_SIZE`]), after a
//!   `HEAD` that skips it when the object is there. An S3 object is replaced whole or not at
//!   all, so a blob is absent or complete; once the store acknowledges it, it is durable.
//! - The client is async; [`Bridge`] runs it on a small runtime of its own while the (blocking)
//!   caller waits.

use super::{BlobBackend, BlobError};
use crate::bridge::Bridge;
use bytes::Bytes;
use cdn_common::ContentHash;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutPayload, RetryConfig, WriteMultipart,
};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Blobs larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: usize = 8 << 20;
/// The size of each part of a multipart upload (S3 wants at least 5 MiB but for the last).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// The S3 settings: `AWS_*` variables and their values (the names `object_store` reads; others
/// are ignored). The `Debug` form hides secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    vars: Vec<(String, String)>,
}

impl S3Settings {
    /// No settings (the client's defaults).
    pub fn new() -> S3Settings {
        S3Settings::default()
    }

    /// The `AWS_*` variables of this process.
    pub fn from_env() -> S3Settings {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect();
        S3Settings { vars }
    }

    /// One more setting, as its variable would give it (`AWS_ENDPOINT`, `http://…`); a later
    /// one of the same name wins.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> S3Settings {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// The builder with these settings on top of the backend's defaults.
    fn builder(&self) -> AmazonS3Builder {
        let mut builder = AmazonS3Builder::new()
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        for (name, value) in &self.vars {
            // As `AmazonS3Builder::from_env` does: unknown names are not ours to refuse.
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        builder
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.vars {
            let secret = name.contains("SECRET") || name.contains("TOKEN");
            map.entry(name, &if secret { "<hidden>" } else { value.as_str() });
        }
        map.finish()
    }
}

/// A bucket, a key prefix in it, and the settings to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Spec {
    bucket: String,
    prefix: String,
    settings: S3Settings,
}

impl S3Spec {
    /// Checks the names: a bucket name without `/`, a prefix of non-empty segments (slashes
    /// around it are dropped).
    pub fn new(bucket: &str, prefix: &str, settings: S3Settings) -> Result<S3Spec, String> {
        if bucket.is_empty() {
            return Err("no bucket name after s3://".into());
        }
        let prefix = prefix.trim_matches('/');
        Path::parse(prefix).map_err(|e| format!("bad key prefix: {e}"))?;
        Ok(S3Spec {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            settings,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }
}

impl fmt::Display for S3Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            prefix => write!(f, "s3://{}/{prefix}", self.bucket),
        }
    }
}

/// The S3 store.
pub struct S3Store {
    spec: S3Spec,
    /// The key prefix as an object path (empty for none).
    prefix: Path,
    /// The endpoint requests go to, for messages.
    endpoint: String,
    store: Arc<AmazonS3>,
    /// The same client with few retries, for checks that must answer quickly (open, `/readyz`).
    probe: Arc<AmazonS3>,
    /// Always `Some` until dropped.
    bridge: Option<Bridge>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("spec", &self.spec)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Connects to the bucket and checks that it exists.
    pub fn open(spec: &S3Spec) -> Result<S3Store, BlobError> {
        // reqwest's rustls takes the process's default crypto provider; the workspace has one,
        // ring (a provider installed before stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = spec.settings.builder().with_bucket_name(&spec.bucket);
        let endpoint = endpoint_of(&builder);
        let setup = |why: String| BlobError::S3Setup {
            bucket: spec.bucket.clone(),
            endpoint: endpoint.clone(),
            why,
        };
        let allow_http =
            builder.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp));
        if endpoint.starts_with("http://") && allow_http.as_deref() != Some("true") {
            return Err(setup(
                "the endpoint is plain http: set AWS_ALLOW_HTTP=true to allow it".into(),
            ));
        }
        let probe_builder = builder.clone().with_retry(RetryConfig {
            max_retries: 1,
            retry_timeout: Duration::from_secs(5),
            ..RetryConfig::default()
        });
        let prefix =
            Path::parse(&spec.prefix).map_err(|e| setup(format!("bad key prefix: {e}")))?;
        let bridge = Bridge::new("s3", 2)?;
        // Built on the bridge's runtime: the HTTP client may want one.
        let built = bridge.run(async move {
            Ok::<_, object_store::Error>((builder.build()?, probe_builder.build()?))
        });
        let (store, probe) = match built {
            Ok(Ok(clients)) => clients,
            failed => {
                drop_bridge(bridge);
                return Err(match failed {
                    Ok(Err(e)) => setup(format!("configuring the S3 client: {e}")),
                    Err(e) => e.into(),
                    Ok(Ok(_)) => unreachable!("matched above"),
                });
            }
        };
        let s3 = S3Store {
            spec: spec.clone(),
            prefix,
            endpoint,
            store: Arc::new(store),
            probe: Arc::new(probe),
            bridge: Some(bridge),
        };
        s3.check()?;
        Ok(s3)
    }

    fn bridge(&self) -> &Bridge {
        self.bridge.as_ref().expect("the bridge lives until drop")
    }

    /// The object key of a blob.
    fn key(&self, id: &ContentHash) -> Path {
        self.prefix.clone().join(id.to_hex())
    }

    fn err(&self, context: String, source: object_store::Error) -> BlobError {
        BlobError::S3 {
            context,
            bucket: self.spec.bucket.clone(),
            endpoint: self.endpoint.clone(),
            source: Box::new(source),
        }
    }
}

impl BlobBackend for S3Store {
    fn put(&self, id: &ContentHash, bytes: &[u8]) -> Result<(), BlobError> {
        let store = self.store.clone();
        let key = self.key(id);
        let bytes = Bytes::copy_from_slice(bytes);
        self.bridge()
            .run(put(store, key.clone(), bytes))?
            .map_err(|e| self.err(format!("storing {key}"), e))
    }

    fn read(&self, id: &ContentHash) -> Result<Vec<u8>, BlobError> {
        let store = self.store.clone();
        let key = self.key(id);
        let got = self.bridge().run({
            let key = key.clone();
            async move { store.get(&key).await?.bytes().await }
        })?;
        match got {
            Ok(bytes) => Ok(bytes.into()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(*id)),
            Err(e) => Err(self.err(format!("reading {key}"), e)),
        }
    }

    fn contains(&self, id: &ContentHash) -> Result<bool, BlobError> {
        let store = self.store.clone();
        let key = self.key(id);
        let head = self.bridge().run({
            let key = key.clone();
            async move { store.head(&key).await }
        })?;
        match head {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(format!("looking up {key}"), e)),
        }
    }

    fn location(&self, id: &ContentHash) -> String {
        format!("s3://{}/{}", self.spec.bucket, self.key(id))
    }

    /// Lists the prefix from past its last possible key (`g` sorts after every hex digit):
    /// one request, an empty answer, and an error if the bucket is missing or unreachable.
    fn check(&self) -> Result<(), BlobError> {
        let probe = self.probe.clone();
        let prefix = self.prefix.clone();
        let listed = self.bridge().run(async move {
            let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
            let past_the_end = prefix.clone().unwrap_or_default().join("g");
            match probe
                .list_with_offset(prefix.as_ref(), &past_the_end)
                .next()
                .await
            {
                Some(Err(e)) => Err(e),
                Some(Ok(_)) | None => Ok(()),
            }
        })?;
        listed.map_err(|e| self.classify(e))
    }

    fn stored_bytes(&self) -> Option<u64> {
        None
    }

    fn describe(&self) -> String {
        format!("{} at {}", self.spec, self.endpoint)
    }
}

impl S3Store {
    /// A failed bucket check as the error that says why: no such bucket, no answer, or
    /// whatever the store said.
    fn classify(&self, e: object_store::Error) -> BlobError {
        let unreachable = chain(&e).any(|s| {
            s.downcast_ref::<object_store::client::HttpError>()
                .is_some_and(|h| {
                    use object_store::client::HttpErrorKind::*;
                    matches!(h.kind(), Connect | Timeout)
                })
        });
        // Each error's text repeats its sources': the innermost says what happened.
        let cause = chain(&e).last().map(|s| s.to_string()).unwrap_or_default();
        if unreachable {
            BlobError::S3Setup {
                bucket: self.spec.bucket.clone(),
                endpoint: self.endpoint.clone(),
                why: format!("the endpoint does not answer: {cause}"),
            }
        } else if chain(&e).any(|s| s.to_string().contains("NoSuchBucket"))
            || matches!(e, object_store::Error::NotFound { .. })
        {
            BlobError::BucketMissing {
                bucket: self.spec.bucket.clone(),
                endpoint: self.endpoint.clone(),
            }
        } else {
            self.err("listing the bucket".into(), e)
        }
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        if let Some(bridge) = self.bridge.take() {
            drop_bridge(bridge);
        }
    }
}

/// Drops the bridge's runtime where that is allowed. A tokio runtime may not be dropped within
/// another runtime's async context (it panics), and the master's state can go away on an async
/// thread (or be opened from one, and fail): there a plain thread drops it.
fn drop_bridge(bridge: Bridge) {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::spawn(move || drop(bridge));
    } else {
        drop(bridge);
    }
}

/// Stores `bytes` at `key` if absent: one conditional put, or a multipart upload for large
/// blobs.
async fn put(store: Arc<AmazonS3>, key: Path, bytes: Bytes) -> Result<(), object_store::Error> {
    if bytes.len() > MULTIPART_THRESHOLD {
        match store.head(&key).await {
            Ok(meta) if meta.size == bytes.len() as u64 => return Ok(()),
            Ok(meta) => {
                tracing::warn!(%key, found = meta.size, expected = bytes.len(), "damaged blob: writing it again");
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut upload =
            WriteMultipart::new_with_chunk_size(store.put_multipart(&key).await?, PART_SIZE);
        let mut rest = bytes;
        while !rest.is_empty() {
            let part = rest.split_to(rest.len().min(PART_SIZE));
            if let Err(e) = upload.wait_for_capacity(PARTS_IN_FLIGHT).await {
                // Best effort: the store drops unfinished uploads' parts by its own rules too.
                let _ = upload.abort().await;
                return Err(e);
            }
            upload.put(part);
        }
        return upload.finish().await.map(drop);
    }
    let payload = PutPayload::from(bytes);
    match store
        .put_opts(&key, payload.clone(), PutMode::Create.into())
        .await
    {
        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(
            object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. },
        ) => store.put(&key, payload).await.map(drop),
        Err(e) => Err(e),
    }
}

/// Where the builder's requests go (for messages): the endpoint set, else AWS's for the region.
fn endpoint_of(builder: &AmazonS3Builder) -> String {
    builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint))
        .unwrap_or_else(|| {
            let region = builder
                .get_config_value(&AmazonS3ConfigKey::Region)
                .unwrap_or_else(|| "us-east-1".into());
            format!("https://s3.{region}.amazonaws.com")
        })
}

/// An error and its sources, outermost first.
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_hide_secrets_and_reach_the_builder() {
        let settings = S3Settings::new()
            .with("AWS_ENDPOINT", "http://127.0.0.1:9")
            .with("AWS_SECRET_ACCESS_KEY", "hush")
            .with("AWS_REGION", "eu-west-3")
            .with("AWS_PROFILE", "not ours");
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("hush") && shown.contains("<hidden>"),
            "{shown}"
        );
        let builder = settings.builder();
        assert_eq!(endpoint_of(&builder), "http://127.0.0.1:9");
        assert_eq!(
            endpoint_of(
                &S3Settings::new()
                    .with("AWS_DEFAULT_REGION", "eu-west-3")
                    .builder()
            ),
            "https://s3.eu-west-3.amazonaws.com"
        );
    }

    #[test]
    fn plain_http_needs_allow_http() {
        let spec = S3Spec::new(
            "b",
            "",
            S3Settings::new().with("AWS_ENDPOINT", "http://127.0.0.1:9"),
        )
        .unwrap();
        let err = S3Store::open(&spec).expect_err("plain http refused");
        assert!(err.to_string().contains("AWS_ALLOW_HTTP=true"), "{err}");
    }

    #[test]
    fn an_endpoint_that_does_not_answer_is_named() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let spec = S3Spec::new(
            "some-bucket",
            "p",
            S3Settings::new()
                .with("AWS_ENDPOINT", &endpoint)
                .with("AWS_ALLOW_HTTP", "true")
                .with("AWS_ACCESS_KEY_ID", "k")
                .with("AWS_SECRET_ACCESS_KEY", "s"),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = S3Store::open(&spec).expect_err("nothing listens");
        let text = err.to_string();
        assert!(
            text.contains("some-bucket")
                && text.contains(&endpoint)
                && text.contains("does not answer"),
            "{text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
    }
}
