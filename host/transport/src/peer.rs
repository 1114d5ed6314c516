//! Who is on the other end: read from the verified certificate, never from a request.

use cdn_certs::{parse_spiffe, Role};
use rustls_pki_types::CertificateDer;
use std::fmt;
use x509_parser::extensions::GeneralName;

/// The role and name of a connected peer, from the `spiffe://imagecdn/<role>/<name>` URI SAN of
/// the certificate rustls verified against our CA.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub role: Role,
    pub name: String,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.role, self.name)
    }
}

impl Peer {
    /// Reads the identity of the end-entity certificate of a verified chain.
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<Peer> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let san = cert.subject_alternative_name().ok()??;
        san.value.general_names.iter().find_map(|name| match name {
            GeneralName::URI(uri) => parse_spiffe(uri).map(|(role, name)| Peer { role, name }),
            _ => None,
        })
    }

    /// The identity of a QUIC connection's peer, if it presented a certificate with one.
    pub fn of_connection(connection: &quinn::Connection) -> Option<Peer> {
        let identity = connection.peer_identity()?;
        let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
        chain.first().and_then(Peer::from_certificate)
    }
}
