//! The content-addressed blob store: image, thumbnail and plugin bytes, named by the SHA-256 of
//! their bytes ([`ContentHash`]).
//!
//! [`BlobStore`] is what the rest of the master calls; behind it is one [`BlobBackend`]:
//! - [`file`]: a folder on local disk (the default, `file:DIR`): fsynced files, renamed into
//!   place atomically.
//! - [`s3`]: an S3-compatible bucket through the `object_store` crate (`s3://BUCKET/PREFIX`):
//!   put-if-absent, multipart upload above [`s3::MULTIPART_THRESHOLD`].
//!
//! Whatever the backend, [`BlobStore::get`] hashes what it read and refuses bytes that do not
//! match their name ([`BlobError::Corrupt`]): a damaged blob is an error, never an answer.
//! The API is synchronous: the master calls it from blocking threads (`state::blocking`); the
//! S3 backend runs its async client on a runtime of its own (`crate::bridge`).

pub mod file;
pub mod packed;
pub mod s3;

use cdn_common::ContentHash;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use s3::{S3Settings, S3Spec};

/// What went wrong in the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(ContentHash),
    #[error("blob {id} is damaged: its bytes hash to {actual}")]
    Corrupt {
        id: ContentHash,
        actual: ContentHash,
    },
    #[error("blob store: {0}")]
    Write(#[from] cdn_common::WriteError),
    #[error("blob store: {context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "blob store {spec:?}: {why} (expected file:DIR or s3://BUCKET/PREFIX, the prefix optional)"
    )]
    Spec { spec: String, why: String },
    #[error("S3 bucket {bucket:?} does not exist at {endpoint} (create it first)")]
    BucketMissing { bucket: String, endpoint: String },
    #[error("S3 bucket {bucket:?} at {endpoint}: {why}")]
    S3Setup {
        bucket: String,
        endpoint: String,
        why: String,
    },
    #[error("S3 bucket {bucket:?} at {endpoint}: {context}: {source}")]
    S3 {
        context: String,
        bucket: String,
        endpoint: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("blob store: {context} {path}: {source}")]
    Pack {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("blob store: {0}")]
    PackCommit(#[from] crate::group_commit::CommitError),
    #[error("blob store: {0}")]
    Bridge(#[from] crate::bridge::BridgeError),
}

/// One way of keeping blobs. Backends store and return bytes under their hash; checking what
/// they return against the hash is [`BlobStore`]'s job, not theirs.
pub trait BlobBackend: fmt::Debug + Send + Sync {
    /// Stores `bytes` (whose hash is `id`) durably: once this returns, the blob survives a
    /// crash. Storing a blob already present must succeed.
    fn put(&self, id: &ContentHash, bytes: &[u8]) -> Result<(), BlobError>;
    /// The stored bytes as they are (unchecked); [`BlobError::NotFound`] when absent.
    fn read(&self, id: &ContentHash) -> Result<Vec<u8>, BlobError>;
    fn contains(&self, id: &ContentHash) -> Result<bool, BlobError>;
    /// Where the blob lives (or would live), as a URI.
    fn location(&self, id: &ContentHash) -> String;
    /// Whether the store answers now (for `/readyz`): cheap, bounded.
    fn check(&self) -> Result<(), BlobError>;
    /// Bytes stored, when the backend can count them cheaply (the folder store can; a bucket
    /// of any size cannot, so the S3 backend says `None`).
    fn stored_bytes(&self) -> Option<u64>;
    /// fsyncs of files and folders made since open, for a backend that makes them (the folder
    /// store; S3 makes its own durability).
    fn fsyncs(&self) -> Option<u64> {
        None
    }
    /// Runs `f`, whose puts may share one commit, and returns once all of them are durable
    /// (a backend whose puts are each durable as they return just runs `f`).
    fn deferring(&self, f: &mut dyn FnMut() -> Result<(), BlobError>) -> Result<(), BlobError> {
        f()
    }
    /// The store as a spec (`file:/abs/dir`, `s3://bucket/prefix`), for logs.
    fn describe(&self) -> String;
}

/// Where blobs are kept, parsed from `file:DIR` or `s3://BUCKET/PREFIX` (see [`BlobStore::open`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSpec {
    File(PathBuf),
    S3(S3Spec),
}

impl BlobSpec {
    /// Parses `spec`, taking S3 settings (endpoint, region, credentials) from `settings`.
    pub fn parse_with(spec: &str, settings: S3Settings) -> Result<BlobSpec, BlobError> {
        let bad = |why: &str| BlobError::Spec {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        if let Some(dir) = spec.strip_prefix("file:") {
            // `file:///abs` (a URI, as `location` gives) names the same folder as `file:/abs`.
            let dir = dir.strip_prefix("//").unwrap_or(dir);
            if dir.is_empty() {
                return Err(bad("no folder after file:"));
            }
            Ok(BlobSpec::File(PathBuf::from(dir)))
        } else if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            Ok(BlobSpec::S3(
                S3Spec::new(bucket, prefix, settings).map_err(|why| bad(&why))?,
            ))
        } else {
            Err(bad("unknown kind of store"))
        }
    }
}

/// Parses with S3 settings from the process environment (`AWS_*`, see [`S3Settings::from_env`]).
impl FromStr for BlobSpec {
    type Err = BlobError;

