//! Image ids (and plugin names, which follow the same rule): `cdn_common::name`'s rule, at most
//! 128 characters.

use cdn_common::name::{self, NameError};
use std::fmt;

/// The longest id accepted, in characters (all ASCII, so also in bytes).
pub const MAX_ID_LEN: usize = 128;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("id {0}")]
pub struct IdError(#[from] pub NameError);

/// Checks an id against the rule; `Ok(())` when it is acceptable.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    Ok(name::check(id, MAX_ID_LEN)?)
}

/// A checked image id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ImageId(String);

impl ImageId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        validate_id(s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ImageId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl AsRef<str> for ImageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for ok in ["a", "img_100.jpg", "A-b.c_d", "0", "x.", &"a".repeat(128)] {
            assert_eq!(validate_id(ok), Ok(()), "{ok:?}");
            assert_eq!(ImageId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_paths_and_odd_names_saying_why() {
        assert_eq!(
            validate_id("../x"),
            Err(IdError(NameError::BadChar {
                found: '/',
                position: 2
            }))
        );
        assert_eq!(
            validate_id("a/b"),
            Err(IdError(NameError::BadChar {
                found: '/',
                position: 1
            }))
        );
        assert_eq!(validate_id(""), Err(IdError(NameError::Empty)));
        assert_eq!(
            validate_id(&"a".repeat(129)),
            Err(IdError(NameError::TooLong { len: 129, max: 128 }))
        );
        assert_eq!(validate_id(".hidden"), Err(IdError(NameError::LeadingDot)));
        assert_eq!(
            validate_id("café"),
            Err(IdError(NameError::BadChar {
                found: 'é',
                position: 3
            }))
        );
        assert!(matches!(
            validate_id("x\0y"),
            Err(IdError(NameError::BadChar { found: '\0', .. }))
        ));
        assert!(matches!(
            validate_id("a b"),
            Err(IdError(NameError::BadChar { found: ' ', .. }))
        ));
        let msg = validate_id("a/b").unwrap_err().to_string();
        assert!(msg.contains("'/'") && msg.contains("allowed"), "{msg}");
        assert!(ImageId::parse("../x").is_err());
    }
}
