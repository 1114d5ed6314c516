//! The frame: how one request or one response crosses a QUIC stream.
//!
//! | part | size | content |
//! | --- | --- | --- |
//! | header length | 4 bytes | `u32`, big-endian; at most [`FrameLimits::max_header`] |
//! | header | that many bytes | a JSON object; its `body_len` field (an integer) states the body's length |
//! | body | `body_len` bytes | raw bytes (image, thumbnail, plugin); at most [`FrameLimits::max_body`] |
//! | end | — | the sender finishes the stream; anything after the body is an error |
//!
//! Lengths are checked against the caps before anything is allocated for them. On a server, a
//! body also takes the server's request-body budget before its memory is reserved
//! ([`crate::ServerLimits::body_budget`]); while it waits for budget the stream is not read, so
//! the sender is held back by QUIC flow control, and one that cannot get it within
//! [`crate::ServerLimits::budget_wait`] is answered with the error kind `busy`
//! ([`FrameError::Busy`]: retryable, the request was not handled).

use crate::budget::BudgetHold;
use bytes::Bytes;
use cdn_proto::{Header, HeaderError};
use serde_json::Value;
use std::time::Duration;

/// How much body memory is reserved before the bytes arrive.
const BODY_CHUNK: usize = 1 << 20;

/// The header's field that states the body's length.
pub use cdn_proto::BODY_LEN;

/// Caps on what a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest JSON header (default 64 KiB).
    pub max_header: usize,
    /// Largest body (default 64 MiB, DESIGN's largest upload).
    pub max_body: u64,
}

impl FrameLimits {
    /// What a client accepts from the master it verified: bodies as usual, but headers up to
    /// 64 MiB, since a listing of every image is one JSON header (about 500 bytes per image).
    pub fn responses() -> FrameLimits {
        FrameLimits {
            max_header: 64 << 20,
            ..FrameLimits::default()
        }
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_header: 64 << 10,
            max_body: 64 << 20,
        }
    }
}

/// A request or response: a JSON object and raw bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// The header (a JSON object, kept as its text) without `body_len`: the framing adds and
    /// removes it.
    pub header: Header,
    pub body: Vec<u8>,
}

/// What is wrong with a frame, one variant per case.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the stream ended before a frame started")]
    Empty,
    #[error("header of {len} bytes is over the limit of {max} bytes")]
    HeaderTooLarge { len: u64, max: usize },
    #[error("the stream ended inside the header")]
    TruncatedHeader,
    /// Not valid JSON, not an object, or no valid `body_len`.
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("body of {len} bytes is over the limit of {max} bytes")]
    BodyTooLarge { len: u64, max: u64 },
    #[error("the stream ended after {got} of the {expected} body bytes the header announced")]
    TruncatedBody { expected: u64, got: u64 },
    #[error("bytes follow the body the header announced")]
    TrailingBytes,
    #[error("stream error: {0}")]
    Stream(String),
    #[error("the server is busy: its request-body budget of {} MiB stayed spent for {waited:?}; try again later", budget >> 20)]
    Busy { budget: u64, waited: Duration },
}

impl FrameError {
    /// A stable short name, sent in error frames (`{"error": {"kind": ...}}`).
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::Empty => "empty_stream",
            FrameError::HeaderTooLarge { .. } => "header_too_large",
            FrameError::TruncatedHeader => "truncated_header",
            FrameError::Header(HeaderError::InvalidJson(_)) => "invalid_json",
            FrameError::Header(HeaderError::NotAnObject) => "header_not_object",
            FrameError::Header(HeaderError::BadBodyLen) => "bad_body_len",
            FrameError::BodyTooLarge { .. } => "body_too_large",
            FrameError::TruncatedBody { .. } => "truncated_body",
            FrameError::TrailingBytes => "trailing_bytes",
            FrameError::Stream(_) => "stream_error",
            FrameError::Busy { .. } => "busy",
        }
    }
}

impl Frame {
    /// A frame from a JSON object header (anything else becomes `{"value": ...}`) and a body.
    pub fn new(header: Value, body: Vec<u8>) -> Frame {
        let header = match header {
            Value::Object(map) => map,
            other => serde_json::Map::from_iter([("value".to_string(), other)]),
        };
        Frame {
            header: Header::from_map(header),
            body,
        }
    }

    /// The error response `{"error": {"kind": kind, "message": message}}`.
    pub fn error(kind: &str, message: impl Into<String>) -> Frame {
        Frame::new(
            serde_json::json!({ "error": { "kind": kind, "message": message.into() } }),
            Vec::new(),
        )
    }

    /// `(kind, message)` if this frame is an error response.
    pub fn as_error(&self) -> Option<(String, String)> {
        let error = self.header.get("error")?;
        Some((
            error.get("kind")?.as_str().unwrap_or("error").to_string(),
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ))
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_head(self.body.len());
        out.extend_from_slice(&self.body);
        out
    }

    /// What goes before the body on the wire: the header's length and the header, with
    /// `body_len` appended inside its closing brace (the header's text is not parsed again).
    fn encode_head(&self, body_len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header.as_str().len() + 32);
        out.extend_from_slice(&[0; 4]);
        self.header.with_body_len(body_len, &mut out);
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        out
    }
}

/// Writes a frame and finishes the stream. Its body moves into quinn as it is, so a large
/// body (a source uploaded or downloaded) is never copied on its way out.
pub async fn write(send: &mut quinn::SendStream, frame: Frame) -> Result<(), FrameError> {
    let head = frame.encode_head(frame.body.len());
    let mut chunks = [Bytes::from(head), Bytes::from(frame.body)];
    send.write_all_chunks(&mut chunks)
        .await
        .map_err(stream_error)?;
    send.finish().map_err(stream_error)
}

