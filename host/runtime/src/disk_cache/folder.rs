//! The cache folder must be ours alone: compiled code read from it runs outside the sandbox, so
//! whoever can write in it can run code as every process that uses it.
//!
//! - Missing: created with mode 0700 (missing parents too).
//! - Owned by another user: refused.
//! - Writable by its group or by others: refused, not repaired. Someone else may already have
//!   put files (or the integrity key) there, so only the owner can judge: the error says how to
//!   fix it (`chmod 700 DIR`, or remove the folder).
//! - Ours and not writable by anyone else, but readable or searchable by others (0755, as
//!   folders made before this check were): tightened to 0700. Nobody else can have written in
//!   it, so nothing in it is suspect; reading alone would not have let anyone in.

use crate::RunError;
use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// The folder's permission bits: owner only.
const PRIVATE: u32 = 0o700;

/// The effective user id of this process: the owner every cache file must have.
pub(super) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Creates `dir` (0700) if missing, and checks that it is a folder that only this process's
/// user can write to.
pub(super) fn make_private(dir: &Path) -> Result<(), RunError> {
    let problem = |problem: String| RunError::Cache {
        path: dir.to_path_buf(),
        problem,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE)
        .create(dir)
        .map_err(|e| {
            problem(format!(
                "cannot create it ({e}); set IMAGECDN_CACHE_DIR (cdn-local) or --cache (worker) \
                 to a folder of your own"
            ))
        })?;
    let meta = std::fs::metadata(dir).map_err(|e| problem(format!("cannot read it ({e})")))?;
    if !meta.is_dir() {
        return Err(problem(
            "it is not a folder; remove it or choose another cache folder".into(),
        ));
    }
    let me = effective_uid();
    if meta.uid() != me {
        return Err(problem(format!(
            "it belongs to user {}, not to this process's user {me}, and compiled plugins read \
             from it run outside the sandbox; use a folder of your own, or remove it \
             (rm -r {}) so that it is made again",
            meta.uid(),
            dir.display()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(problem(format!(
            "it is writable by its group or by others (mode {mode:04o}), and compiled plugins \
             read from it run outside the sandbox; fix it with `chmod 700 {}` (or remove it if \
             someone else may have written in it: rm -r {})",
            dir.display(),
            dir.display()
        )));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(PRIVATE)).map_err(|e| {
            problem(format!(
                "cannot make it private (mode {mode:04o} to 0700: {e}); run `chmod 700 {}`",
                dir.display()
            ))
        })?;
        tracing::info!(dir = %dir.display(), "plugin cache folder was mode {mode:04o}; now 0700");
    }
    Ok(())
}
