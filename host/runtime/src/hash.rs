//! Plugin identity: the SHA-256 of the `.wasm` bytes (DESIGN §2).

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The SHA-256 of a plugin's bytes; shown and parsed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginHash([u8; 32]);

impl PluginHash {
    /// Hashes plugin bytes.
    pub fn of(bytes: &[u8]) -> Self {
        PluginHash(Sha256::digest(bytes).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for PluginHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PluginHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PluginHash({})", self.to_hex())
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a plugin hash (expected 64 hex digits): {0:?}")]
pub struct ParseHashError(String);

impl FromStr for PluginHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut digest = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut digest).is_err() {
            return Err(ParseHashError(s.chars().take(80).collect()));
        }
        Ok(PluginHash(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects_garbage() {
        let h = PluginHash::of(b"abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_hex().parse::<PluginHash>().unwrap(), h);
        assert!("../etc/passwd".parse::<PluginHash>().is_err());
        assert!("ab".parse::<PluginHash>().is_err());
    }
}
