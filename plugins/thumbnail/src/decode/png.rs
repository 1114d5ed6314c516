//! PNG with the png crate: every colour type and bit depth (palette, tRNS and low bit depths
//! expanded, 16 bits rounded to 8), Adam7 interlacing, and EXIF orientation from eXIf.

use png::{BitDepth, ColorType, Decoder, DecodingError, Limits, Transformations};

use super::{check_size, zeroed, Decoded};
use crate::error::ThumbError;
use crate::orient::Orientation;
use crate::params::Params;
use crate::raster::{gray_alpha_to_rgba, gray_to_rgb};

const FORMAT: &str = "PNG";

/// What the png crate may allocate besides the image: row buffers and metadata chunks. Text and
/// ICC chunks (the usual hiding places of compressed bombs) are skipped altogether.
const METADATA_LIMIT: usize = 32 << 20;

pub(super) fn decode(input: &[u8], params: &Params) -> Result<Decoded, ThumbError> {
    let mut decoder = Decoder::new_with_limits(
        input,
        Limits {
            bytes: METADATA_LIMIT,
        },
    );
    decoder.set_transformations(Transformations::EXPAND);
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    // IHDR only: refuse a too large image before anything is allocated for it.
    let header = decoder.read_header_info().map_err(error)?;
    check_size(FORMAT, header.width, header.height, params.max_pixels)?;

    let mut reader = decoder.read_info().map_err(error)?;
    let orientation = exif_chunk(input).map_or(Orientation::Normal, Orientation::from_exif);
    let mut buf = zeroed(reader.output_buffer_size(), FORMAT)?;
    let frame = reader.next_frame(&mut buf).map_err(error)?;
    buf.truncate(frame.buffer_size());
    match frame.bit_depth {
        BitDepth::Eight => {}
        BitDepth::Sixteen => buf = round_16_to_8(&buf),
        _ => {
            return Err(ThumbError::corrupt(
                FORMAT,
                "unexpected bit depth after expansion",
            ))
        }
    }
    let (width, height) = (frame.width, frame.height);
    let (has_alpha, pixels) = match frame.color_type {
        ColorType::Rgb => (false, buf),
        ColorType::Rgba => (true, buf),
        ColorType::Grayscale => (false, gray_to_rgb(&buf)),
        ColorType::GrayscaleAlpha => (true, gray_alpha_to_rgba(&buf)),
        ColorType::Indexed => {
            return Err(ThumbError::corrupt(FORMAT, "palette left unexpanded"));
        }
    };
    Decoded::full_size(
        FORMAT,
        (width, height),
        has_alpha,
        pixels,
        orientation,
        params,
    )
}

/// 16-bit big-endian samples to the nearest 8-bit value (round(v / 257)); the png crate's
/// STRIP_16 keeps the high byte, which darkens by up to one level (0.5 on average).
fn round_16_to_8(samples: &[u8]) -> Vec<u8> {
    samples
        .chunks_exact(2)
        .map(|s| ((u32::from(u16::from_be_bytes([s[0], s[1]])) + 128) / 257) as u8)
        .collect()
}

/// The data of the eXIf chunk, if there is one before the image data. (png 0.17 does not
/// read eXIf itself.) The chunks were already walked by `read_info`, so lengths are sane.
fn exif_chunk(input: &[u8]) -> Option<&[u8]> {
    let mut rest = input.get(8..)?; // after the signature
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        let data = rest.get(8..8usize.checked_add(len)?)?;
        match kind {
            b"eXIf" => return Some(data),
            b"IDAT" => return None,
            _ => rest = rest.get(12 + len..)?,
        }
    }
    None
}

fn error(e: DecodingError) -> ThumbError {
    match e {
        DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ThumbError::Truncated { format: FORMAT }
        }
        DecodingError::LimitsExceeded => ThumbError::DecoderLimit { format: FORMAT },
        other => ThumbError::corrupt(FORMAT, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bits_round_to_the_nearest_eight() {
        // 0, 65535, 257 * 100 + 129 (just past halfway up to 101), 257 * 100 + 128 (just below)
        let samples = [0x00, 0x00, 0xFF, 0xFF, 0x64, 0xE5, 0x64, 0xE4];
        assert_eq!(round_16_to_8(&samples), vec![0, 255, 101, 100]);
    }
}
