//! The registry's rules that do not depend on the database: which ids are valid, what params
//! look like, whether a lease is current, and what a failure or an expiry does to an image.
//! Both backends ([`super::sqlite`], [`super::postgres`]) read rows and then ask these, so the
//! two cannot drift apart.

use super::{RegistryError, Status};
use crate::ids::{validate_id, ImageId};
use cdn_common::ContentHash;
use cdn_proto::{ErrorView, ImageView, LeaseView, Params, PluginInfo, SourceView, ThumbnailView};

pub(crate) fn check_id(what: &'static str, s: &str) -> Result<(), RegistryError> {
    validate_id(s).map_err(|source| RegistryError::InvalidId { what, source })
}

/// Canonical JSON text (object keys sorted), so equal params compare equal as text.
pub(crate) fn canonical_params(params_json: &str) -> Result<String, RegistryError> {
    let value: serde_json::Value =
        serde_json::from_str(params_json).map_err(RegistryError::InvalidParams)?;
    serde_json::to_string(&value).map_err(RegistryError::InvalidParams)
}

/// The columns of `images` a view is made of, in this order (both backends' tables have them).
pub(crate) const IMAGE_COLUMNS: &str = "id, status, source_blob, source_size, params_json, \
    plugin_name, plugin_hash, attempts, last_error_kind, last_error_msg, lease_deadline, \
    leased_by, thumb_blob, thumb_size, thumb_width, thumb_height, thumb_format, made_by, \
    created_at, updated_at, finished_at";

/// One row of `images` as read ([`IMAGE_COLUMNS`]), before its text is checked.
#[derive(Debug, Clone)]
pub(crate) struct ImageRow {
    pub id: String,
    pub status: String,
    pub source_blob: String,
    pub source_size: i64,
    pub params_json: String,
    pub plugin_name: String,
    pub plugin_hash: String,
    pub attempts: i64,
    pub last_error_kind: Option<String>,
    pub last_error_msg: Option<String>,
    pub lease_deadline: Option<i64>,
    pub leased_by: Option<String>,
    pub thumb_blob: Option<String>,
    pub thumb_size: Option<i64>,
    pub thumb_width: Option<i64>,
    pub thumb_height: Option<i64>,
    pub thumb_format: Option<String>,
    pub made_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl ImageRow {
    /// The protocol's view of the image, or what in the row is not what the registry writes.
    /// The thumbnail's `location` is left empty: where a blob lives is the blob store's to say.
    pub(crate) fn into_view(self) -> Result<ImageView, String> {
        let hash = |what: &str, s: &str| {
            s.parse::<ContentHash>()
                .map_err(|e| format!("{what} of image {:?}: {e}", self.id))
        };
        let number = |what: &str, n: i64| {
            u32::try_from(n).map_err(|_| format!("{what} of image {:?} is {n}", self.id))
        };
        let status = Status::parse(&self.status)
            .ok_or_else(|| format!("unknown status {:?} of image {:?}", self.status, self.id))?;
        let params: Params = serde_json::from_str(&self.params_json)
            .map_err(|e| format!("params of image {:?}: {e}", self.id))?;
        let thumbnail = match &self.thumb_blob {
            Some(blob) => Some(ThumbnailView {
                hash: hash("thumbnail", blob)?,
                size: u64::try_from(self.thumb_size.unwrap_or(0)).unwrap_or(0),
                width: number("thumbnail width", self.thumb_width.unwrap_or(0))?,
                height: number("thumbnail height", self.thumb_height.unwrap_or(0))?,
                format: self.thumb_format.clone().unwrap_or_default(),
                location: String::new(),
            }),
            None => None,
        };
        Ok(ImageView {
            id: ImageId::parse(&self.id)
                .map_err(|e| format!("image id {:?}: {e}", self.id))?
                .as_str()
                .to_string(),
            status,
            source: SourceView {
                hash: hash("source", &self.source_blob)?,
                size: u64::try_from(self.source_size).unwrap_or(0),
            },
            params,
            plugin: PluginInfo {
                hash: hash("plugin", &self.plugin_hash)?,
                name: self.plugin_name,
            },
            attempts: number("attempts", self.attempts)?,
            last_error: self.last_error_kind.map(|kind| ErrorView {
                kind,
                message: self.last_error_msg.unwrap_or_default(),
            }),
            lease: match (self.lease_deadline, self.leased_by) {
                (Some(deadline_ms), Some(worker)) => Some(LeaseView {
                    worker,
                    deadline_ms,
                }),
                _ => None,
            },
            thumbnail,
            made_by: self.made_by,
            created_ms: self.created_at,
            updated_ms: self.updated_at,
            finished_ms: self.finished_at,
        })
    }
}

/// What a backend read about an image's lease, to judge a lease operation by.
#[derive(Debug, Clone)]
pub(crate) struct LeaseRow {
    pub status: Status,
    pub token: Option<i64>,
    pub deadline_ms: Option<i64>,
    pub attempts: u32,
    pub holder: Option<String>,
}

/// Why a one-statement lease update changed nothing, from the lease read again and judged
/// ([`judge_lease`]): its refusal, or, if it is current now, that it changed in between.
pub(crate) fn refusal(
    image_id: &str,
    token: u64,
    judged: Result<u32, RegistryError>,
) -> RegistryError {
    match judged {
        Err(e) => e,
        Ok(_) => RegistryError::Stale {
            image: image_id.to_owned(),
            token,
            reason: "the lease changed while it was being used",
        },
    }
}

/// Accepts an operation carrying `token` (by `worker`, when given) only if it is the current,
/// unexpired lease on `image_id`; returns the image's attempts. The one place that decides
/// whether a lease is current, with one wording for every refusal.
pub(crate) fn judge_lease(
    image_id: &str,
    token: u64,
    worker: Option<&str>,
    now_ms: i64,
    row: Option<LeaseRow>,
) -> Result<u32, RegistryError> {
    let Some(row) = row else {
        return Err(RegistryError::NotFound(image_id.to_owned()));
    };
    let stale = |reason| RegistryError::Stale {
        image: image_id.to_owned(),
        token,
        reason,
    };
    if row.status != Status::Leased {
        return Err(stale("the image is not leased"));
    }
    if row.token != i64::try_from(token).ok() {
        return Err(stale("another lease holds the image"));
    }
    if worker.is_some_and(|w| row.holder.as_deref() != Some(w)) {
        return Err(stale("the lease belongs to another worker"));
    }
    if row.deadline_ms.is_none_or(|d| now_ms > d) {
        return Err(stale("the lease has expired"));
    }
    Ok(row.attempts)
}

/// What a reported failure does to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailOutcome {
    pub attempts: u32,
    pub status: Status,
    pub message: String,
}

