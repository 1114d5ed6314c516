//! Errors: [`MasterError`] for opening and serving, [`OpError`] for one request (becomes an
//! error frame).

use crate::blobs::BlobError;
use crate::registry::RegistryError;
use cdn_proto::kind;
use cdn_transport::{Frame, TlsError};
use std::net::SocketAddr;

/// Why the master could not open or start serving.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the data folder {path} is in use by another master")]
    InUse { path: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
    #[error("invalid settings: {0}")]
    Config(String),
    #[error("plugin {name}: {why}")]
    Plugin { name: String, why: String },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot start the writer threads: {0}")]
    Writers(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A refused or failed request: an error kind from [`cdn_proto::kind`] and a message.
#[derive(Debug, Clone)]
pub(crate) struct OpError {
    pub kind: &'static str,
    pub message: String,
}

impl OpError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> OpError {
        OpError {
            kind,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> OpError {
        OpError::new(kind::INTERNAL, message)
    }

    pub fn into_frame(self) -> Frame {
        Frame::error(self.kind, self.message)
    }
}

impl From<RegistryError> for OpError {
    fn from(e: RegistryError) -> OpError {
        let kind = match &e {
            RegistryError::InvalidId { .. } => kind::INVALID_ID,
            RegistryError::InvalidParams(_) => kind::INVALID_PARAMS,
            RegistryError::NotFound(_) => kind::NOT_FOUND,
            RegistryError::Stale { .. } => kind::STALE,
            _ => {
                tracing::error!("registry: {e}");
                kind::INTERNAL
            }
        };
        OpError::new(kind, e.to_string())
    }
}

impl From<BlobError> for OpError {
    fn from(e: BlobError) -> OpError {
        tracing::error!("blob store: {e}");
        OpError::internal(e.to_string())
    }
}

impl From<cdn_proto::ProtoError> for OpError {
    fn from(e: cdn_proto::ProtoError) -> OpError {
        OpError::internal(format!("encoding a response: {e}"))
    }
}
