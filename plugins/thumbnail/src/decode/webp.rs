//! WebP with image-webp: lossy and lossless, with or without alpha, EXIF orientation from the
//! EXIF chunk. Animated WebP is refused.

use std::io::Cursor;

use image_webp::{DecodingError, WebPDecoder};

use super::{check_size, zeroed, Decoded};
use crate::error::ThumbError;
use crate::orient::Orientation;
use crate::params::Params;

const FORMAT: &str = "WebP";

pub(super) fn decode(input: &[u8], params: &Params) -> Result<Decoded, ThumbError> {
    let mut decoder = WebPDecoder::new(Cursor::new(input)).map_err(error)?;
    let (width, height) = decoder.dimensions();
    check_size(FORMAT, width, height, params.max_pixels)?;
    if decoder.is_animated() {
        return Err(ThumbError::Unsupported {
            format: FORMAT,
            detail: "animation".into(),
        });
    }
    let orientation = match decoder.exif_metadata() {
        Ok(Some(exif)) => Orientation::from_exif(&exif),
        _ => Orientation::Normal,
    };
    let has_alpha = decoder.has_alpha();
    let len = decoder
        .output_buffer_size()
        .ok_or(ThumbError::DecoderLimit { format: FORMAT })?;
    let mut pixels = zeroed(len, FORMAT)?;
    decoder.read_image(&mut pixels).map_err(error)?;
    Decoded::full_size(
        FORMAT,
        (width, height),
        has_alpha,
        pixels,
        orientation,
        params,
    )
}

fn error(e: DecodingError) -> ThumbError {
    match e {
        DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ThumbError::Truncated { format: FORMAT }
        }
        DecodingError::ImageTooLarge | DecodingError::MemoryLimitExceeded => {
            ThumbError::DecoderLimit { format: FORMAT }
        }
        other => ThumbError::corrupt(FORMAT, other),
    }
}
