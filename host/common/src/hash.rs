//! The content hash: SHA-256, shown and parsed as 64 lowercase hex digits.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The SHA-256 of some bytes. Names blobs and plugins; its text form (64 lowercase hex digits)
/// is safe as a file name and is never a path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes` in one go.
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(Sha256::digest(bytes).into())
    }

    pub fn from_bytes(digest: [u8; 32]) -> Self {
        ContentHash(digest)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hex digits. Written digit by digit into a string of the
    /// right size: `hex::encode` collects `char`s one at a time, and the master writes a few
    /// hashes per task (rows, answers).
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for byte in self.0 {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        hex
    }

    /// The first two hex digits: the subfolder a blob store files this hash under.
    pub fn shard(&self) -> String {
        hex::encode(&self.0[..1])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// A string that is not a content hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a content hash (64 lowercase hex digits): {0:?}")]
pub struct BadHash(pub String);

impl FromStr for ContentHash {
    type Err = BadHash;

    /// Only the canonical form is accepted (lowercase), so one hash has one spelling and one
    /// file name.
    fn from_str(s: &str) -> Result<Self, BadHash> {
        let mut digest = [0u8; 32];
        let canonical = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical || hex::decode_to_slice(s, &mut digest).is_err() {
            return Err(BadHash(s.chars().take(80).collect()));
        }
        Ok(ContentHash(digest))
    }
}

/// Hashes bytes as they arrive (a body streamed to disk is hashed in the same pass).
#[derive(Clone, Default)]
pub struct ContentHasher(Sha256);

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> ContentHash {
        ContentHash(self.0.finalize().into())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hex_round_trip() {
        let h = ContentHash::of(b"abc");
        assert_eq!(h.to_hex(), ABC);
        assert_eq!(h.to_string(), ABC);
        assert_eq!(h.shard(), "ba");
        assert_eq!(ABC.parse::<ContentHash>(), Ok(h));
    }

    /// Every byte value spelled as `hex` spells it.
    #[test]
    fn every_byte_is_spelled_as_hex_does() {
        for first in (0..=255u8).step_by(32) {
            let bytes: [u8; 32] = std::array::from_fn(|i| first.wrapping_add(i as u8));
            assert_eq!(ContentHash(bytes).to_hex(), hex::encode(bytes));
        }
    }

    #[test]
    fn streamed_hash_equals_one_shot() {
        let mut hasher = ContentHasher::new();
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(hasher.finish(), ContentHash::of(b"abc"));
    }

    #[test]
    fn only_the_canonical_spelling_parses() {
        for bad in [
            "",
            "../etc/passwd",
            "ab",
            &ABC.to_uppercase(),
            &ABC[..63],
            &format!("{ABC}0"),
            &format!("zz{}", &ABC[2..]),
            &format!("ba/{}", &ABC[3..]),
        ] {
            assert!(bad.parse::<ContentHash>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_uses_the_hex_text() {
        let h = ContentHash::of(b"abc");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<ContentHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<ContentHash>("\"../x\"").is_err());
    }
}