fn stream_error(e: impl std::fmt::Display) -> FrameError {
    FrameError::Stream(e.to_string())
}

/// Reads one frame and checks that the stream ends right after it.
pub async fn read(recv: &mut quinn::RecvStream, limits: FrameLimits) -> Result<Frame, FrameError> {
    read_frame(recv, limits, None).await
}

/// [`read`], with the body's memory taken from `budget` before it is reserved. The hold keeps
/// the budget until it is dropped (after the request is handled, or when reading fails).
pub(crate) async fn read_budgeted(
    recv: &mut quinn::RecvStream,
    limits: FrameLimits,
    budget: &mut BudgetHold,
) -> Result<Frame, FrameError> {
    read_frame(recv, limits, Some(budget)).await
}

async fn read_frame(
    recv: &mut quinn::RecvStream,
    limits: FrameLimits,
    mut budget: Option<&mut BudgetHold>,
) -> Result<Frame, FrameError> {
    let mut len = [0u8; 4];
    read_exact(recv, &mut len)
        .await
        .map_err(|short| match short {
            Short::Finished(0) => FrameError::Empty,
            Short::Finished(_) => FrameError::TruncatedHeader,
            Short::Failed(e) => FrameError::Stream(e),
        })?;
    let len = u32::from_be_bytes(len);
    if len as u64 > limits.max_header as u64 {
        return Err(FrameError::HeaderTooLarge {
            len: len as u64,
            max: limits.max_header,
        });
    }
    let mut json = vec![0u8; len as usize];
    read_exact(recv, &mut json)
        .await
        .map_err(|short| match short {
            Short::Finished(_) => FrameError::TruncatedHeader,
            Short::Failed(e) => FrameError::Stream(e),
        })?;
    let (header, body_len) = Header::from_wire(json)?;
    if body_len > limits.max_body {
        return Err(FrameError::BodyTooLarge {
            len: body_len,
            max: limits.max_body,
        });
    }
    // The body grows as bytes arrive: a header that announces 64 MiB and then sends nothing
    // costs one chunk of memory, not 64 MiB. `reserved` is what the body may hold so far (and
    // what it took from the budget); nothing is read past it.
    let expected = body_len as usize;
    let mut body: Vec<u8> = Vec::new();
    let mut reserved = 0usize;
    while body.len() < expected {
        if body.len() == reserved {
            // Double, but never past the announced (and already capped) length.
            let target = (reserved * 2).max(BODY_CHUNK).min(expected);
            if let Some(budget) = budget.as_deref_mut() {
                budget.grow(target - reserved).await?;
            }
            body.reserve_exact(target - body.len());
            reserved = target;
        }
        match recv.read_chunk(reserved - body.len(), true).await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk.bytes),
            Ok(None) => {
                return Err(FrameError::TruncatedBody {
                    expected: body_len,
                    got: body.len() as u64,
                })
            }
            Err(e) => return Err(FrameError::Stream(e.to_string())),
        }
    }
    let mut extra = [0u8; 1];
    match recv.read(&mut extra).await {
        Ok(None) => Ok(Frame { header, body }),
        Ok(Some(_)) => Err(FrameError::TrailingBytes),
        Err(e) => Err(FrameError::Stream(e.to_string())),
    }
}

/// Why `read_exact` stopped short.
enum Short {
    /// The sender finished the stream after this many bytes.
    Finished(u64),
    /// The stream was reset or the connection lost.
    Failed(String),
}

/// Fills `buf` from the stream.
async fn read_exact(recv: &mut quinn::RecvStream, buf: &mut [u8]) -> Result<(), Short> {
    let mut filled = 0;
    while filled < buf.len() {
        match recv.read(&mut buf[filled..]).await {
            Ok(Some(n)) => filled += n,
            Ok(None) => return Err(Short::Finished(filled as u64)),
            Err(e) => return Err(Short::Failed(e.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The header as the wire carries it: the length prefix checked, the JSON parsed.
    fn wire_header(frame: &Frame) -> Value {
        let bytes = frame.encode();
        let len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        assert_eq!(bytes.len(), 4 + len + frame.body.len());
        assert_eq!(&bytes[4 + len..], &frame.body[..]);
        serde_json::from_slice(&bytes[4..4 + len]).expect("the header is JSON")
    }

    #[test]
    fn the_body_length_joins_the_header() {
        let empty = Frame::new(json!({}), Vec::new());
        assert_eq!(wire_header(&empty), json!({"body_len": 0}));
        let full = Frame::new(
            json!({"op": "lease", "max": 8, "a": {"b": [1, "}"]}}),
            vec![7; 5],
        );
        assert_eq!(
            wire_header(&full),
            json!({"op": "lease", "max": 8, "a": {"b": [1, "}"]}, "body_len": 5})
        );
    }

    #[test]
    fn a_body_len_in_the_header_is_replaced_not_repeated() {
        let frame = Frame::new(json!({"body_len": 99, "x": 1}), vec![1, 2]);
        let bytes = frame.encode();
        let text = String::from_utf8_lossy(&bytes[4..]);
        assert_eq!(text.matches("body_len").count(), 1, "{text}");
        assert_eq!(wire_header(&frame), json!({"x": 1, "body_len": 2}));
    }
}
