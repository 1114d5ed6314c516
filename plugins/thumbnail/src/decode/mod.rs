//! Decoding: format sniffing, the size check before any large allocation, and the per-format
//! decoders. Each decoder returns the pixels as stored (not yet turned upright), possibly already
//! reduced by shrink-on-load, together with the EXIF orientation and the upright [`Plan`].

mod fast;
mod jpeg;
mod jpeg_header;
mod png;
mod webp;

use crate::error::{PixelLimit, ThumbError};
use crate::geometry::Plan;
use crate::orient::Orientation;
use crate::params::Params;
use crate::raster::Raster;

/// A decoded source, ready to be resized.
pub(crate) struct Decoded {
    /// The pixels as stored in the file; maybe smaller than the source (shrink-on-load).
    pub raster: Raster,
    /// How much of `raster` the picture covers, in its pixels: the raster's size, except after
    /// DCT scaling, where the last block's row or column is partly padding (a 427-row picture
    /// decoded at 1/2 is 214 rows for 213.5 rows of picture).
    pub extent: (f64, f64),
    /// How to turn them upright.
    pub orientation: Orientation,
    /// The thumbnail to make, in upright coordinates of the full-size source.
    pub plan: Plan,
}

impl Decoded {
    /// A source decoded at full size (no shrink-on-load), after checking the decoder filled
    /// every pixel: RGB, or RGBA when `has_alpha`.
    fn full_size(
        format: &'static str,
        (width, height): (u32, u32),
        has_alpha: bool,
        pixels: Vec<u8>,
        orientation: Orientation,
        params: &Params,
    ) -> Result<Decoded, ThumbError> {
        expect_len(
            format,
            &pixels,
            width,
            height,
            if has_alpha { 4 } else { 3 },
        )?;
        Ok(Decoded {
            raster: Raster {
                width,
                height,
                has_alpha,
                pixels,
            },
            extent: (f64::from(width), f64::from(height)),
            orientation,
            plan: upright_plan(width, height, orientation, params),
        })
    }

    /// The plan in the stored (not yet upright) coordinates of the source.
    pub fn stored_plan(&self) -> Plan {
        if self.orientation.swaps_axes() {
            self.plan.transposed()
        } else {
            self.plan
        }
    }
}

/// The image formats this crate reads, told apart by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    Webp,
}

/// Tells the format from the magic bytes at the start of `input`.
pub fn sniff(input: &[u8]) -> Result<SourceFormat, ThumbError> {
    match input {
        [] => Err(ThumbError::Empty),
        [0xFF, 0xD8, 0xFF, ..] => Ok(SourceFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok(SourceFormat::Png),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Ok(SourceFormat::Webp),
        [b'G', b'I', b'F', b'8', ..] => Err(ThumbError::UnsupportedFormat(
            "GIF; this plugin reads JPEG, PNG and WebP",
        )),
        _ => Err(ThumbError::UnsupportedFormat("not a JPEG, PNG or WebP")),
    }
}

/// Decodes `input` for the thumbnail `params` asks for.
pub(crate) fn decode(input: &[u8], params: &Params) -> Result<Decoded, ThumbError> {
    match sniff(input)? {
        SourceFormat::Jpeg => jpeg::decode(input, params),
        SourceFormat::Png => png::decode(input, params),
        SourceFormat::Webp => webp::decode(input, params),
    }
}

/// Refuses images larger than `max_pixels` (and empty ones) from their header's dimensions.
fn check_size(
    format: &'static str,
    width: u32,
    height: u32,
    max_pixels: u64,
) -> Result<(), ThumbError> {
    if width == 0 || height == 0 {
        return Err(ThumbError::corrupt(
            format,
            format!("image is {width}x{height}"),
        ));
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ThumbError::TooLarge {
            width: width.into(),
            height: height.into(),
            limit: PixelLimit(max_pixels),
        });
    }
    Ok(())
}

/// The upright plan for a source stored as `width` x `height` with `orientation`.
fn upright_plan(width: u32, height: u32, orientation: Orientation, params: &Params) -> Plan {
    if orientation.swaps_axes() {
        Plan::new(height, width, params)
    } else {
        Plan::new(width, height, params)
    }
}

/// A zeroed buffer of `len` bytes, or a clean error when the memory is not there.
fn zeroed(len: usize, format: &'static str) -> Result<Vec<u8>, ThumbError> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| ThumbError::DecoderLimit { format })?;
    buf.resize(len, 0);
    Ok(buf)
}

/// Checks that a decoder returned as many bytes as the image needs.
fn expect_len(
    format: &'static str,
    buf: &[u8],
    width: u32,
    height: u32,
    channels: usize,
) -> Result<(), ThumbError> {
    let need = width as usize * height as usize * channels;
    if buf.len() < need {
        return Err(ThumbError::corrupt(
            format,
            format!(
                "decoder returned {} bytes for a {width}x{height} image",
                buf.len()
            ),
        ));
    }
    Ok(())
}
