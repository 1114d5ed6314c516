//! Making the CA and signing role certificates with rcgen.

use crate::files::{files, write_private_key, IdentityFiles, CA_CERT, CA_KEY};
use crate::identity::{spiffe_uri, validate_name, Role, DEFAULT_NAME};
use crate::CertError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// How long a CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a master/worker/client certificate is valid, by default, in days.
pub const LEAF_VALIDITY_DAYS: u32 = 825;

/// A certificate authority that can sign role certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

/// A signed certificate and its private key, in PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What to put in a role certificate.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    pub role: Role,
    pub name: String,
    /// DNS names and IP addresses the master answers to (ignored for workers and clients).
    pub master_names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl LeafSpec {
    /// A certificate for `role`/`name`, valid from an hour ago (clock skew) for 825 days.
    pub fn new(role: Role, name: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            role,
            name: name.to_string(),
            master_names: vec!["localhost".into()],
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(LEAF_VALIDITY_DAYS)),
        }
    }

    /// The same spec, valid from an hour ago until `days` from now.
    pub fn valid_for_days(mut self, days: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now - Duration::hours(1);
        self.not_after = now + Duration::days(i64::from(days));
        self
    }
}

impl Ca {
    /// A new self-signed CA whose subject is `common_name`.
    pub fn generate(common_name: &str) -> Result<Ca, CertError> {
        let key = KeyPair::generate().map_err(CertError::rcgen("generating the CA key"))?;
        let mut params = CertificateParams::default();
        // A CA of its own name: a certificate from another deployment's CA then fails as
        // "unknown issuer", not as a bad signature under a same-named CA.
        let id: String = key
            .public_key_raw()
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        params.distinguished_name = dn(&format!("{common_name} {id}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params
            .self_signed(&key)
            .map_err(CertError::rcgen("signing the CA certificate"))?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA in `dir` (`ca.pem` and `ca.key`).
    pub fn load(dir: &Path) -> Result<Ca, CertError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => CertError::NoCa {
                    dir: dir.display().to_string(),
                    missing: file.to_string(),
                },
                _ => CertError::Io {
                    what: format!("reading {}", path.display()),
                    source: e,
                },
            })
        };
        let cert_pem = read(CA_CERT)?;
        let key = KeyPair::from_pem(&read(CA_KEY)?).map_err(CertError::rcgen(format!(
            "reading {}",
            dir.join(CA_KEY).display()
        )))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(CertError::rcgen(
            format!("reading {}", dir.join(CA_CERT).display()),
        ))?;
        Ok(Ca { issuer, cert_pem })
    }

    /// The CA certificate in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Writes `ca.pem` and `ca.key` (0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CertError> {
        let cert = dir.join(CA_CERT);
        std::fs::write(&cert, &self.cert_pem)
            .map_err(CertError::io(format!("writing {}", cert.display())))?;
        write_private_key(&dir.join(CA_KEY), &self.issuer.key().serialize_pem())
    }

    /// Signs a role certificate.
    pub fn sign(&self, spec: &LeafSpec) -> Result<Leaf, CertError> {
        validate_name(&spec.name)?;
        let what = format!("signing the {} certificate {:?}", spec.role, spec.name);
        let key = KeyPair::generate().map_err(CertError::rcgen(&what))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&format!("imagecdn {} {}", spec.role, spec.name));
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let uri = spiffe_uri(spec.role, &spec.name);
        params.subject_alt_names = vec![SanType::URI(
            uri.try_into().map_err(CertError::rcgen(&what))?,
        )];
        if spec.role == Role::Master {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            for name in &spec.master_names {
                params.subject_alt_names.push(match name.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => {
                        SanType::DnsName(name.clone().try_into().map_err(CertError::rcgen(&what))?)
                    }
                });
            }
            for ip in [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ] {
                if !params.subject_alt_names.contains(&SanType::IpAddress(ip)) {
                    params.subject_alt_names.push(SanType::IpAddress(ip));
                }
            }
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(CertError::rcgen(&what))?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl Leaf {
    /// Writes the certificate and key (0600) under the names of `role`/`name` in `dir`.
    pub fn write(&self, dir: &Path, role: Role, name: &str) -> Result<IdentityFiles, CertError> {
        let files = files(dir, role, Some(name))?;
        std::fs::write(&files.cert, &self.cert_pem)
            .map_err(CertError::io(format!("writing {}", files.cert.display())))?;
        write_private_key(&files.key, &self.key_pem)?;
        Ok(files)
    }
}

