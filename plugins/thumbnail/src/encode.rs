//! Encoding the thumbnail: JPEG with jpeg-encoder (alpha flattened onto white), PNG with the
//! png crate and lossless WebP with image-webp (both keep alpha, and drop it when the image is
//! opaque anyway).

use crate::error::ThumbError;
use crate::params::Format;
use crate::raster::Raster;

/// Encodes `raster` as `format`; `quality` (1-100) applies to JPEG only.
pub fn encode(raster: &Raster, format: Format, quality: u8) -> Result<Vec<u8>, ThumbError> {
    let expected = raster.width as usize * raster.height as usize * raster.channels();
    if raster.width == 0 || raster.height == 0 || raster.pixels.len() != expected {
        return Err(ThumbError::encode(
            "image",
            format!(
                "{} bytes do not make a {}x{} image",
                raster.pixels.len(),
                raster.width,
                raster.height
            ),
        ));
    }
    match format {
        Format::Jpeg => jpeg(raster, quality),
        Format::Png => png(&opaque_as_rgb(raster)),
        Format::Webp => webp(&opaque_as_rgb(raster)),
    }
}

fn jpeg(raster: &Raster, quality: u8) -> Result<Vec<u8>, ThumbError> {
    const FORMAT: &str = "JPEG";
    let too_big = |_| ThumbError::encode(FORMAT, "JPEG allows at most 65535 pixels a side");
    let width = u16::try_from(raster.width).map_err(too_big)?;
    let height = u16::try_from(raster.height).map_err(too_big)?;
    let rgb = raster.flattened_on_white();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_optimized_huffman_tables(true);
    encoder
        .encode(&rgb.pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ThumbError::encode(FORMAT, e))?;
    Ok(out)
}

fn png(raster: &Raster) -> Result<Vec<u8>, ThumbError> {
    const FORMAT: &str = "PNG";
    let fail = |e: png::EncodingError| ThumbError::encode(FORMAT, e);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, raster.width, raster.height);
    encoder.set_color(if raster.has_alpha {
        png::ColorType::Rgba
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&raster.pixels).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

fn webp(raster: &Raster) -> Result<Vec<u8>, ThumbError> {
    let color = if raster.has_alpha {
        image_webp::ColorType::Rgba8
    } else {
        image_webp::ColorType::Rgb8
    };
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(&raster.pixels, raster.width, raster.height, color)
        .map_err(|e| ThumbError::encode("WebP", e))?;
    Ok(out)
}

/// An RGBA raster whose every pixel is opaque, as RGB (smaller files, same picture).
fn opaque_as_rgb(raster: &Raster) -> std::borrow::Cow<'_, Raster> {
    if raster.has_alpha && raster.is_opaque() {
        std::borrow::Cow::Owned(raster.flattened_on_white())
    } else {
        std::borrow::Cow::Borrowed(raster)
    }
}
