//! TLS for QUIC: identities from a certificate folder, and quinn configurations that require
//! mutual authentication against our CA (rustls with the ring provider, TLS 1.3, no 0-RTT).

use crate::peer::Peer;
use cdn_certs::{files, Role, CA_CERT};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The ALPN protocol id of this protocol version.
pub const ALPN: &[u8] = b"imagecdn/1";

/// A connection with no traffic for this long is closed...
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// ...so both sides send a keep-alive this often. (The effective idle timeout is the smaller of
/// both peers'; one side's keep-alives suffice.)
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The idle timeout of connections made by [`crate::Dialer`] (workers and the client): a
/// master that died without a word (`kill -9`, its machine gone) is noticed after this long,
/// well within a lease's time, and the worker moves to the next master. The smaller of both
/// peers' timeouts applies, so this side alone decides.
pub const DIALER_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// ...with a keep-alive this often.
pub const DIALER_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Why an identity could not be loaded or a TLS configuration built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path} is missing: make certificates with `cdn-certs init --dir {dir}` (or point --certs at the folder that has them)")]
    MissingFile { path: PathBuf, dir: PathBuf },
    #[error("{path}: {why}")]
    BadFile { path: PathBuf, why: String },
    #[error("{path} has no imagecdn identity (a spiffe://imagecdn/<role>/<name> URI SAN)")]
    NoIdentity { path: PathBuf },
    #[error("{path} is a {found} certificate, but this program needs a {wanted} certificate")]
    WrongRole {
        path: PathBuf,
        found: Role,
        wanted: Role,
    },
    #[error(transparent)]
    Names(#[from] cdn_certs::CertError),
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("invalid server limit: {0}")]
    Limit(String),
}

/// Our certificate chain and key, the CA we trust, and who the certificate says we are.
#[derive(Debug)]
pub struct Identity {
    pub peer: Peer,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            peer: self.peer.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            roots: self.roots.clone(),
        }
    }
}

impl Identity {
    /// Loads the identity of `role` (and `name`, for a named worker or client) from a
    /// certificate folder laid out by `cdn-certs` (DESIGN §4).
    pub fn load(dir: &Path, role: Role, name: Option<&str>) -> Result<Identity, TlsError> {
        let files = files(dir, role, name)?;
        let identity = Identity::from_files(&dir.join(CA_CERT), &files.cert, &files.key)?;
        if identity.peer.role != role {
            return Err(TlsError::WrongRole {
                path: files.cert,
                found: identity.peer.role,
                wanted: role,
            });
        }
        Ok(identity)
    }

    /// Loads an identity from explicit files.
    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let roots = Arc::new(load_roots(ca)?);
        let chain = load_certs(cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
        let peer = chain
            .first()
            .and_then(Peer::from_certificate)
            .ok_or_else(|| TlsError::NoIdentity {
                path: cert.to_path_buf(),
            })?;
        Ok(Identity {
            peer,
            chain,
            key,
            roots,
        })
    }

    /// The server side: requires every client to present a certificate signed by our CA.
    /// Peers may open [`crate::limits::DEFAULT_MAX_STREAMS_PER_CONN`] requests at once per
    /// connection (see [`Identity::server_config_with`]).
    pub fn server_config(&self) -> Result<quinn::ServerConfig, TlsError> {
        self.server_config_with(crate::limits::DEFAULT_MAX_STREAMS_PER_CONN)
    }

    /// [`Identity::server_config`] with at most `max_streams_per_conn` bidirectional streams
    /// open at once per connection, and no unidirectional ones (the protocol has none, and each
    /// would buffer up to a stream window of data nobody reads).
    pub fn server_config_with(
        &self,
        max_streams_per_conn: u32,
    ) -> Result<quinn::ServerConfig, TlsError> {
        let provider = provider();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(config_error)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls.max_early_data_size = 0;
        let quic = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        let mut transport = transport();
        transport
            .max_concurrent_bidi_streams(max_streams_per_conn.into())
            .max_concurrent_uni_streams(0u32.into());
        config.transport_config(Arc::new(transport));
        Ok(config)
    }

    /// The client side: presents our certificate and checks the master's against our CA.
    pub fn client_config(&self) -> Result<quinn::ClientConfig, TlsError> {
        self.client_config_with(IDLE_TIMEOUT, KEEP_ALIVE)
    }

    /// [`Identity::client_config`] with another idle timeout and keep-alive interval.
    pub fn client_config_with(
        &self,
        idle_timeout: Duration,
        keep_alive: Duration,
    ) -> Result<quinn::ClientConfig, TlsError> {
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(config_error)?;
        let mut config = client_config(tls)?;
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(idle_timeout.try_into().ok());
        transport.keep_alive_interval(Some(keep_alive));
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}

/// A client configuration without a client certificate: the master refuses it. Only for
/// diagnostics and tests that check that refusal.
pub fn anonymous_client_config(ca: &Path) -> Result<quinn::ClientConfig, TlsError> {
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_root_certificates(Arc::new(load_roots(ca)?))
        .with_no_client_auth();
    client_config(tls)
}

fn client_config(mut tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, TlsError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    let quic = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport()));
    Ok(config)
}

fn transport() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(IDLE_TIMEOUT.try_into().ok());
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    transport
}

/// Always ring, chosen explicitly: if two providers are compiled in, rustls cannot pick one.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(e: rustls::Error) -> TlsError {
    TlsError::Config(e.to_string())
}

fn load_roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots.add(cert).map_err(|e| TlsError::BadFile {
            path: ca.to_path_buf(),
            why: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::BadFile {
            path: path.to_path_buf(),
            why: "no certificate in the file".into(),
        });
    }
    Ok(certs)
}

fn pem_error(path: &Path, e: rustls_pki_types::pem::Error) -> TlsError {
    match e {
        rustls_pki_types::pem::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            TlsError::MissingFile {
                path: path.to_path_buf(),
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            }
        }
        other => TlsError::BadFile {
            path: path.to_path_buf(),
            why: other.to_string(),
        },
    }
}