/// A failure of the current lease. `attempted`: the plugin ran, so the lease spends its attempt
/// (unless an extend already did, `ran`); otherwise (a task given back unrun) any attempt the
/// lease spent is given back. Not retryable: `failed` at once. Retryable: back to `pending`,
/// unless the image has had `max_attempts` attempts.
pub(crate) fn fail_outcome(
    attempts_before: u32,
    ran: bool,
    attempted: bool,
    retryable: bool,
    max_attempts: u32,
    message: String,
) -> FailOutcome {
    let attempts = match (attempted, ran) {
        (true, false) => attempts_before + 1,
        (false, true) => attempts_before.saturating_sub(1),
        _ => attempts_before,
    };
    let (status, message) = if !attempted {
        (
            if retryable {
                Status::Pending
            } else {
                Status::Failed
            },
            format!("{message} (not counted as an attempt)"),
        )
    } else if !retryable || attempts >= max_attempts {
        (Status::Failed, message)
    } else {
        (Status::Pending, message)
    };
    FailOutcome {
        attempts,
        status,
        message,
    }
}

/// The error kind an expired lease leaves on its image.
pub(crate) const EXPIRED_KIND: &str = "lease_expired";

/// The error message of an expired lease that never reported the plugin running.
pub(crate) const EXPIRED_UNRUN: &str =
    "the lease expired before its worker reported the plugin running (not counted as an attempt)";

/// The message of an expired lease that had spent attempt `{1}` of `{2}`; `{3}` says what
/// follows. Written with PostgreSQL `format` placeholders (`%1$s`...) so that its one-statement
/// expiry builds the same text as [`expiry_outcome`].
pub(crate) const EXPIRED_DURING: &str =
    "the lease expired during attempt %1$s of %2$s (the worker stopped extending it); %3$s";
pub(crate) const NO_ATTEMPTS_LEFT: &str = "no attempts left";
pub(crate) const WILL_RETRY: &str = "will retry";

/// What expiry does to a lease past its deadline: back to `pending`, or `failed` when the image
/// has had `max_attempts` attempts. A lease whose worker never reported the plugin running spent
/// no attempt.
pub(crate) fn expiry_outcome(attempts: u32, ran: bool, max_attempts: u32) -> (Status, String) {
    if !ran {
        return (Status::Pending, EXPIRED_UNRUN.to_string());
    }
    let (status, what_next) = if attempts >= max_attempts {
        (Status::Failed, NO_ATTEMPTS_LEFT)
    } else {
        (Status::Pending, WILL_RETRY)
    };
    let message = EXPIRED_DURING
        .replace("%1$s", &attempts.to_string())
        .replace("%2$s", &max_attempts.to_string())
        .replace("%3$s", what_next);
    (status, message)
}

/// The error kind and message a master's restart leaves on a lease it put back (SQLite only:
/// with a shared registry a starting master cannot tell its own old leases from another's).
pub(crate) const RESTART_KIND: &str = "master_restart";
pub(crate) const RESTART_MESSAGE: &str =
    "the master restarted while the image was leased (not counted as an attempt)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_messages_say_what_happened() {
        assert_eq!(
            expiry_outcome(1, false, 3),
            (Status::Pending, EXPIRED_UNRUN.into())
        );
        let (status, message) = expiry_outcome(3, true, 3);
        assert_eq!(status, Status::Failed);
        assert_eq!(
            message,
            "the lease expired during attempt 3 of 3 (the worker stopped extending it); \
             no attempts left"
        );
        assert_eq!(expiry_outcome(1, true, 3).0, Status::Pending);
    }

    #[test]
    fn an_unrun_failure_gives_its_attempt_back() {
        let out = fail_outcome(2, true, false, true, 3, "gone".into());
        assert_eq!(out.attempts, 1);
        assert_eq!(out.status, Status::Pending);
        assert_eq!(out.message, "gone (not counted as an attempt)");
        let out = fail_outcome(2, false, true, true, 3, "trap".into());
        assert_eq!((out.attempts, out.status), (3, Status::Failed));
    }
}
