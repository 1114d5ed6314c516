//! What a caller asks for (box, fit, format, quality, size limit) and how it is read from argv.
//!
//! The parser ignores nothing silently (DESIGN §2): an unknown flag, a flag given twice, a
//! missing or malformed value and a stray positional argument are all errors. Both
//! `--width 128` and `--width=128` are accepted.

use std::fmt;
use std::str::FromStr;

/// How the image is fitted into the `width` x `height` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// The whole image, scaled to fit inside the box, aspect ratio kept (one side may be shorter).
    #[default]
    Contain,
    /// The box filled exactly: scaled to cover it, then the centre cropped out.
    Cover,
}

/// The encoding of the thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Baseline JPEG at `quality`; transparency is flattened onto white.
    #[default]
    Jpeg,
    /// PNG, 8 bits per channel, alpha kept.
    Png,
    /// Lossless WebP, alpha kept (`quality` is ignored).
    Webp,
}

impl Format {
    /// The usual file extension and the name used in flags and messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// The MIME type of the encoded thumbnail.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that decides what thumbnail an image gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Width of the box, in pixels (at least 1).
    pub width: u32,
    /// Height of the box, in pixels (at least 1).
    pub height: u32,
    pub fit: Fit,
    pub format: Format,
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// Largest source image accepted, in pixels; checked against the header before decoding.
    pub max_pixels: u64,
}

impl Default for Params {
    /// DESIGN §6: 256x256, fit inside, JPEG quality 80, 100 megapixels.
    fn default() -> Self {
        Params {
            width: 256,
            height: 256,
            fit: Fit::Contain,
            format: Format::Jpeg,
            quality: 80,
            max_pixels: 100_000_000,
        }
    }
}

/// The command line's usage text (printed on stderr by `--help`).
pub const USAGE: &str = "\
usage: thumbnail [--width N] [--height N] [--fit contain|cover] [--format jpeg|png|webp]
                 [--quality 1-100] [--max-pixels N] < image > thumbnail
Reads a JPEG, PNG or WebP image on stdin and writes its thumbnail on stdout.
  --width N, --height N   the box, in pixels (default 256 x 256)
  --fit contain           whole image inside the box, aspect ratio kept (default)
  --fit cover             fill the box exactly, centre cropped
  --format jpeg|png|webp  output format (default jpeg; png and webp keep transparency)
  --quality 1-100         JPEG quality (default 80)
  --max-pixels N          refuse larger sources, checked before decoding (default 100000000)
Images are never enlarged: a source smaller than the box keeps its size.
Errors: one line on stderr; exit code 1 for a bad image, 2 for bad arguments.";

/// A command line that cannot be used (exit code 2 of the command).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// `--help` or `-h`: not a failure, the caller prints [`USAGE`] and exits 0.
    #[error("help requested")]
    Help,
    #[error("unknown flag {0} (see --help)")]
    UnknownFlag(String),
    #[error("unexpected argument {0:?}: parameters are flags such as --width 128")]
    Unexpected(String),
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    #[error("{flag} given twice")]
    Repeated { flag: &'static str },
    #[error("bad value {value:?} for {flag}: expected {expected}")]
    BadValue {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Reads [`Params`] from command-line arguments (without argv\[0\]); unset flags keep their
/// [`Default`].
pub fn parse_args<I, S>(args: I) -> Result<Params, ArgsError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut params = Params::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_ref();
        if arg == "--help" || arg == "-h" {
            return Err(ArgsError::Help);
        }
        if !arg.starts_with("--") {
            return Err(ArgsError::Unexpected(arg.to_string()));
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg, None),
        };
        let (flag, kind) = FLAGS
            .iter()
            .copied()
            .find(|(flag, _)| *flag == name)
            .ok_or_else(|| ArgsError::UnknownFlag(name.to_string()))?;
        if seen.contains(&flag) {
            return Err(ArgsError::Repeated { flag });
        }
        seen.push(flag);
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .map(|v| v.as_ref().to_string())
                .ok_or(ArgsError::MissingValue(flag))?,
        };
        match kind {
            Flag::Width => {
                params.width = number(flag, &value, 1, u32::MAX, "a width of 1 or more")?
            }
            Flag::Height => {
                params.height = number(flag, &value, 1, u32::MAX, "a height of 1 or more")?
            }
            Flag::Quality => params.quality = number(flag, &value, 1, 100, "1-100")?,
            Flag::MaxPixels => {
                params.max_pixels = number(flag, &value, 1, u64::MAX, "a pixel count of 1 or more")?
            }
            Flag::Fit => {
                params.fit = match value.as_str() {
                    "contain" => Fit::Contain,
                    "cover" => Fit::Cover,
                    _ => return Err(bad(flag, &value, "contain or cover")),
                }
            }
            Flag::Format => {
                params.format = match value.to_ascii_lowercase().as_str() {
                    "jpeg" | "jpg" => Format::Jpeg,
                    "png" => Format::Png,
                    "webp" => Format::Webp,
                    _ => return Err(bad(flag, &value, "jpeg, png or webp")),
                }
            }
        }
    }
    Ok(params)
}

