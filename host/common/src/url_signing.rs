//! URL signatures for sizes on demand, as imgproxy does them: the master is given a key
//! (`--url-key-file`), and a URL is honoured only when its `sig` is the HMAC-SHA256 of its path
//! and query under that key. The master verifies ([`verify`]); `cdn url` signs
//! ([`signed_path_and_query`]): one definition for both sides.
//!
//! The signed message (the canonical form) is
//!
//! ```text
//! PATH "?" NAME "=" VALUE ("&" NAME "=" VALUE)*
//! ```
//!
//! where PATH is `/v1/images/{id}/thumbnail` exactly as in the URL (ids need no escaping), and
//! the NAME=VALUE pairs are the query's parameters other than `sig`, exactly as written in the
//! URL (no decoding: values may only hold `A-Z a-z 0-9`), sorted by name (byte order). The
//! signature is the lowercase hex of the 32-byte MAC, sent as the `sig` parameter anywhere in
//! the query. Example: the key `secret`, `/v1/images/cat.jpg/thumbnail?w=128&h=128` signs
//! `/v1/images/cat.jpg/thumbnail?h=128&w=128`. `cdn url` makes such URLs.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The message a signature covers: `path?` and the pairs sorted by name.
pub fn canonical(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = pairs.iter().filter(|(name, _)| *name != "sig").collect();
    sorted.sort();
    let query: Vec<String> = sorted.iter().map(|(n, v)| format!("{n}={v}")).collect();
    format!("{path}?{}", query.join("&"))
}

/// The path of image `id`'s thumbnail on the master's HTTP side.
pub fn thumbnail_path(id: &str) -> String {
    format!("/v1/images/{id}/thumbnail")
}

/// The path and query of image `id`'s thumbnail with these parameters, signed under `key`:
/// the pairs in canonical order, then `sig=HEX` (`?sig=HEX` when there are none).
pub fn signed_path_and_query(key: &[u8], id: &str, pairs: &[(&str, String)]) -> String {
    let path = thumbnail_path(id);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let message = canonical(&path, &borrowed);
    let sig = sign(key, &message);
    if message.ends_with('?') {
        format!("{message}sig={sig}")
    } else {
        format!("{message}&sig={sig}")
    }
}

/// The signature of `message` under `key`, as lowercase hex.
pub fn sign(key: &[u8], message: &str) -> String {
    hex::encode(mac(key, message).finalize().into_bytes())
}

/// Whether `sig_hex` is the signature of `message` under `key` (compared in constant time).
pub fn verify(key: &[u8], message: &str, sig_hex: &str) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    mac(key, message).verify_slice(&sig).is_ok()
}

fn mac(key: &[u8], message: &str) -> HmacSha256 {
    // HMAC takes a key of any length.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(message.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector() {
        let message = canonical(
            "/v1/images/cat.jpg/thumbnail",
            &[
                ("w", "128"),
                ("h", "128"),
                ("fit", "cover"),
                ("format", "png"),
            ],
        );
        assert_eq!(
            message,
            "/v1/images/cat.jpg/thumbnail?fit=cover&format=png&h=128&w=128"
        );
        let sig = sign(b"secret", &message);
        assert_eq!(
            sig,
            "0a9dab81ca8c60e13b53a39546784bc34cfffb5923f82c53ed813ce030245bf1"
        );
        assert!(verify(b"secret", &message, &sig));
    }

    #[test]
    fn signed_urls_carry_the_canonical_query_then_the_signature() {
        let pairs = vec![
            ("w", "128".to_string()),
            ("h", "128".to_string()),
            ("fit", "cover".to_string()),
            ("format", "png".to_string()),
        ];
        assert_eq!(
            signed_path_and_query(b"secret", "cat.jpg", &pairs),
            "/v1/images/cat.jpg/thumbnail?fit=cover&format=png&h=128&w=128\
             &sig=0a9dab81ca8c60e13b53a39546784bc34cfffb5923f82c53ed813ce030245bf1"
        );
        let bare = signed_path_and_query(b"secret", "cat.jpg", &[]);
        assert!(
            bare.starts_with("/v1/images/cat.jpg/thumbnail?sig="),
            "{bare}"
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let message = canonical("/v1/images/a/thumbnail", &[("w", "1"), ("h", "2")]);
        let sig = sign(b"key", &message);
        assert!(verify(b"key", &message, &sig));
        assert!(!verify(b"other", &message, &sig));
        let other = canonical("/v1/images/a/thumbnail", &[("w", "1"), ("h", "3")]);
        assert!(!verify(b"key", &other, &sig));
        assert!(!verify(b"key", &message, &sig[..62]));
        assert!(!verify(b"key", &message, "not hex"));
        assert_eq!(
            canonical("/p", &[("w", "1"), ("sig", "x")]),
            "/p?w=1",
            "sig is not signed"
        );
    }
}
