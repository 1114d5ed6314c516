//! [`Header`]: a frame's JSON header, kept as its text.
//!
//! A message is written straight from its type to text ([`Header::encode`]) and read straight
//! from text to its type ([`Header::decode`]): no `serde_json::Value` tree is built in between,
//! which on the master's hot path cost more than the messages' own work.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The field of a frame's header that states its body's length: the framing adds it on the
/// way out and takes it off on the way in, so a [`Header`] never holds it.
pub const BODY_LEN: &str = "body_len";

/// One JSON object, as text. Serialized, it is that object verbatim (a [`crate::BatchAnswer`]
/// carries its answer's header this way).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Header(Box<RawValue>);

/// What is wrong with a header's text.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("the header is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the header is not a JSON object")]
    NotAnObject,
    #[error("the header has no valid `body_len` (a non-negative integer)")]
    BadBodyLen,
}

/// Only the framing's field of a header (every other field is skipped unread).
#[derive(Deserialize)]
struct Framing {
    body_len: Option<u64>,
}

impl Header {
    /// `{}`.
    pub fn empty() -> Header {
        Header::trusted("{}".to_string())
    }

    /// The header of `message`, which must serialize to a JSON object (without `body_len`).
    pub fn encode<T: Serialize + ?Sized>(message: &T) -> Result<Header, HeaderError> {
        let raw = serde_json::value::to_raw_value(message)
            .map_err(|e| HeaderError::InvalidJson(e.to_string()))?;
        if !raw.get().starts_with('{') {
            return Err(HeaderError::NotAnObject);
        }
        Ok(Header(raw))
    }

    /// The header holding `map` (a `body_len` in it is dropped: the framing owns that field).
    pub fn from_map(mut map: Map<String, Value>) -> Header {
        map.remove(BODY_LEN);
        // A map of string keys always serializes.
        Header::trusted(Value::Object(map).to_string())
    }

    /// A header read from the wire, with the body's length it states taken out of it.
    pub fn from_wire(text: Vec<u8>) -> Result<(Header, u64), HeaderError> {
        let text = String::from_utf8(text).map_err(|e| HeaderError::InvalidJson(e.to_string()))?;
        // Why the framing's read failed, told apart the long way (errors only).
        let why = |text: &str| match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_)) => HeaderError::BadBodyLen,
            Ok(_) => HeaderError::NotAnObject,
            Err(e) => HeaderError::InvalidJson(e.to_string()),
        };
        if !text.trim_start().starts_with('{') {
            return Err(why(&text));
        }
        let framing: Framing = serde_json::from_str(&text).map_err(|_| why(&text))?;
        let body_len = framing.body_len.ok_or(HeaderError::BadBodyLen)?;
        let header = match strip_trailing_body_len(&text) {
            // What this framing writes: `body_len` last; cut off without a parse.
            Some(rest) => Header(
                RawValue::from_string(rest).map_err(|e| HeaderError::InvalidJson(e.to_string()))?,
            ),
            // Elsewhere in the object: taken out the long way.
            None => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => Header::from_map(map),
                Ok(_) => return Err(HeaderError::NotAnObject),
                Err(e) => return Err(HeaderError::InvalidJson(e.to_string())),
            },
        };
        Ok((header, body_len))
    }

    /// The header's text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The header read as `T` (fields `T` does not know are ignored).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The header as a JSON object (a parse: for tests and tools, not for hot paths).
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::from_str(self.as_str()) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The field `key`, if the header has it (a parse: for tests and tools).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }

    /// The wire form: the text with `"body_len":N` appended inside its closing brace.
    pub fn with_body_len(&self, body_len: usize, out: &mut Vec<u8>) {
        let text = self.as_str();
        let inner = text
            .strip_suffix('}')
            .unwrap_or("{")
            .trim_end_matches(char::is_whitespace);
        out.extend_from_slice(inner.as_bytes());
        if inner.trim_start() != "{" {
            out.push(b',');
        }
        out.extend_from_slice(format!("\"{BODY_LEN}\":{body_len}}}").as_bytes());
    }

    /// serde_json's own output for an object without `body_len`.
    fn trusted(text: String) -> Header {
        match RawValue::from_string(text) {
            Ok(raw) => Header(raw),
            // Not reachable: serde_json's output is JSON. Kept total all the same.
            Err(_) => Header::empty_raw(),
        }
    }

    fn empty_raw() -> Header {
        Header(
            RawValue::from_string("{}".to_string())
                .unwrap_or_else(|_| unreachable!("`{{}}` is JSON")),
        )
    }
}