/// What `cdn-certs init` makes.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    /// Names the master answers to (DNS names or IPs); 127.0.0.1 and ::1 are always added.
    pub master_names: Vec<String>,
    /// Named workers, besides the default `worker.pem`.
    pub workers: Vec<String>,
    /// Named clients, besides the default `client.pem`.
    pub clients: Vec<String>,
    /// Replace an existing CA (and everything it signed).
    pub force: bool,
    /// How long each master/worker/client certificate is valid, in days.
    pub leaf_days: u32,
}

impl InitOptions {
    /// The defaults of `cdn-certs init` for the folder `dir`: master name `localhost`, the
    /// default worker and client only, no `--force`.
    pub fn new(dir: impl Into<PathBuf>) -> InitOptions {
        InitOptions {
            dir: dir.into(),
            master_names: vec!["localhost".into()],
            workers: Vec::new(),
            clients: Vec::new(),
            force: false,
            leaf_days: LEAF_VALIDITY_DAYS,
        }
    }
}

/// Makes a CA and, signed by it, the master certificate, the default worker and client
/// certificates, and the named ones. Refuses to replace an existing CA unless `force`.
/// Returns the files written, CA first.
pub fn init(options: &InitOptions) -> Result<Vec<PathBuf>, CertError> {
    let dir = &options.dir;
    for name in options.workers.iter().chain(&options.clients) {
        validate_name(name)?;
    }
    for file in [CA_CERT, CA_KEY] {
        let path = dir.join(file);
        if path.exists() && !options.force {
            return Err(CertError::CaExists {
                path: path.display().to_string(),
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(CertError::io(format!("creating {}", dir.display())))?;
    let ca = Ca::generate("imagecdn CA")?;
    ca.save(dir)?;
    let mut written = vec![dir.join(CA_CERT), dir.join(CA_KEY)];

    let master_name = options
        .master_names
        .first()
        .map(String::as_str)
        .unwrap_or("localhost");
    let mut identities = vec![(Role::Master, master_name.to_string())];
    identities.push((Role::Worker, DEFAULT_NAME.to_string()));
    identities.push((Role::Client, DEFAULT_NAME.to_string()));
    identities.extend(options.workers.iter().map(|n| (Role::Worker, n.clone())));
    identities.extend(options.clients.iter().map(|n| (Role::Client, n.clone())));
    for (role, name) in identities {
        let mut spec = LeafSpec::new(role, &name).valid_for_days(options.leaf_days);
        if !options.master_names.is_empty() {
            spec.master_names = options.master_names.clone();
        }
        let files = ca.sign(&spec)?.write(dir, role, &name)?;
        written.push(files.cert);
        written.push(files.key);
    }
    Ok(written)
}

/// Adds one certificate signed by the CA in `dir`. Refuses to replace an existing one unless
/// `force`.
pub fn issue(dir: &Path, spec: &LeafSpec, force: bool) -> Result<IdentityFiles, CertError> {
    let target = files(dir, spec.role, Some(&spec.name))?;
    if target.cert.exists() && !force {
        return Err(CertError::Io {
            what: format!(
                "{} already exists; pass --force to replace it",
                target.cert.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let ca = Ca::load(dir)?;
    ca.sign(spec)?.write(dir, spec.role, &spec.name)
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "imagecdn");
    dn.push(DnType::CommonName, common_name);
    dn
}
