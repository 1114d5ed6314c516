//! Exit codes, and which one an error gets (the table is in `main.rs` and `cdn --help`).

/// The master answered with an error frame `{"error": {"kind", "message"}}`. Prints as
/// `KIND: MESSAGE`; the process exits [`Exit::Refused`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: {}",
    crate::output::printable(kind),
    crate::output::printable(message)
)]
pub struct Refused {
    pub kind: String,
    pub message: String,
}

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: a local or connection problem.
    Local,
    /// 2: a bad command line. (Clap exits with it itself; listed for completeness.)
    #[allow(dead_code)]
    Usage,
    /// 3: the master refused the request.
    Refused,
    /// 4: `wait` timed out.
    TimedOut,
    /// 5: `wait`: at least one image failed.
    Failed,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Local => 1,
            Exit::Usage => 2,
            Exit::Refused => 3,
            Exit::TimedOut => 4,
            Exit::Failed => 5,
        }
    }
}

/// The exit code of an error: [`Exit::Refused`] if the master refused (anywhere in the cause
/// chain), else [`Exit::Local`] (files, certificates, connection).
pub fn exit_for(error: &anyhow::Error) -> Exit {
    if refusal(error).is_some() {
        Exit::Refused
    } else {
        Exit::Local
    }
}

/// The master's refusal in an error's cause chain, if there is one.
pub fn refusal(error: &anyhow::Error) -> Option<&Refused> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Refused>())
}

/// The help text listing the exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  local or connection problem (file unreadable, certificates missing or wrong,
     master unreachable, TLS refused, connection lost)
  2  bad command line
  3  the master refused the request (printed as `cdn: KIND: MESSAGE`);
     `register --dir`: at least one file was refused
  4  `wait` timed out (the unfinished ids are printed)
  5  `wait`: everything finished but at least one image is `failed`";

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use cdn_proto::kind;
    use cdn_transport::ClientError;

    fn refused(kind: &str) -> anyhow::Error {
        Refused {
            kind: kind.into(),
            message: "no".into(),
        }
        .into()
    }

    #[test]
    fn every_master_error_kind_exits_3() {
        for k in [
            kind::BAD_REQUEST,
            kind::FORBIDDEN,
            kind::INVALID_ID,
            kind::INVALID_PARAMS,
            kind::CONFLICT,
            kind::TOO_LARGE,
            kind::EMPTY_BODY,
            kind::UNKNOWN_PLUGIN,
            kind::NOT_FOUND,
            kind::NOT_DONE,
            kind::INTERNAL,
        ] {
            assert_eq!(exit_for(&refused(k)), Exit::Refused, "{k}");
            assert_eq!(exit_for(&refused(k)).code(), 3);
        }
        // Context on top does not hide the refusal.
        let wrapped = Err::<(), _>(refused(kind::CONFLICT))
            .context("registering a.jpg")
            .unwrap_err();
        assert_eq!(exit_for(&wrapped), Exit::Refused);
        assert_eq!(refusal(&wrapped).map(|r| r.kind.as_str()), Some("conflict"));
    }

    #[test]
    fn local_and_connection_problems_exit_1() {
        let io = anyhow::Error::from(std::io::Error::new(std::io::ErrorKind::NotFound, "missing"))
            .context("cannot read a.jpg");
        assert_eq!(exit_for(&io), Exit::Local);
        assert_eq!(exit_for(&ClientError::TimedOut.into()), Exit::Local);
        assert_eq!(
            exit_for(&ClientError::Connection("lost".into()).into()),
            Exit::Local
        );
        assert_eq!(Exit::Local.code(), 1);
    }

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            Exit::Success,
            Exit::Local,
            Exit::Usage,
            Exit::Refused,
            Exit::TimedOut,
            Exit::Failed,
        ];
        for (i, exit) in all.iter().enumerate() {
            assert_eq!(exit.code() as usize, i);
            assert!(EXIT_CODES_HELP.contains(&format!("  {i}  ")), "{i}");
        }
        assert_eq!(refused("conflict").to_string(), "conflict: no");
    }
}
