//! Integrity of cached compiled code: every file carries an HMAC-SHA256 tag under a key that
//! only this user can read, so a file not written by us (or damaged, or truncated) is refused
//! before wasmtime deserialises it. A plain hash would not do: whoever can write a file can
//! recompute its hash.
//!
//! The key is 32 bytes from the operating system's CSPRNG in `integrity.key` (mode 0600) in the
//! cache folder, made on first use: written to a temporary file created with `O_EXCL`, synced,
//! then hard-linked to its name, which fails if another process got there first (its key is
//! then used). A reader never sees half a key.
//!
//! A cached file is `MAGIC`, the 32-byte tag, then the bytes of `Module::serialize`. The tag
//! covers the file's name as well, so a valid file cannot stand in for another plugin's.

use super::folder::effective_uid;
use crate::RunError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The key file's name in the cache folder.
const KEY_FILE: &str = "integrity.key";
const KEY_LEN: usize = 32;
/// The first bytes of a cached module file (format version 1).
const MAGIC: &[u8; 8] = b"cdncwm1\0";
const TAG_LEN: usize = 32;
/// Bytes before the module's own.
pub(super) const HEADER_LEN: usize = MAGIC.len() + TAG_LEN;

type HmacSha256 = Hmac<Sha256>;

/// The secret that tags this cache folder's files.
pub(super) struct Key([u8; KEY_LEN]);

impl Key {
    /// Reads the folder's key, or makes it if there is none yet.
    pub(super) fn load_or_create(dir: &Path) -> Result<Key, RunError> {
        let path = dir.join(KEY_FILE);
        match read_key(&path)? {
            Some(key) => Ok(key),
            None => {
                create_key(dir, &path)?;
                read_key(&path)?.ok_or_else(|| RunError::Cache {
                    path: path.clone(),
                    problem: "the key file vanished right after it was made".into(),
                })
            }
        }
    }

    /// The header (magic and tag) of the file `name` holding `module`.
    pub(super) fn header(&self, name: &str, module: &[u8]) -> [u8; HEADER_LEN] {
        let tag = self.mac(name, module).finalize().into_bytes();
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        header[MAGIC.len()..].copy_from_slice(&tag);
        header
    }

    /// The module bytes of the file `name` whose contents are `file`, if its tag is right.
    pub(super) fn open<'a>(&self, name: &str, file: &'a [u8]) -> Result<&'a [u8], &'static str> {
        if file.len() < HEADER_LEN {
            return Err("too short to hold a tag");
        }
        let (header, module) = file.split_at(HEADER_LEN);
        let (magic, tag) = header.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err("not a tagged compiled plugin");
        }
        self.mac(name, module)
            .verify_slice(tag)
            .map_err(|_| "its integrity tag does not match (changed, truncated, or not ours)")?;
        Ok(module)
    }

    fn mac(&self, name: &str, module: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"imagecdn compiled plugin\0");
        mac.update(name.as_bytes());
        mac.update(b"\0");
        mac.update(module);
        mac
    }
}

/// The key in `path`, `None` if there is no such file, an error if it is not a private key file
/// of ours.
fn read_key(path: &Path) -> Result<Option<Key>, RunError> {
    let problem = |problem: String| RunError::Cache {
        path: path.to_path_buf(),
        problem,
    };
    let remove_hint = || {
        format!(
            "remove it (rm {}) and a new key is made; the cached plugins are then compiled again",
            path.display()
        )
    };
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(problem(format!(
                "cannot open the cache's integrity key ({e}); {}",
                remove_hint()
            )))
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| problem(format!("cannot read the cache's integrity key ({e})")))?;
    let mode = meta.mode() & 0o7777;
    if !meta.is_file() || meta.uid() != effective_uid() || mode & 0o077 != 0 {
        return Err(problem(format!(
            "the cache's integrity key must be a file of this user with mode 0600 (it is user \
             {}, mode {mode:04o}); {}",
            meta.uid(),
            remove_hint()
        )));
    }
    let mut key = [0u8; KEY_LEN];
    let mut rest = Vec::new();
    file.read_exact(&mut key)
        .and_then(|()| file.read_to_end(&mut rest))
        .map_err(|e| {
            problem(format!(
                "cannot read the cache's integrity key ({e}); {}",
                remove_hint()
            ))
        })?;
    if !rest.is_empty() {
        return Err(problem(format!(
            "the cache's integrity key is longer than {KEY_LEN} bytes; {}",
            remove_hint()
        )));
    }
    Ok(Some(Key(key)))
}

/// Makes the key file: a fresh key in an `O_EXCL` temporary file (0600), synced, then linked to
/// its name. If another process made the key meanwhile, theirs stays.
fn create_key(dir: &Path, path: &Path) -> Result<(), RunError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let problem = |problem: String| RunError::Cache {
        path: path.to_path_buf(),
        problem,
    };
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| {
        problem(format!(
            "cannot get random bytes from the operating system for the integrity key ({e})"
        ))
    })?;
    let temp = dir.join(format!(
        ".{KEY_FILE}.{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write_new(&temp, &key).and_then(|()| match std::fs::hard_link(&temp, path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    });
    let _ = std::fs::remove_file(&temp);
    written.map_err(|e| problem(format!("cannot make the cache's integrity key ({e})")))?;
    tracing::info!(key = %path.display(), "made the plugin cache's integrity key");
    Ok(())
}

/// Writes `bytes` to a new file (never an existing one, never through a link), mode 0600, and
/// syncs it.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
