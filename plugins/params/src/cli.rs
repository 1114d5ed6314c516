//! The thumbnail parameters as command-line flags, for `cdn register` and `cdn-local`.

use crate::{Fit, Format, Params, DEFAULT_MAX_PIXELS, MAX_SIDE};

/// `--width --height --fit --format --quality --max-pixels`, with the defaults of
/// [`Params::default`]. Flatten it into a clap command with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParamArgs {
    /// Width of the thumbnail box, in pixels.
    #[arg(long, default_value_t = 256, value_name = "W",
          value_parser = clap::value_parser!(u32).range(1..=MAX_SIDE as i64))]
    pub width: u32,
    /// Height of the thumbnail box, in pixels.
    #[arg(long, default_value_t = 256, value_name = "H",
          value_parser = clap::value_parser!(u32).range(1..=MAX_SIDE as i64))]
    pub height: u32,
    /// How the image fits the box: contain (whole image inside) or cover (box filled, centre
    /// cropped).
    #[arg(long, value_enum, default_value_t = Fit::Contain)]
    pub fit: Fit,
    /// The thumbnail's encoding: jpeg, png, webp (lossless), webp-lossy or avif (all but jpeg
    /// keep transparency).
    #[arg(long, value_enum, default_value_t = Format::Jpeg)]
    pub format: Format,
    /// Quality of jpeg, webp-lossy and avif, 1-100.
    #[arg(long, default_value_t = 80, value_name = "Q",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Refuse sources larger than this many pixels (checked before decoding).
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pixels: u64,
}

impl ParamArgs {
    pub fn params(&self) -> Params {
        Params {
            width: self.width,
            height: self.height,
            fit: self.fit,
            format: self.format,
            quality: self.quality,
            max_pixels: self.max_pixels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        params: ParamArgs,
    }

    #[test]
    fn flag_defaults_are_the_params_defaults() {
        let cmd = Cmd::try_parse_from(["x"]).unwrap();
        assert_eq!(cmd.params.params(), Params::default());
    }

    #[test]
    fn flags_accept_every_format_and_refuse_out_of_range_values() {
        for format in Format::ALL {
            let cmd = Cmd::try_parse_from(["x", "--format", format.name()]).unwrap();
            assert_eq!(cmd.params.params().format, format);
        }
        assert_eq!(
            Cmd::try_parse_from(["x", "--format", "jpg"])
                .unwrap()
                .params
                .format,
            Format::Jpeg
        );
        for bad in [
            ["--width", "0"],
            ["--height", "16385"],
            ["--quality", "0"],
            ["--max-pixels", "0"],
            ["--fit", "stretch"],
        ] {
            assert!(
                Cmd::try_parse_from(["x", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
    }
}
