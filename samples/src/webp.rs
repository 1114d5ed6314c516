//! Lossless WebP files (image-webp's encoder), for the WebP input path.

use crate::{RgbaImage, SampleError};

/// Encodes `img` as a lossless WebP; `alpha` false drops the alpha channel.
pub fn webp_lossless(img: &RgbaImage, alpha: bool) -> Result<Vec<u8>, SampleError> {
    let mut out = Vec::new();
    let encoder = image_webp::WebPEncoder::new(&mut out);
    let result = if alpha {
        encoder.encode(
            &img.pixels,
            img.width,
            img.height,
            image_webp::ColorType::Rgba8,
        )
    } else {
        let rgb = img.to_rgb();
        encoder.encode(
            &rgb.pixels,
            img.width,
            img.height,
            image_webp::ColorType::Rgb8,
        )
    };
    result.map_err(|e| SampleError::Webp(e.to_string()))?;
    Ok(out)
}
