//! Reading [`Params`] from a plugin's argv (ABI v1).
//!
//! The parser ignores nothing silently (DESIGN §2): an unknown flag, a flag given twice, a
//! missing or malformed value and a stray positional argument are all errors. Both
//! `--width 128` and `--width=128` are accepted.

use std::str::FromStr;

use crate::{Fit, Format, Params, MAX_SIDE};

/// The command line's usage text (printed on stderr by `--help`).
pub const USAGE: &str = "\
usage: thumbnail [--width N] [--height N] [--fit contain|cover]
                 [--format jpeg|png|webp|webp-lossy|avif] [--quality 1-100]
                 [--max-pixels N] < image > thumbnail
Reads a JPEG, PNG or WebP image on stdin and writes its thumbnail on stdout.
  --width N, --height N   the box, in pixels, 1-16384 (default 256 x 256)
  --fit contain           whole image inside the box, aspect ratio kept (default)
  --fit cover             fill the box exactly, centre cropped
  --format FORMAT         output format: jpeg (default), png, webp (lossless),
                          webp-lossy or avif; all but jpeg keep transparency
  --quality 1-100         quality of jpeg, webp-lossy and avif (default 80)
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
                params.width = number(flag, &value, 1, MAX_SIDE, "a width of 1 to 16384")?
            }
            Flag::Height => {
                params.height = number(flag, &value, 1, MAX_SIDE, "a height of 1 to 16384")?
            }
            Flag::Quality => params.quality = number(flag, &value, 1, 100, "1-100")?,
            Flag::MaxPixels => {
                params.max_pixels = number(flag, &value, 1, u64::MAX, "a pixel count of 1 or more")?
            }
            Flag::Fit => {
                params.fit = Fit::ALL
                    .into_iter()
                    .find(|fit| fit.name() == value)
                    .ok_or_else(|| bad(flag, &value, "contain or cover"))?
            }
            Flag::Format => {
                params.format = Format::from_name(&value)
                    .ok_or_else(|| bad(flag, &value, "jpeg, png, webp, webp-lossy or avif"))?
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
