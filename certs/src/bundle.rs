//! `cdn-certs bundle`: the certificate folder for one machine — its own certificate and key,
//! and `ca.pem` to check its peers — never `ca.key`, which stays on the machine that issues.

use crate::files::{files, write_private_key, IdentityFiles, CA_CERT, CA_KEY};
use crate::identity::{parse_spiffe, spiffe_uri, uri_sans, Role, DEFAULT_NAME};
use crate::CertError;
use std::path::{Path, PathBuf};

/// What to bundle, from where, to where.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// The issuing folder (`cdn-certs init`'s), which holds `ca.pem` and the identity.
    pub dir: PathBuf,
    pub role: Role,
    /// The worker's or client's name (`None`: the default identity, `worker.pem`/`client.pem`).
    /// For the master, `master.pem` is used whatever the name; a name, if given, must be the one
    /// in its certificate.
    pub name: Option<String>,
    /// The folder to write (made if missing).
    pub out: PathBuf,
    /// Replace files in `out` whose contents differ.
    pub force: bool,
}

/// What happened to one file of the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// Already there with the same bytes.
    Unchanged,
    /// Was there with other bytes, replaced (`force`).
    Replaced,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledFile {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// One file to put into the bundle.
struct Planned {
    path: PathBuf,
    bytes: Vec<u8>,
    private: bool,
    existing: Option<Vec<u8>>,
}

/// Writes the folder for one machine: `ca.pem`, and the identity's certificate and key under
/// the names the binaries look for ([`files`]). Keys are 0600. Nothing is written unless every
/// file can be: a file in `out` with other contents is refused without `force`, and a `ca.key`
/// in `out` is always refused. The identity is checked first: it must exist, carry the role
/// and name asked for, be signed by `ca.pem`, and match its key.
pub fn bundle(options: &BundleOptions) -> Result<Vec<BundledFile>, CertError> {
    let BundleOptions {
        dir, role, name, ..
    } = options;
    let source = files(dir, *role, name.as_deref())?;
    let ca_pem = read_ca(dir)?;
    let cert_pem = read_identity(options, &source, &source.cert)?;
    let key_pem = read_identity(options, &source, &source.key)?;
    check_identity(options, &source, &ca_pem, &cert_pem, &key_pem)?;

    let out = &options.out;
    if same_folder(dir, out) {
        return Err(CertError::BundleIntoSource {
            dir: dir.display().to_string(),
        });
    }
    let ca_key = out.join(CA_KEY);
    if ca_key.symlink_metadata().is_ok() {
        return Err(CertError::CaKeyInBundle {
            path: ca_key.display().to_string(),
        });
    }
    let target = files(out, *role, name.as_deref())?;
    let mut plan = Vec::new();
    for (path, bytes, private) in [
        (out.join(CA_CERT), ca_pem, false),
        (target.cert, cert_pem, false),
        (target.key, key_pem, true),
    ] {
        let existing = read_if_exists(&path)?;
        plan.push(Planned {
            path,
            bytes,
            private,
            existing,
        });
    }
    let conflicts: Vec<String> = plan
        .iter()
        .filter(|p| p.existing.as_ref().is_some_and(|e| *e != p.bytes))
        .map(|p| p.path.display().to_string())
        .collect();
    if !conflicts.is_empty() && !options.force {
        return Err(CertError::BundleConflict {
            paths: conflicts.join(", "),
        });
    }

    make_folder(out)?;
    plan.into_iter().map(|planned| write(&planned)).collect()
}

/// A warning when `dir`, a folder a worker or client reads its certificate from, also holds
/// the CA's private key (anyone who can read it can make certificates for any role, the
/// master's included). `None` when there is no `ca.key` in `dir`.
pub fn ca_key_warning(dir: &Path) -> Option<String> {
    let key = dir.join(CA_KEY);
    key.symlink_metadata().ok()?;
    Some(format!(
        "{} is the CA's private key: whoever can read it can make certificates for any role, \
         the master's included. Only the machine that issues certificates needs it; give this \
         machine a folder of its own with `cdn-certs bundle --dir {} --role ROLE --name NAME \
         --out FOLDER` (it holds ca.pem and this machine's certificate and key, never ca.key)",
        key.display(),
        dir.display()
    ))
}

fn read_ca(dir: &Path) -> Result<Vec<u8>, CertError> {
    let path = dir.join(CA_CERT);
    std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CertError::NoCa {
            dir: dir.display().to_string(),
            missing: CA_CERT.to_string(),
        },
        _ => CertError::Io {
            what: format!("reading {}", path.display()),
            source,
        },
    })
}

