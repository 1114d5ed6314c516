//! `cdn-proto`: the messages the master, the workers and the client exchange (DESIGN §4).
//!
//! Every request is one transport frame whose JSON header is a [`Request`] (`{"op": "...", ...}`)
//! and whose raw body carries bytes where the op needs them (an image, a thumbnail, a plugin).
//! A response header is either the op's success object (the `*Response` types here) or the
//! transport's error shape `{"error": {"kind", "message"}}` with a kind from [`kind`].
//!
//! This crate is only serde types and their conversions to and from JSON objects; it knows
//! nothing of QUIC or wasm, so the client can use it without pulling either in.

mod header;
mod messages;

pub use cdn_common::ContentHash;
pub use cdn_params::{Fit, Format, Params, ParamsError};
pub use header::{Header, HeaderError, BODY_LEN};
pub use messages::*;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The plugin a registration uses when it names none.
pub const DEFAULT_PLUGIN: &str = "thumbnail";

/// The longest a `lease` request is held open waiting for work.
pub const MAX_LEASE_WAIT_MS: u64 = 20_000;

/// The most tasks one `lease` hands out.
pub const MAX_LEASE_BATCH: u32 = 64;

/// The most requests one `batch` carries (its header must also fit the master's header cap).
pub const MAX_BATCH_REQUESTS: usize = 64;

/// Error kinds the master answers with (the `kind` of `{"error": {...}}`).
pub mod kind {
    /// The request header is not a valid request (unknown op, missing or mistyped field).
    pub const BAD_REQUEST: &str = "bad_request";
    /// The peer's role may not call this op.
    pub const FORBIDDEN: &str = "forbidden";
    pub const INVALID_ID: &str = "invalid_id";
    pub const INVALID_PARAMS: &str = "invalid_params";
    pub const INVALID_NAME: &str = "invalid_name";
    pub const INVALID_HASH: &str = "invalid_hash";
    pub const INVALID_PLUGIN: &str = "invalid_plugin";
    /// The id is registered with different bytes, parameters or plugin.
    pub const CONFLICT: &str = "conflict";
    pub const TOO_LARGE: &str = "too_large";
    pub const EMPTY_BODY: &str = "empty_body";
    pub const UNKNOWN_PLUGIN: &str = "unknown_plugin";
    pub const NOT_FOUND: &str = "not_found";
    /// `fetch` of an image that is not `done`.
    pub const NOT_DONE: &str = "not_done";
    /// A lease operation carrying a token that is not the current lease's (or an expired one).
    pub const STALE: &str = "stale";
    pub const INTERNAL: &str = "internal";
    /// The transport's answer when its request-body budget stayed spent (nothing was done; try
    /// again).
    pub const BUSY: &str = "busy";
    /// The transport's answers to a request frame over its caps.
    pub const HEADER_TOO_LARGE: &str = "header_too_large";
    pub const BODY_TOO_LARGE: &str = "body_too_large";

    /// Whether an answer of this kind means "nothing was done, the same request may succeed
    /// later" (a transient failure on the master's side).
    pub fn is_transient(kind: &str) -> bool {
        kind == INTERNAL || kind == BUSY
    }

    /// Whether an answer of this kind refuses the request for its size.
    pub fn is_size_refusal(kind: &str) -> bool {
        kind == TOO_LARGE || kind == HEADER_TOO_LARGE || kind == BODY_TOO_LARGE
    }
}

/// The longest error kind or message (in bytes) sent or recorded: longer text is cut (at a
/// character boundary) and ends with `…`. Plugin stderr can be 64 KiB, and JSON escaping can
/// make it six times that, far over the 64 KiB request-header cap.
pub const MAX_ERROR_TEXT: usize = 1024;

/// `text` cut to at most `max` bytes (at a character boundary, ending with `…` when cut).
pub fn truncate_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    const ELLIPSIS: &str = "…";
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// [`truncate_text`] with [`MAX_ERROR_TEXT`].
pub fn error_text(text: &str) -> String {
    truncate_text(text, MAX_ERROR_TEXT)
}

/// The default page of `list` (images per answer) and its largest.
pub const DEFAULT_LIST_PAGE: u32 = 1000;
pub const MAX_LIST_PAGE: u32 = 10_000;

/// Why a header could not be turned into a message, or a response was an error.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("invalid message: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("message is not a JSON object")]
    NotAnObject,
    #[error("cannot encode the message: {0}")]
    Encode(String),
    #[error("{kind}: {message}")]
    Remote { kind: String, message: String },
}

impl ProtoError {
    /// The remote error kind, if the response was an error.
    pub fn remote_kind(&self) -> Option<&str> {
        match self {
            ProtoError::Remote { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// A message as a JSON object header.
pub fn to_header<T: Serialize>(message: &T) -> Result<Header, ProtoError> {
    Header::encode(message).map_err(|e| match e {
        HeaderError::NotAnObject => ProtoError::NotAnObject,
        other => ProtoError::Encode(other.to_string()),
    })
}

/// A message from a JSON object header (fields it does not know are ignored), read straight
/// from the header's text.
pub fn from_header<T: DeserializeOwned>(header: &Header) -> Result<T, ProtoError> {
    Ok(header.decode()?)
}

/// Only the error of a response header, if it is one (every other field is skipped unread).
#[derive(Deserialize)]
struct MaybeError {
    error: Option<Value>,
}

/// A response header as `T`, or the error it carries as [`ProtoError::Remote`].
pub fn parse_response<T: DeserializeOwned>(header: &Header) -> Result<T, ProtoError> {
    if let Some(error) = header.decode::<MaybeError>()?.error {
        let field = |name: &str| {
            error
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        return Err(ProtoError::Remote {
            kind: field("kind"),
            message: field("message"),
        });
    }
    from_header(header)
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_char_boundary() {
        assert_eq!(truncate_text("short", 10), "short");
        let long = "é".repeat(2000);
        let cut = error_text(&long);
        assert!(cut.len() <= MAX_ERROR_TEXT, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with("éé"));
    }
}
