//! JPEG with jpeg-decoder: baseline and progressive, gray, RGB/YCbCr, CMYK and YCCK (Adobe
//! inverted or not), EXIF orientation from APP1, and shrink-on-load by DCT scaling.

use jpeg_decoder::{Decoder, Error, PixelFormat, UnsupportedFeature};

use super::fast;
use super::jpeg_header::{read_frame, Frame};
use super::{check_size, expect_len, upright_plan, Decoded};
use crate::error::ThumbError;
use crate::orient::Orientation;
use crate::params::Params;
use crate::raster::{cmyk_to_rgb, gray16_to_rgb, gray_to_rgb, Raster};

const FORMAT: &str = "JPEG";

pub(super) fn decode(input: &[u8], params: &Params) -> Result<Decoded, ThumbError> {
    let mut decoder = Decoder::new(input);
    // Reads the markers up to the frame header: dimensions, EXIF and Adobe segments.
    decoder.read_info().map_err(error)?;
    let info = decoder
        .info()
        .ok_or_else(|| ThumbError::corrupt(FORMAT, "no frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(FORMAT, width, height, params.max_pixels)?;

    let orientation = decoder
        .exif_data()
        .map_or(Orientation::Normal, Orientation::from_exif);
    let plan = upright_plan(width, height, orientation, params);
    let stored = if orientation.swaps_axes() {
        plan.transposed()
    } else {
        plan
    };
    let frame = read_frame(input);
    if let Some((raster, extent)) = decode_fast(
        input,
        (width, height),
        stored.min_source_size(),
        frame.as_ref(),
    ) {
        return Ok(Decoded {
            raster,
            extent,
            orientation,
            plan,
        });
    }
    // Chroma subsampled 2x is decoded at half luma's scale: its plane bounds the scale too.
    let subsampling = frame.map_or((1, 1), |frame| frame.max_subsampling());
    let denom = shrink_on_load(
        &mut decoder,
        (width, height),
        stored.min_source_size(),
        subsampling,
    )?;

    let limit = usize::try_from(params.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX);
    decoder.set_max_decoding_buffer_size(limit);
    let pixels = decoder.decode().map_err(error)?;
    let info = decoder
        .info()
        .ok_or_else(|| ThumbError::corrupt(FORMAT, "no frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    expect_len(FORMAT, &pixels, w, h, info.pixel_format.pixel_bytes())?;
    let rgb = match info.pixel_format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => gray_to_rgb(&pixels),
        PixelFormat::L16 => gray16_to_rgb(&pixels),
        PixelFormat::CMYK32 => cmyk_to_rgb(&pixels),
    };
    Ok(Decoded {
        raster: Raster {
            width: w,
            height: h,
            has_alpha: false,
            pixels: rgb,
        },
        // The picture spans width / denom of the ceil(width / denom) decoded columns.
        extent: (
            f64::from(width) / f64::from(denom),
            f64::from(height) / f64::from(denom),
        ),
        orientation,
        plan,
    })
}

/// The focused decoder (see [`super::fast`]) at the smallest scale that leaves
/// [`RESIZE_MARGIN`] of resize, when there is one it can do (it decodes chroma at luma's
/// resolution, so only the full grid counts): the pixels and the picture's extent in them.
/// `None`: decode with jpeg-decoder.
fn decode_fast(
    input: &[u8],
    (width, height): (u32, u32),
    (need_w, need_h): (u32, u32),
    frame: Option<&Frame>,
) -> Option<(Raster, (f64, f64))> {
    let (sub_w, sub_h) = frame?.max_subsampling();
    let denom = [8u32, 4, 2].into_iter().find(|&d| {
        width.div_ceil(d) >= RESIZE_MARGIN * need_w
            && height.div_ceil(d) >= RESIZE_MARGIN * need_h
            && d >= sub_w
            && d >= sub_h
    })?;
    let scaled = fast::decode(input, denom as usize).ok()?;
    let raster = Raster {
        width: scaled.width,
        height: scaled.height,
        has_alpha: false,
        pixels: scaled.pixels,
    };
    let extent = (
        f64::from(width) / f64::from(denom),
        f64::from(height) / f64::from(denom),
    );
    Some((raster, extent))
}

/// How many times larger than the thumbnail every decoded plane must stay. A DCT-scaled
/// decode is a block average (1/8: each block's mean), sharper and more aliased than the
/// Lanczos3 reference; a final resize by at least 2x filters that out (libvips leaves the same
/// factor). Measured at 1/8 with a factor of 1.04 left: 39 dB luma; at 2x or more: above 50 dB.
const RESIZE_MARGIN: u32 = 2;

/// Lets the IDCT produce 1/2, 1/4 or 1/8 of the size when every plane, chroma included
/// (`subsampling`: how much coarser the least sampled one is; jpeg-decoder scales it by the
/// same factor), still has [`RESIZE_MARGIN`] times `need` (stored coordinates): the biggest
/// saving of the whole thumbnail. Returns the scale's denominator (1 for full size).
fn shrink_on_load(
    decoder: &mut Decoder<&[u8]>,
    (width, height): (u32, u32),
    (need_w, need_h): (u32, u32),
    (sub_w, sub_h): (u32, u32),
) -> Result<u32, ThumbError> {
    let fits = |d: u32| {
        width.div_ceil(d * sub_w) >= RESIZE_MARGIN * need_w
            && height.div_ceil(d * sub_h) >= RESIZE_MARGIN * need_h
    };
    let Some(denom) = [8u32, 4, 2].into_iter().find(|d| fits(*d)) else {
        return Ok(1);
    };
    // jpeg-decoder picks the smallest scale reaching the request in *either* axis; asking for
    // exactly the scaled size selects `denom`. Should rounding pick another one, go back to
    // full size rather than guess the scale.
    let (w, h) = decoder
        .scale(
            clamp_u16(width.div_ceil(denom)),
            clamp_u16(height.div_ceil(denom)),
        )
        .map_err(error)?;
    if (u32::from(w), u32::from(h)) != (width.div_ceil(denom), height.div_ceil(denom)) {
        decoder
            .scale(clamp_u16(width), clamp_u16(height))
            .map_err(error)?;
        return Ok(1);
    }
    Ok(denom)
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn error(e: Error) -> ThumbError {
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ThumbError::Truncated { format: FORMAT }
        }
        Error::Io(io) => ThumbError::corrupt(FORMAT, io),
        Error::Format(detail) => ThumbError::corrupt(FORMAT, detail),
        Error::Unsupported(feature) => ThumbError::Unsupported {
            format: FORMAT,
            detail: match feature {
                UnsupportedFeature::Hierarchical => "hierarchical coding".into(),
                UnsupportedFeature::ArithmeticEntropyCoding => "arithmetic coding".into(),
                UnsupportedFeature::SamplePrecision(p) => format!("{p}-bit samples"),
                UnsupportedFeature::ComponentCount(n) => format!("{n} colour components"),
                UnsupportedFeature::SubsamplingRatio
                | UnsupportedFeature::NonIntegerSubsamplingRatio => {
                    "chroma subsampling ratio".into()
                }
                other => crate::error::one_line(&format!("{other:?}")),
            },
        },
        other => ThumbError::corrupt(FORMAT, other),
    }
}
