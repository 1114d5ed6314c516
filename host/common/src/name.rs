//! The rule for names that become file names or URI segments: image ids, plugin names, and the
//! names in certificates.
//!
//! A name is 1 to `max_len` characters of `[A-Za-z0-9._-]` and does not start with `.`, so it
//! can never be a path (`../x`, `a/b`), a hidden file, or something that looks different on
//! another terminal (unicode).

/// Why a name was refused. The messages say "name"; callers put their own noun before them
/// (`id`, `plugin name`, `worker name`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is {len} characters long, over the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("starts with '.'")]
    LeadingDot,
    #[error("contains {found:?} at position {position}; allowed are A-Z a-z 0-9 . _ -")]
    BadChar { found: char, position: usize },
}

/// Whether `c` may appear in a name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Checks `name` against the rule.
pub fn check(name: &str, max_len: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((position, found)) = name.chars().enumerate().find(|(_, c)| !is_name_char(*c)) {
        return Err(NameError::BadChar { found, position });
    }
    if name.len() > max_len {
        return Err(NameError::TooLong {
            len: name.len(),
            max: max_len,
        });
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["a", "img_100.jpg", "A-b.c_d", "0"] {
            assert_eq!(check(ok, 128), Ok(()), "{ok}");
        }
        assert_eq!(check(&"x".repeat(64), 64), Ok(()));
    }

    #[test]
    fn refuses_path_like_and_odd_names() {
        assert_eq!(check("", 8), Err(NameError::Empty));
        assert_eq!(check(".hidden", 8), Err(NameError::LeadingDot));
        assert_eq!(check("..", 8), Err(NameError::LeadingDot));
        assert_eq!(
            check("../x", 8),
            Err(NameError::BadChar {
                found: '/',
                position: 2
            })
        );
        assert!(matches!(
            check("caf\u{e9}", 8),
            Err(NameError::BadChar { .. })
        ));
        assert!(matches!(check("a b", 8), Err(NameError::BadChar { .. })));
        assert_eq!(
            check(&"x".repeat(9), 8),
            Err(NameError::TooLong { len: 9, max: 8 })
        );
    }
}
