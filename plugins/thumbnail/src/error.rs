//! The errors of making a thumbnail. Each one displays as a single line a user can act on; the
//! ABI v1 command prints exactly that line on stderr.

use std::fmt;

/// Why an image could not be made into a thumbnail (exit code 1 of the command).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbError {
    #[error("empty input")]
    Empty,
    #[error("unsupported format ({0})")]
    UnsupportedFormat(&'static str),
    #[error("image is {width}x{height}, over the {limit} limit")]
    TooLarge {
        width: u64,
        height: u64,
        limit: PixelLimit,
    },
    #[error("truncated {format}: the data ends before the image does")]
    Truncated { format: &'static str },
    #[error("corrupt {format}: {detail}")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("unsupported {format}: {detail}")]
    Unsupported {
        format: &'static str,
        detail: String,
    },
    #[error("{format} needs more memory to decode than allowed (a decompression bomb?)")]
    DecoderLimit { format: &'static str },
    #[error("could not resize: {0}")]
    Resize(String),
    #[error("could not encode {format}: {detail}")]
    Encode {
        format: &'static str,
        detail: String,
    },
}

impl ThumbError {
    pub(crate) fn corrupt(format: &'static str, detail: impl fmt::Display) -> Self {
        ThumbError::Corrupt {
            format,
            detail: one_line(&detail.to_string()),
        }
    }

    pub(crate) fn encode(format: &'static str, detail: impl fmt::Display) -> Self {
        ThumbError::Encode {
            format,
            detail: one_line(&detail.to_string()),
        }
    }
}

/// The largest image (in pixels) a caller allows; shown as "100 megapixel" when it is a whole
/// number of megapixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelLimit(pub u64);

impl fmt::Display for PixelLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1_000_000 && self.0.is_multiple_of(1_000_000) {
            write!(f, "{} megapixel", self.0 / 1_000_000)
        } else {
            write!(f, "{} pixel", self.0)
        }
    }
}

/// Messages from the decoders go on one line, whatever they contain.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