/// The `cdn-certs issue` command that makes the identity in `options`.
fn issue_command(options: &BundleOptions) -> String {
    let name = match (options.role, options.name.as_deref()) {
        (Role::Master, None) => "localhost",
        (_, None) => DEFAULT_NAME,
        (_, Some(name)) => name,
    };
    format!(
        "cdn-certs issue --dir {} --role {} --name {name}",
        options.dir.display(),
        options.role
    )
}

fn identity_label(options: &BundleOptions) -> String {
    match (options.role, options.name.as_deref()) {
        (Role::Master, _) => "master".to_string(),
        (role, None) => format!("default {role}"),
        (role, Some(name)) => format!("{role} {name:?}"),
    }
}

fn read_identity(
    options: &BundleOptions,
    source: &IdentityFiles,
    path: &Path,
) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CertError::NoIdentity {
            identity: identity_label(options),
            dir: options.dir.display().to_string(),
            missing: file_name(path),
            command: issue_command(options),
        },
        _ => CertError::Io {
            what: format!(
                "reading {} (of {})",
                path.display(),
                file_name(&source.cert)
            ),
            source: e,
        },
    })
}

/// The certificate says the role and name asked for, is signed by `ca.pem`, and matches the key.
fn check_identity(
    options: &BundleOptions,
    source: &IdentityFiles,
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<(), CertError> {
    let bad = |path: &Path, why: String| CertError::BadIdentity {
        path: path.display().to_string(),
        why,
    };
    let ca_path = options.dir.join(CA_CERT);
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem)
        .map_err(|e| bad(&ca_path, format!("not a PEM certificate: {e}")))?;
    let ca = ca
        .parse_x509()
        .map_err(|e| bad(&ca_path, format!("not a certificate: {e}")))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem)
        .map_err(|e| bad(&source.cert, format!("not a PEM certificate: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| bad(&source.cert, format!("not a certificate: {e}")))?;

    let found = uri_sans(&pem.contents)
        .iter()
        .find_map(|uri| parse_spiffe(uri));
    let wanted_name = options.name.as_deref().unwrap_or(DEFAULT_NAME);
    let matches = match &found {
        Some((Role::Master, name)) if options.role == Role::Master => {
            options.name.as_deref().is_none_or(|wanted| wanted == name)
        }
        Some((role, name)) => *role == options.role && name == wanted_name,
        None => false,
    };
    if !matches {
        let found = found.map_or("no imagecdn identity".to_string(), |(role, name)| {
            spiffe_uri(role, &name)
        });
        let wanted = match (options.role, options.name.as_deref()) {
            (Role::Master, None) => "a master identity".to_string(),
            (role, _) => spiffe_uri(role, wanted_name),
        };
        return Err(bad(
            &source.cert,
            format!("its certificate says {found}, not {wanted}"),
        ));
    }
    if cert.issuer() != ca.subject() || cert.verify_signature(Some(ca.public_key())).is_err() {
        return Err(bad(
            &source.cert,
            format!(
                "not signed by {}: reissue it with `{}` --force",
                ca_path.display(),
                issue_command(options)
            ),
        ));
    }
    let key_text = std::str::from_utf8(key_pem)
        .map_err(|_| bad(&source.key, "not a PEM private key (not UTF-8)".to_string()))?;
    let key = rcgen::KeyPair::from_pem(key_text)
        .map_err(|e| bad(&source.key, format!("not a private key: {e}")))?;
    if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
        return Err(bad(
            &source.key,
            format!("is not the key of {}", source.cert.display()),
        ));
    }
    Ok(())
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CertError::Io {
            what: format!("reading {}", path.display()),
            source: e,
        }),
    }
}

/// Makes `out` (and its parents) if missing; a folder made here is 0700 on Unix.
fn make_folder(out: &Path) -> Result<(), CertError> {
    if out.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(out)
        .map_err(CertError::io(format!("creating {}", out.display())))
}

fn write(planned: &Planned) -> Result<BundledFile, CertError> {
    let path = &planned.path;
    let outcome = match &planned.existing {
        None => Outcome::Written,
        Some(existing) if *existing == planned.bytes => Outcome::Unchanged,
        Some(_) => Outcome::Replaced,
    };
    match (outcome, planned.private) {
        (Outcome::Unchanged, true) => restrict(path)?,
        (Outcome::Unchanged, false) => {}
        // Checked to be UTF-8 PEM when the key was parsed, so nothing is lost.
        (_, true) => write_private_key(path, &String::from_utf8_lossy(&planned.bytes))?,
        (_, false) => std::fs::write(path, &planned.bytes)
            .map_err(CertError::io(format!("writing {}", path.display())))?,
    }
    Ok(BundledFile {
        path: path.clone(),
        outcome,
    })
}

/// An existing key with the right bytes still gets mode 0600.
fn restrict(path: &Path) -> Result<(), CertError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(CertError::io(format!("making {} private", path.display())))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
