//! `cdn-certs`: the trust of an imagecdn deployment (DESIGN §4).
//!
//! One CA signs a certificate for the master (server auth) and for every worker and client
//! (client auth). Each certificate carries its role and name as a URI SAN
//! `spiffe://imagecdn/<role>/<name>`; the master reads the role from the verified certificate to
//! authorise requests. This library makes those certificates and knows the file names every
//! binary looks for in the certificate folder ([`files`]), and writes the folder for one machine
//! ([`bundle`]: its own certificate and key and `ca.pem`, never `ca.key`); `src/main.rs` is the
//! CLI.

mod bundle;
mod files;
mod identity;
mod issue;

pub use bundle::{bundle, ca_key_warning, BundleOptions, BundledFile, Outcome};
pub use files::{files, write_private_key, IdentityFiles, CA_CERT, CA_KEY};
pub use identity::{parse_spiffe, spiffe_uri, uri_sans, validate_name, Role, DEFAULT_NAME};
pub use issue::{init, issue, Ca, InitOptions, Leaf, LeafSpec, LEAF_VALIDITY_DAYS};

/// Everything that can go wrong making or storing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("invalid name {name:?}: it {why}")]
    InvalidName {
        name: String,
        why: cdn_common::name::NameError,
    },
    #[error("unknown role {0:?} (expected master, worker or client)")]
    InvalidRole(String),
    #[error("{path} already exists; pass --force to replace the CA and everything it signed")]
    CaExists { path: String },
    #[error("no CA in {dir} ({missing} is missing): run `cdn-certs init --dir {dir}` first")]
    NoCa { dir: String, missing: String },
    #[error("no {identity} certificate in {dir} ({missing} is missing): make it with `{command}`")]
    NoIdentity {
        identity: String,
        dir: String,
        missing: String,
        command: String,
    },
    #[error("{path}: {why}")]
    BadIdentity { path: String, why: String },
    #[error("{paths}: already there with other contents; pass --force to replace")]
    BundleConflict { paths: String },
    #[error("{path} exists: a bundle folder must never hold the CA key; remove it or choose another --out")]
    CaKeyInBundle { path: String },
    #[error("--out is the certificate folder {dir} itself; a bundle is a separate folder to copy to one machine")]
    BundleIntoSource { dir: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Rcgen {
        what: String,
        #[source]
        source: rcgen::Error,
    },
}

impl CertError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CertError {
        let what = what.into();
        move |source| CertError::Io { what, source }
    }

    pub(crate) fn rcgen(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> CertError {
        let what = what.into();
        move |source| CertError::Rcgen { what, source }
    }
}