/// `text` without a last member `"body_len":DIGITS`, when that is how it ends (the member is
/// then the object's own: a nested one would be followed by the outer closing brace).
fn strip_trailing_body_len(text: &str) -> Option<String> {
    let body = text.trim_end().strip_suffix('}')?.trim_end();
    let digits = body.len() - body.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let before = body[..body.len() - digits].trim_end();
    let before = before.strip_suffix(':')?.trim_end();
    let before = before.strip_suffix("\"body_len\"")?.trim_end();
    if let Some(rest) = before.strip_suffix(',') {
        Some(format!("{rest}}}"))
    } else if before == "{" {
        Some("{}".to_string())
    } else {
        None
    }
}

impl Default for Header {
    fn default() -> Self {
        Header::empty()
    }
}

impl PartialEq for Header {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Map<String, Value>> for Header {
    fn from(map: Map<String, Value>) -> Header {
        Header::from_map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(header: &Header, body_len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        header.with_body_len(body_len, &mut out);
        out
    }

    #[test]
    fn body_len_goes_on_and_comes_off() {
        for value in [
            json!({}),
            json!({"op": "lease", "max": 8}),
            json!({"a": {"body_len": 3}, "s": "\"body_len\":4}"}),
        ] {
            let header = Header::encode(&value).unwrap();
            let (back, len) = Header::from_wire(wire(&header, 17)).unwrap();
            assert_eq!(len, 17);
            assert_eq!(back, header, "{value}");
            assert_eq!(Value::Object(back.to_map()), value);
        }
    }

    #[test]
    fn a_body_len_elsewhere_is_taken_out_all_the_same() {
        let (header, len) =
            Header::from_wire(br#"{"body_len": 5, "op": "stats", "x": [1, 2]}"#.to_vec()).unwrap();
        assert_eq!(len, 5);
        assert_eq!(
            Value::Object(header.to_map()),
            json!({"op": "stats", "x": [1, 2]})
        );
        let (spaced, len) = Header::from_wire(b" { \"body_len\" : 0 } ".to_vec()).unwrap();
        assert_eq!((spaced.as_str(), len), ("{}", 0));
    }

    #[test]
    fn bad_headers_are_told_apart() {
        let err = |text: &str| Header::from_wire(text.as_bytes().to_vec()).unwrap_err();
        assert!(matches!(err("{"), HeaderError::InvalidJson(_)));
        assert!(matches!(err("[1, 2]"), HeaderError::NotAnObject));
        assert!(matches!(err("7"), HeaderError::NotAnObject));
        assert!(matches!(err(r#"{"op": "x"}"#), HeaderError::BadBodyLen));
        assert!(matches!(
            err(r#"{"body_len": -1}"#),
            HeaderError::BadBodyLen
        ));
        assert!(matches!(
            err(r#"{"body_len": "3"}"#),
            HeaderError::BadBodyLen
        ));
        assert!(matches!(
            err(r#"{"body_len": 1, "body_len": 2}"#),
            HeaderError::BadBodyLen | HeaderError::InvalidJson(_)
        ));
        assert!(matches!(
            Header::from_wire(vec![b'{', 0xff, b'}']).unwrap_err(),
            HeaderError::InvalidJson(_)
        ));
    }

    #[test]
    fn only_objects_encode() {
        assert!(matches!(
            Header::encode(&json!([1])),
            Err(HeaderError::NotAnObject)
        ));
        assert!(matches!(Header::encode(&3), Err(HeaderError::NotAnObject)));
    }

    #[test]
    fn a_map_loses_its_body_len() {
        let map = json!({"body_len": 9, "x": 1}).as_object().cloned().unwrap();
        let header = Header::from_map(map);
        assert_eq!(header.get("x"), Some(json!(1)));
        assert_eq!(header.get(BODY_LEN), None);
        assert_eq!(wire(&header, 2), br#"{"x":1,"body_len":2}"#.to_vec());
    }

    #[test]
    fn a_header_serializes_as_its_object() {
        let header = Header::encode(&json!({"k": [true]})).unwrap();
        let outer =
            serde_json::to_string(&json!({"h": serde_json::to_value(&header).unwrap()})).unwrap();
        assert_eq!(outer, r#"{"h":{"k":[true]}}"#);
        let back: Header = serde_json::from_str(r#"{"k": [true]}"#).unwrap();
        assert_eq!(back.get("k"), Some(json!([true])));
    }
}
