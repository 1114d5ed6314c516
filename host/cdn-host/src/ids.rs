//! Image ids (and plugin names, which follow the same rule).
//!
//! An id is 1 to 128 characters of `[A-Za-z0-9._-]` and does not start with `.`, so it can never
//! be a path (`../x`, `a/b`), a hidden file, or something that looks different on another
//! terminal (unicode).

use std::fmt;

/// The longest id accepted, in characters (all ASCII, so also in bytes).
pub const MAX_ID_LEN: usize = 128;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is {len} characters long, over the limit of {MAX_ID_LEN}")]
    TooLong { len: usize },
    #[error("id starts with '.'")]
    LeadingDot,
    #[error("id contains {found:?} at position {position}; allowed are A-Z a-z 0-9 . _ -")]
    BadChar { found: char, position: usize },
}

/// Checks an id against the rule; `Ok(())` when it is acceptable.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some((position, found)) = id
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(IdError::BadChar { found, position });
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { len: id.len() });
    }
    if id.starts_with('.') {
        return Err(IdError::LeadingDot);
    }
    Ok(())
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
            Err(IdError::BadChar {
                found: '/',
                position: 2
            })
        );
        assert_eq!(
            validate_id("a/b"),
            Err(IdError::BadChar {
                found: '/',
                position: 1
            })
        );
        assert_eq!(validate_id(""), Err(IdError::Empty));
        assert_eq!(
            validate_id(&"a".repeat(129)),
            Err(IdError::TooLong { len: 129 })
        );
        assert_eq!(validate_id(".hidden"), Err(IdError::LeadingDot));
        assert_eq!(
            validate_id("café"),
            Err(IdError::BadChar {
                found: 'é',
                position: 3
            })
        );
        assert!(matches!(
            validate_id("x\0y"),
            Err(IdError::BadChar { found: '\0', .. })
        ));
        assert!(matches!(
            validate_id("a b"),
            Err(IdError::BadChar { found: ' ', .. })
        ));
        let msg = validate_id("a/b").unwrap_err().to_string();
        assert!(msg.contains("'/'") && msg.contains("allowed"), "{msg}");
        assert!(ImageId::parse("../x").is_err());
    }
}
