//! JPEG files of every kind the thumbnail must read, written with jpeg-encoder.

use jpeg_encoder::{ColorType, Encoder};

use crate::image::luma;
use crate::{RgbImage, SampleError};

/// How the colours are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JpegColor {
    /// YCbCr, the usual.
    #[default]
    Rgb,
    /// One luma channel.
    Gray,
    /// CMYK as Adobe writes it: inverted, with an APP14 "Adobe" marker (transform 0).
    Cmyk,
    /// CMYK stored as YCCK (APP14 transform 2).
    Ycck,
}

/// Options of [`jpeg()`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JpegOptions {
    pub progressive: bool,
    pub color: JpegColor,
    /// Writes an EXIF APP1 segment with this orientation tag (1-8).
    pub exif_orientation: Option<u16>,
}

/// Encodes `img` as a JPEG at `quality` (1-100).
///
/// CMYK is derived from RGB the naive way (K = 255 - max(R, G, B)), so that the naive inverse a
/// decoder applies gives the RGB pixels back.
pub fn jpeg(img: &RgbImage, quality: u8, options: &JpegOptions) -> Result<Vec<u8>, SampleError> {
    encode(img, quality, options, None)
}

/// [`jpeg()`] with a restart marker every `interval` MCUs.
pub fn jpeg_with_restarts(
    img: &RgbImage,
    quality: u8,
    options: &JpegOptions,
    interval: u16,
) -> Result<Vec<u8>, SampleError> {
    encode(img, quality, options, Some(interval))
}

fn encode(
    img: &RgbImage,
    quality: u8,
    options: &JpegOptions,
    restart_interval: Option<u16>,
) -> Result<Vec<u8>, SampleError> {
    let size = |v: u32| {
        u16::try_from(v).map_err(|_| SampleError::Unsupported(format!("JPEG side {v} > 65535")))
    };
    let (width, height) = (size(img.width)?, size(img.height)?);
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_progressive(options.progressive);
    if let Some(interval) = restart_interval {
        encoder.set_restart_interval(interval);
    }
    if let Some(orientation) = options.exif_orientation {
        encoder.add_app_segment(1, &exif_orientation_segment(orientation))?;
    }
    match options.color {
        JpegColor::Rgb => encoder.encode(&img.pixels, width, height, ColorType::Rgb)?,
        JpegColor::Gray => {
            let gray: Vec<u8> = img
                .pixels
                .chunks_exact(3)
                .map(|p| luma(p[0], p[1], p[2]))
                .collect();
            encoder.encode(&gray, width, height, ColorType::Luma)?
        }
        JpegColor::Cmyk => encoder.encode(&to_cmyk(img), width, height, ColorType::Cmyk)?,
        JpegColor::Ycck => encoder.encode(&to_cmyk(img), width, height, ColorType::CmykAsYcck)?,
    }
    Ok(out)
}

/// Ink amounts (0 = none) for each RGB pixel.
fn to_cmyk(img: &RgbImage) -> Vec<u8> {
    img.pixels
        .chunks_exact(3)
        .flat_map(|p| {
            let max = u32::from(p[0].max(p[1]).max(p[2]));
            if max == 0 {
                return [0, 0, 0, 255];
            }
            // R = (255 - C) * (255 - K) / 255 with 255 - K = max
            let ink = |v: u8| (255 - (u32::from(v) * 255 + max / 2) / max) as u8;
            [ink(p[0]), ink(p[1]), ink(p[2]), (255 - max) as u8]
        })
        .collect()
}

/// `Exif\0\0` and a big-endian TIFF structure holding one IFD entry: Orientation (0x0112).
fn exif_orientation_segment(orientation: u16) -> Vec<u8> {
    let mut data = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec(); // TIFF header, IFD0 at offset 8
    data.extend_from_slice(&1u16.to_be_bytes()); // one entry
    data.extend_from_slice(&0x0112u16.to_be_bytes()); // tag: Orientation
    data.extend_from_slice(&3u16.to_be_bytes()); // type: SHORT
    data.extend_from_slice(&1u32.to_be_bytes()); // count
    data.extend_from_slice(&orientation.to_be_bytes());
    data.extend_from_slice(&[0, 0]); // value padding
    data.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    data
}

/// The raw TIFF structure of an EXIF block holding only `orientation` (for PNG eXIf).
pub(crate) fn exif_tiff(orientation: u16) -> Vec<u8> {
    exif_orientation_segment(orientation)[6..].to_vec()
}

/// `jpeg` with the frame header (SOF) changed to claim `width` x `height`: a small file that
/// says it is huge. Returns `None` if no frame header is found.
pub fn with_jpeg_dimensions(jpeg: &[u8], width: u16, height: u16) -> Option<Vec<u8>> {
    let mut out = jpeg.to_vec();
    let mut i = 2;
    while i + 9 <= out.len() && out[i] == 0xFF {
        let marker = out[i + 1];
        let len = usize::from(u16::from_be_bytes([out[i + 2], out[i + 3]]));
        let is_sof = (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
        if is_sof {
            out[i + 5..i + 7].copy_from_slice(&height.to_be_bytes());
            out[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
            return Some(out);
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_decodes_with_jpeg_decoder() {
        let img = crate::photo(64, 48, 1);
        for color in [
            JpegColor::Rgb,
            JpegColor::Gray,
            JpegColor::Cmyk,
            JpegColor::Ycck,
        ] {
            for progressive in [false, true] {
                let options = JpegOptions {
                    progressive,
                    color,
                    exif_orientation: Some(6),
                };
                let bytes = jpeg(&img, 90, &options).expect("encodes");
                let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
                decoder.decode().expect("decodes");
                let info = decoder.info().expect("has a frame");
                assert_eq!((info.width, info.height), (64, 48), "{options:?}");
                let exif = decoder.exif_data().expect("has EXIF");
                assert_eq!(&exif[..4], b"MM\0\x2a");
            }
        }
    }

    #[test]
    fn cmyk_round_trips_through_the_naive_inverse() {
        let img = crate::photo(16, 16, 2);
        for (rgb, cmyk) in img
            .pixels
            .chunks_exact(3)
            .zip(to_cmyk(&img).chunks_exact(4))
        {
            for c in 0..3 {
                let back = (255 - u32::from(cmyk[c])) * (255 - u32::from(cmyk[3])) / 255;
                assert!((back as i32 - i32::from(rgb[c])).abs() <= 1);
            }
        }
    }

    #[test]
    fn dimensions_can_be_faked() {
        let bytes = jpeg(&crate::photo(32, 16, 1), 80, &JpegOptions::default()).expect("encodes");
        let fake = with_jpeg_dimensions(&bytes, 20000, 30000).expect("has SOF");
        let mut decoder = jpeg_decoder::Decoder::new(&fake[..]);
        decoder.read_info().expect("header reads");
        let info = decoder.info().expect("has a frame");
        assert_eq!((info.width, info.height), (20000, 30000));
    }
}
