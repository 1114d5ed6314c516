//! `cdn-params`: what decides the thumbnail an image gets — the box, how the image fits it, the
//! output format and quality, and the largest source accepted — in one type, [`Params`].
//!
//! Everything that speaks of thumbnail parameters uses this crate, so they cannot drift apart:
//! the default plugin reads its argv with [`parse_args`]; the protocol carries [`Params`] as
//! JSON (feature `serde`); `cdn register` and `cdn-local` take them as flags ([`ParamArgs`],
//! feature `clap`); the master turns a registration into the plugin's argv with
//! [`Params::to_args`]. It depends on nothing of the host and builds for `wasm32-wasip1`.

mod args;
#[cfg(feature = "clap")]
mod cli;

pub use args::{parse_args, ArgsError, USAGE};
#[cfg(feature = "clap")]
pub use cli::ParamArgs;

use std::fmt;

/// The largest thumbnail side accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// The largest source image accepted by default, in pixels (100 megapixels).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// How the image is fitted into the `width` x `height` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Fit {
    /// The whole image, scaled to fit inside the box, aspect ratio kept (one side may be shorter).
    #[default]
    Contain,
    /// The box filled exactly: scaled to cover it, then the centre cropped out.
    Cover,
}

impl Fit {
    /// Every fit, in the order help texts list them.
    pub const ALL: [Fit; 2] = [Fit::Contain, Fit::Cover];

    /// The name used in flags, JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            Fit::Contain => "contain",
            Fit::Cover => "cover",
        }
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The encoding of the thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Baseline JPEG at `quality`; transparency is flattened onto white.
    #[default]
    #[cfg_attr(feature = "clap", value(alias = "jpg"))]
    Jpeg,
    /// PNG, 8 bits per channel, alpha kept.
    Png,
    /// Lossless WebP, alpha kept (`quality` is ignored).
    Webp,
    /// Lossy WebP (VP8) at `quality`, alpha kept (losslessly). A format name of its own, so
    /// that `webp` stays lossless as it always was whatever `--quality` says (its default, 80,
    /// would otherwise turn every `--format webp` lossy).
    #[cfg_attr(feature = "serde", serde(rename = "webp-lossy"))]
    #[cfg_attr(feature = "clap", value(name = "webp-lossy"))]
    WebpLossy,
    /// AVIF (AV1, 10-bit) at `quality`, alpha kept.
    Avif,
}

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Format; 5] = [
        Format::Jpeg,
        Format::Png,
        Format::Webp,
        Format::WebpLossy,
        Format::Avif,
    ];

    /// The name used in flags, JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::WebpLossy => "webp-lossy",
            Format::Avif => "avif",
        }
    }

    /// The usual extension of files in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp | Format::WebpLossy => "webp",
            Format::Avif => "avif",
        }
    }

    /// The MIME type of the encoded thumbnail.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp | Format::WebpLossy => "image/webp",
            Format::Avif => "image/avif",
        }
    }

    /// The format named `name` (case-insensitive; `jpg` is `jpeg`).
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        if name == "jpg" {
            return Some(Format::Jpeg);
        }
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that decides what thumbnail an image gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Params {
    /// Width of the box, in pixels (1 to [`MAX_SIDE`]).
    pub width: u32,
    /// Height of the box, in pixels (1 to [`MAX_SIDE`]).
    pub height: u32,
    pub fit: Fit,
    pub format: Format,
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// Largest source image accepted, in pixels; checked against the header before decoding.
    pub max_pixels: u64,
}

