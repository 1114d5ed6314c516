//! Who is on the other end: read from the verified certificate, never from a request.

use cdn_certs::{parse_spiffe, uri_sans, Role};
use rustls_pki_types::CertificateDer;
use std::fmt;

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
        uri_sans(cert.as_ref())
            .iter()
            .find_map(|uri| parse_spiffe(uri))
            .map(|(role, name)| Peer { role, name })
    }

    /// The identity of a QUIC connection's peer, if it presented a certificate with one.
    pub fn of_connection(connection: &quinn::Connection) -> Option<Peer> {
        let identity = connection.peer_identity()?;
        let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
        chain.first().and_then(Peer::from_certificate)
    }
}
