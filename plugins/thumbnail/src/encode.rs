//! Encoding the thumbnail: JPEG with jpeg-encoder (alpha flattened onto white), PNG with the
//! png crate, lossless WebP with image-webp, lossy WebP with vaam-image-webp and AVIF with
//! ravif (all but JPEG keep alpha, and PNG and WebP drop it when the image is opaque anyway).

use crate::error::ThumbError;
use crate::params::Format;
use crate::raster::Raster;

/// Encodes `raster` as `format`; `quality` (1-100) applies to JPEG, lossy WebP and AVIF.
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
        Format::WebpLossy => webp_lossy(&opaque_as_rgb(raster), quality),
        Format::Avif => avif(raster, quality),
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

/// Lossy WebP (VP8, with a lossless alpha plane when there is transparency) at `quality`
/// (1-100), with vaam-image-webp: the one pure-Rust lossy VP8 encoder with a permissive
/// licence that builds for wasm32-wasip1 (image-webp encodes lossless only).
fn webp_lossy(raster: &Raster, quality: u8) -> Result<Vec<u8>, ThumbError> {
    let color = if raster.has_alpha {
        vaam_webp::ColorType::Rgba8
    } else {
        vaam_webp::ColorType::Rgb8
    };
    let mut out = Vec::new();
    let mut encoder = vaam_webp::WebPEncoder::new(&mut out);
    let mut params = vaam_webp::EncoderParams::default();
    params.use_lossy = true;
    params.lossy_quality = quality.clamp(1, 100);
    encoder.set_params(params);
    encoder
        .encode(&raster.pixels, raster.width, raster.height, color)
        .map_err(|e| ThumbError::encode("WebP", e))?;
    Ok(out)
}

/// The speed preset of the AVIF encoder (rav1e: 1 slowest, 10 fastest). Measured natively on a
/// 256x171 thumbnail without rav1e's assembly: speed 8 took 176 ms for 6.9 KiB, speed 10 116 ms
/// for 7.5 KiB; for thumbnails made on request the faster one is the right trade.
const AVIF_SPEED: u8 = 10;

/// AVIF (AV1 intra frame, 10-bit, alpha kept) at `quality` (1-100) with ravif/rav1e, built
/// without its assembly and threads (neither exists in wasm32-wasip1).
fn avif(raster: &Raster, quality: u8) -> Result<Vec<u8>, ThumbError> {
    const FORMAT: &str = "AVIF";
    let (w, h) = (raster.width as usize, raster.height as usize);
    let encoder = ravif::Encoder::new()
        .with_quality(f32::from(quality.clamp(1, 100)))
        .with_alpha_quality(f32::from(quality.clamp(1, 100)))
        .with_speed(AVIF_SPEED)
        .with_num_threads(Some(1));
    let encoded = if raster.has_alpha {
        let px: Vec<ravif::RGBA8> = raster
            .pixels
            .chunks_exact(4)
            .map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3]))
            .collect();
        encoder.encode_rgba(ravif::Img::new(&px[..], w, h))
    } else {
        let px: Vec<ravif::RGB8> = raster
            .pixels
            .chunks_exact(3)
            .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
            .collect();
        encoder.encode_rgb(ravif::Img::new(&px[..], w, h))
    };
    encoded
        .map(|e| e.avif_file)
        .map_err(|e| ThumbError::encode(FORMAT, e))
}

/// An RGBA raster whose every pixel is opaque, as RGB (smaller files, same picture).
fn opaque_as_rgb(raster: &Raster) -> std::borrow::Cow<'_, Raster> {
    if raster.has_alpha && raster.is_opaque() {
        std::borrow::Cow::Owned(raster.flattened_on_white())
    } else {
        std::borrow::Cow::Borrowed(raster)
    }
}