#[derive(Clone, Copy)]
enum Flag {
    Width,
    Height,
    Fit,
    Format,
    Quality,
    MaxPixels,
}

const FLAGS: &[(&str, Flag)] = &[
    ("--width", Flag::Width),
    ("--height", Flag::Height),
    ("--fit", Flag::Fit),
    ("--format", Flag::Format),
    ("--quality", Flag::Quality),
    ("--max-pixels", Flag::MaxPixels),
];

fn number<T: FromStr + PartialOrd>(
    flag: &'static str,
    value: &str,
    min: T,
    max: T,
    expected: &'static str,
) -> Result<T, ArgsError> {
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(bad(flag, value, expected)),
    }
}

fn bad(flag: &'static str, value: &str, expected: &'static str) -> ArgsError {
    ArgsError::BadValue {
        flag,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_flag() {
        assert_eq!(parse_args(Vec::<String>::new()), Ok(Params::default()));
        let p = parse_args([
            "--width",
            "100",
            "--height=50",
            "--fit",
            "cover",
            "--format",
            "png",
            "--quality",
            "95",
            "--max-pixels",
            "1000",
        ])
        .expect("valid arguments");
        assert_eq!(
            p,
            Params {
                width: 100,
                height: 50,
                fit: Fit::Cover,
                format: Format::Png,
                quality: 95,
                max_pixels: 1000
            }
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let err = |args: &[&str]| parse_args(args).expect_err("must be refused");
        assert_eq!(
            err(&["--colour", "red"]),
            ArgsError::UnknownFlag("--colour".into())
        );
        assert_eq!(err(&["--width"]), ArgsError::MissingValue("--width"));
        assert_eq!(err(&["big"]), ArgsError::Unexpected("big".into()));
        assert_eq!(
            err(&["--width", "1", "--width", "2"]),
            ArgsError::Repeated { flag: "--width" }
        );
        assert!(matches!(
            err(&["--width", "0"]),
            ArgsError::BadValue {
                flag: "--width",
                ..
            }
        ));
        assert!(matches!(
            err(&["--width", "-5"]),
            ArgsError::BadValue { .. }
        ));
        assert!(matches!(
            err(&["--quality", "101"]),
            ArgsError::BadValue { .. }
        ));
        assert!(matches!(
            err(&["--fit", "stretch"]),
            ArgsError::BadValue { .. }
        ));
        assert!(matches!(
            err(&["--format", "gif"]),
            ArgsError::BadValue { .. }
        ));
        assert_eq!(err(&["--help"]), ArgsError::Help);
        assert_eq!(
            err(&["--fit", "stretch"]).to_string(),
            "bad value \"stretch\" for --fit: expected contain or cover"
        );
    }
}
