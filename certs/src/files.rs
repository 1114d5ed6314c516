//! The file names in a certificate folder (DESIGN §4), and writing private keys safely.

use crate::identity::{validate_name, Role, DEFAULT_NAME};
use crate::CertError;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";

/// Where one identity's certificate and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of `role`/`name` in `dir`: `master.pem`/`.key`; `worker.pem`/`.key` and
/// `client.pem`/`.key` for the default identities; `worker-NAME.pem`/`.key` and
/// `client-NAME.pem`/`.key` for named ones.
pub fn files(dir: &Path, role: Role, name: Option<&str>) -> Result<IdentityFiles, CertError> {
    let stem = match (role, name) {
        (Role::Master, _) => "master".to_string(),
        (_, None) => role.as_str().to_string(),
        (_, Some(name)) if name == DEFAULT_NAME => role.as_str().to_string(),
        (_, Some(name)) => {
            validate_name(name)?;
            format!("{role}-{name}")
        }
    };
    Ok(IdentityFiles {
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}.key")),
    })
}

/// Writes a private key readable by its owner only (mode 0600 from the moment it exists).
pub fn write_private_key(path: &Path, pem: &str) -> Result<(), CertError> {
    let what = || format!("writing {}", path.display());
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(CertError::io(what()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(CertError::io(what()))
}