impl Default for Params {
    /// 256 x 256, fit inside, JPEG quality 80, 100 megapixels.
    fn default() -> Self {
        Params {
            width: 256,
            height: 256,
            fit: Fit::Contain,
            format: Format::Jpeg,
            quality: 80,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{which} must be between 1 and {MAX_SIDE}, got {value}")]
    Side { which: &'static str, value: u32 },
    #[error("quality must be between 1 and 100, got {0}")]
    Quality(u8),
    #[error("max_pixels must be at least 1")]
    MaxPixels,
}

impl Params {
    /// Checks every field's range (what [`parse_args`] checks on the command line, for values
    /// that arrive another way, e.g. as JSON).
    pub fn validate(&self) -> Result<(), ParamsError> {
        for (which, value) in [("width", self.width), ("height", self.height)] {
            if value == 0 || value > MAX_SIDE {
                return Err(ParamsError::Side { which, value });
            }
        }
        if self.quality == 0 || self.quality > 100 {
            return Err(ParamsError::Quality(self.quality));
        }
        if self.max_pixels == 0 {
            return Err(ParamsError::MaxPixels);
        }
        Ok(())
    }

    /// The plugin's argv (ABI v1, without argv\[0\]):
    /// `--width W --height H --fit F --format F --quality Q`, and `--max-pixels N` when it is
    /// not the default (so custom plugins that take only the box flags keep working).
    /// [`parse_args`] reads it back to the same value.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--width".to_string(),
            self.width.to_string(),
            "--height".to_string(),
            self.height.to_string(),
            "--fit".to_string(),
            self.fit.name().to_string(),
            "--format".to_string(),
            self.format.name().to_string(),
            "--quality".to_string(),
            self.quality.to_string(),
        ];
        if self.max_pixels != DEFAULT_MAX_PIXELS {
            args.push("--max-pixels".to_string());
            args.push(self.max_pixels.to_string());
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_follow_the_abi_and_read_back() {
        let p = Params {
            width: 100,
            height: 50,
            fit: Fit::Cover,
            format: Format::Png,
            quality: 90,
            ..Params::default()
        };
        assert_eq!(
            p.to_args().join(" "),
            "--width 100 --height 50 --fit cover --format png --quality 90"
        );
        assert_eq!(parse_args(p.to_args()), Ok(p));
        let limited = Params {
            max_pixels: 1000,
            format: Format::Webp,
            ..Params::default()
        };
        assert!(limited.to_args().join(" ").ends_with("--max-pixels 1000"));
        assert_eq!(parse_args(limited.to_args()), Ok(limited));
    }

    #[test]
    fn validate_refuses_what_parse_args_refuses() {
        assert_eq!(Params::default().validate(), Ok(()));
        for (params, flag) in [
            (
                Params {
                    width: 0,
                    ..Params::default()
                },
                "--width",
            ),
            (
                Params {
                    height: MAX_SIDE + 1,
                    ..Params::default()
                },
                "--height",
            ),
            (
                Params {
                    quality: 101,
                    ..Params::default()
                },
                "--quality",
            ),
            (
                Params {
                    max_pixels: 0,
                    ..Params::default()
                },
                "--max-pixels",
            ),
        ] {
            assert!(params.validate().is_err(), "{params:?}");
            let mut args = params.to_args();
            if flag == "--max-pixels" {
                args.extend(["--max-pixels".into(), "0".into()]);
            }
            assert!(
                matches!(parse_args(&args), Err(ArgsError::BadValue { flag: f, .. }) if f == flag),
                "{args:?}"
            );
        }
    }

    #[test]
    fn format_names() {
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(format));
            assert!(USAGE.contains(format.name()), "{format} missing from USAGE");
        }
        assert_eq!(Format::from_name("JPG"), Some(Format::Jpeg));
        assert_eq!(Format::from_name("gif"), None);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_defaults_fill_missing_fields_and_unknown_ones_are_refused() {
        use serde_json::json;
        let p: Params = serde_json::from_value(json!({"width": 128, "format": "webp"})).unwrap();
        assert_eq!(
            p,
            Params {
                width: 128,
                format: Format::Webp,
                ..Params::default()
            }
        );
        assert!(serde_json::from_value::<Params>(json!({"fit": "stretch"})).is_err());
        assert!(serde_json::from_value::<Params>(json!({"colour": "red"})).is_err());
    }
}
