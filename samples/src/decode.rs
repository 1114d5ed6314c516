//! Reading images back (JPEG, PNG, WebP) with the reference decoders, for loading the corpus
//! and for checking thumbnails. Deliberately simple: full size, no EXIF, no CMYK.

use std::io::Cursor;

use crate::{RgbImage, RgbaImage, SampleError};

/// A decoded image: its pixels as RGBA and whether the file had an alpha channel.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub image: RgbaImage,
    pub has_alpha: bool,
    /// "jpeg", "png" or "webp".
    pub format: &'static str,
}

/// Decodes a JPEG (gray or RGB), PNG (any kind) or WebP.
pub fn decode(bytes: &[u8]) -> Result<Decoded, SampleError> {
    match bytes {
        [0xFF, 0xD8, ..] => decode_jpeg(bytes),
        [0x89, b'P', b'N', b'G', ..] => decode_png(bytes),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => decode_webp(bytes),
        _ => Err(SampleError::Unsupported(
            "not a JPEG, PNG or WebP".to_string(),
        )),
    }
}

/// Decodes an image into RGB, dropping any alpha channel.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, SampleError> {
    Ok(decode(bytes)?.image.to_rgb())
}

fn rgba(width: u32, height: u32, pixels: Vec<u8>) -> RgbaImage {
    RgbaImage {
        width,
        height,
        pixels,
    }
}

fn decode_jpeg(bytes: &[u8]) -> Result<Decoded, SampleError> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode()?;
    let info = decoder
        .info()
        .ok_or_else(|| SampleError::Unsupported("JPEG without a frame".into()))?;
    let pixels = match info.pixel_format {
        PixelFormat::RGB24 => pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l, 255]).collect(),
        other => {
            return Err(SampleError::Unsupported(format!(
                "JPEG pixel format {other:?}"
            )))
        }
    };
    Ok(Decoded {
        image: rgba(info.width.into(), info.height.into(), pixels),
        has_alpha: false,
        format: "jpeg",
    })
}

fn decode_png(bytes: &[u8]) -> Result<Decoded, SampleError> {
    use png::{ColorType, Transformations};
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    let (has_alpha, pixels) = match frame.color_type {
        ColorType::Rgba => (true, buf),
        ColorType::Rgb => (
            false,
            buf.chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
        ),
        ColorType::GrayscaleAlpha => (
            true,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        ColorType::Grayscale => (false, buf.iter().flat_map(|&l| [l, l, l, 255]).collect()),
        ColorType::Indexed => {
            return Err(SampleError::Unsupported("unexpanded palette".into()));
        }
    };
    Ok(Decoded {
        image: rgba(frame.width, frame.height, pixels),
        has_alpha,
        format: "png",
    })
}

fn decode_webp(bytes: &[u8]) -> Result<Decoded, SampleError> {
    let webp = |e: image_webp::DecodingError| SampleError::Webp(e.to_string());
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(webp)?;
    let (width, height) = decoder.dimensions();
    let has_alpha = decoder.has_alpha();
    let len = decoder
        .output_buffer_size()
        .ok_or_else(|| SampleError::Webp("image too large".into()))?;
    let mut buf = vec![0; len];
    decoder.read_image(&mut buf).map_err(webp)?;
    let pixels = if has_alpha {
        buf
    } else {
        buf.chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    };
    Ok(Decoded {
        image: rgba(width, height, pixels),
        has_alpha,
        format: "webp",
    })
}
