//! Roles and names, and the SPIFFE-style URI that binds them into a certificate.

use crate::CertError;
use std::fmt;
use std::str::FromStr;

/// The name of the default worker and client identities that every `init` makes.
pub const DEFAULT_NAME: &str = "default";

const SPIFFE_PREFIX: &str = "spiffe://imagecdn/";

/// Who a certificate speaks for. The master authorises every request by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Master,
    Worker,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "master" => Ok(Role::Master),
            "worker" => Ok(Role::Worker),
            "client" => Ok(Role::Client),
            other => Err(CertError::InvalidRole(other.chars().take(40).collect())),
        }
    }
}

/// The longest worker/client/master name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a worker/client/master name: `cdn_common::name`'s rule (the one image ids follow), at
/// most 64 characters. Names become file names and URI path segments, so nothing path-like gets
/// through.
pub fn validate_name(name: &str) -> Result<(), CertError> {
    cdn_common::name::check(name, MAX_NAME_LEN).map_err(|why| CertError::InvalidName {
        name: name.chars().take(80).collect(),
        why,
    })
}

/// `spiffe://imagecdn/<role>/<name>`.
pub fn spiffe_uri(role: Role, name: &str) -> String {
    format!("{SPIFFE_PREFIX}{role}/{name}")
}

/// The role and name in a `spiffe://imagecdn/<role>/<name>` URI, if it is one with a valid name.
pub fn parse_spiffe(uri: &str) -> Option<(Role, String)> {
    let rest = uri.strip_prefix(SPIFFE_PREFIX)?;
    let (role, name) = rest.split_once('/')?;
    let role = role.parse().ok()?;
    validate_name(name).ok()?;
    Some((role, name.to_string()))
}

/// The URI subject-alternative names of a DER certificate (empty if it has none or does not
/// parse).
pub fn uri_sans(cert_der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => Some(uri.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_be_paths_are_refused() {
        for bad in ["", ".hidden", "../x", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["w1", "default", "node-a.example_1", &"x".repeat(64)] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn spiffe_round_trip() {
        let uri = spiffe_uri(Role::Worker, "w3");
        assert_eq!(uri, "spiffe://imagecdn/worker/w3");
        assert_eq!(parse_spiffe(&uri), Some((Role::Worker, "w3".into())));
        assert_eq!(parse_spiffe("spiffe://imagecdn/admin/x"), None);
        assert_eq!(parse_spiffe("spiffe://imagecdn/worker/../x"), None);
        assert_eq!(parse_spiffe("spiffe://other/worker/x"), None);
    }
}