    fn from_str(spec: &str) -> Result<BlobSpec, BlobError> {
        BlobSpec::parse_with(spec, S3Settings::from_env())
    }
}

impl fmt::Display for BlobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobSpec::File(dir) => write!(f, "file:{}", dir.display()),
            BlobSpec::S3(s3) => write!(f, "{s3}"),
        }
    }
}

/// The store. Cheap to share behind an `Arc`; all methods take `&self` and may block.
#[derive(Debug)]
pub struct BlobStore {
    backend: Box<dyn BlobBackend>,
}

impl BlobStore {
    /// Opens the store `spec` names: `file:DIR` (a folder, created if needed) or
    /// `s3://BUCKET/PREFIX` (an existing bucket; endpoint, region and credentials from the
    /// `AWS_*` variables, see [`S3Settings::from_env`]).
    pub fn open(spec: &str) -> Result<BlobStore, BlobError> {
        BlobStore::open_spec(&spec.parse()?)
    }

    pub fn open_spec(spec: &BlobSpec) -> Result<BlobStore, BlobError> {
        match spec {
            BlobSpec::File(dir) => BlobStore::open_dir(dir),
            BlobSpec::S3(s3) => Ok(BlobStore::with_backend(s3::S3Store::open(s3)?)),
        }
    }

    /// Opens (creating if needed) the folder store at `dir`.
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<BlobStore, BlobError> {
        Ok(BlobStore::with_backend(file::FileStore::open(dir)?))
    }

    pub fn with_backend(backend: impl BlobBackend + 'static) -> BlobStore {
        BlobStore {
            backend: Box::new(backend),
        }
    }

    /// Stores the bytes durably and returns their hash. Storing bytes already present stores
    /// nothing new.
    pub fn put(&self, bytes: &[u8]) -> Result<ContentHash, BlobError> {
        let id = ContentHash::of(bytes);
        self.backend.put(&id, bytes)?;
        Ok(id)
    }

    /// The blob's bytes, checked against its id ([`BlobError::Corrupt`] when they differ).
    pub fn get(&self, id: &ContentHash) -> Result<Vec<u8>, BlobError> {
        let bytes = self.backend.read(id)?;
        let actual = ContentHash::of(&bytes);
        if &actual != id {
            return Err(BlobError::Corrupt { id: *id, actual });
        }
        Ok(bytes)
    }

    /// The blob's bytes as stored, not hashed again: for bytes handed to a peer that checks
    /// them against `id` itself (a worker's lease), so each byte is hashed once on each side.
    pub fn get_unverified(&self, id: &ContentHash) -> Result<Vec<u8>, BlobError> {
        self.backend.read(id)
    }

    pub fn contains(&self, id: &ContentHash) -> Result<bool, BlobError> {
        self.backend.contains(id)
    }

    /// Where the blob lives (or would live): `file:///abs/dir/ab/abcd…` or
    /// `s3://bucket/prefix/abcd…`.
    pub fn location(&self, id: &ContentHash) -> String {
        self.backend.location(id)
    }

    /// Whether the store answers now (`/readyz`).
    pub fn check(&self) -> Result<(), BlobError> {
        self.backend.check()
    }

    /// Bytes stored, where the backend can count them cheaply (see [`BlobBackend::stored_bytes`]).
    pub fn stored_bytes(&self) -> Option<u64> {
        self.backend.stored_bytes()
    }

    /// fsyncs made since open (the folder store), for the bench and `/metrics`.
    pub fn fsyncs(&self) -> Option<u64> {
        self.backend.fsyncs()
    }

    /// Runs `f`, whose puts may share one commit (the folder store's pack), and returns once
    /// all of them are durable. Inside it a put returns before its bytes are durable, and
    /// reads may not see them yet.
    pub fn deferring(&self, f: &mut dyn FnMut() -> Result<(), BlobError>) -> Result<(), BlobError> {
        self.backend.deferring(f)
    }
}

impl fmt::Display for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.backend.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let none = S3Settings::new;
        assert_eq!(
            BlobSpec::parse_with("file:/a/b", none()).unwrap(),
            BlobSpec::File("/a/b".into())
        );
        assert_eq!(
            BlobSpec::parse_with("file:///a/b", none()).unwrap(),
            BlobSpec::File("/a/b".into())
        );
        assert_eq!(
            BlobSpec::parse_with("file:rel", none()).unwrap(),
            BlobSpec::File("rel".into())
        );
        let BlobSpec::S3(s3) = BlobSpec::parse_with("s3://bucket/some/prefix/", none()).unwrap()
        else {
            panic!("not s3")
        };
        assert_eq!((s3.bucket(), s3.prefix()), ("bucket", "some/prefix"));
        assert_eq!(s3.to_string(), "s3://bucket/some/prefix");
        let BlobSpec::S3(s3) = BlobSpec::parse_with("s3://bucket", none()).unwrap() else {
            panic!("not s3")
        };
        assert_eq!((s3.bucket(), s3.prefix()), ("bucket", ""));
        for bad in [
            "",
            "file:",
            "/a/b",
            "http://x/y",
            "s3://",
            "s3:///p",
            "s3://b/a//c",
        ] {
            let err = BlobSpec::parse_with(bad, none()).expect_err(bad);
            assert!(err.to_string().contains("s3://BUCKET/PREFIX"), "{err}");
        }
    }
}
