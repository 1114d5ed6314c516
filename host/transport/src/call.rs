//! [`Client::call`]: one typed request to the master — a `cdn-proto` [`Request`] out, the op's
//! response type back — used by the client and the worker alike.

use crate::{Client, ClientError, Frame};
use cdn_proto::{parse_response, to_header, ProtoError, Request};
use serde::de::DeserializeOwned;

/// Why a call did not return the expected response. Only [`CallError::Refused`] is the master's
/// own answer; the others happened on this side or on the way.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request could not be encoded (a bug on this side, not the master's refusal).
    #[error("cannot encode the {op} request: {source}")]
    Encode {
        op: &'static str,
        #[source]
        source: ProtoError,
    },
    /// No answer: the connection is down or broke during the call.
    #[error("{op} request: {source}")]
    Transport {
        op: &'static str,
        #[source]
        source: ClientError,
    },
    /// The master answered with an error (`stale`, `not_found`, ...).
    #[error("{kind}: {message}")]
    Refused { kind: String, message: String },
    /// The master answered something that is not the op's response.
    #[error("unexpected answer to {op}: {source}")]
    BadResponse {
        op: &'static str,
        #[source]
        source: ProtoError,
    },
}

impl Client {
    /// Sends `request` with `body` and returns the typed response and its body.
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: &Request,
        body: Vec<u8>,
    ) -> Result<(T, Vec<u8>), CallError> {
        let op = request.op();
        let header = to_header(request).map_err(|source| CallError::Encode { op, source })?;
        tracing::debug!(op, body = body.len(), "request");
        let response = self
            .request_owned(Frame { header, body })
            .await
            .map_err(|source| CallError::Transport { op, source })?;
        match parse_response::<T>(&response.header) {
            Ok(value) => Ok((value, response.body)),
            Err(ProtoError::Remote { kind, message }) => Err(CallError::Refused { kind, message }),
            Err(source) => Err(CallError::BadResponse { op, source }),
        }
    }
}
