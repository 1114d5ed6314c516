//! PNG files of every kind the thumbnail must read. Plain files are written by the png crate;
//! Adam7-interlaced ones by hand (signature, IHDR with interlace 1, PLTE, eXIf, one IDAT with
//! the seven passes, filter byte 0, zlib by flate2, IEND), since the png encoder cannot.

use std::collections::HashMap;
use std::io::Write;

use crate::image::luma;
use crate::jpeg::exif_tiff;
use crate::{RgbaImage, SampleError};

/// How the pixels are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PngColor {
    #[default]
    Rgb,
    Rgba,
    Gray,
    GrayAlpha,
    /// Indexed colour (8-bit only): exact when the image has at most 256 colours, else the
    /// colours are reduced to a 6x6x6 cube (see [`palette_colours`]). Alpha is dropped.
    Palette,
}

/// Options of [`png()`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngOptions {
    /// 8 or 16 (16 is not allowed with `Palette`).
    pub bit_depth: u8,
    pub color: PngColor,
    /// Adam7.
    pub interlaced: bool,
    /// Writes an eXIf chunk with this orientation tag (1-8).
    pub exif_orientation: Option<u16>,
}

impl Default for PngOptions {
    fn default() -> Self {
        PngOptions {
            bit_depth: 8,
            color: PngColor::Rgb,
            interlaced: false,
            exif_orientation: None,
        }
    }
}

/// Encodes `img` as a PNG. Alpha is used only by `Rgba` and `GrayAlpha`.
pub fn png(img: &RgbaImage, options: &PngOptions) -> Result<Vec<u8>, SampleError> {
    let (color_type, samples_per_pixel) = match options.color {
        PngColor::Rgb => (png::ColorType::Rgb, 3),
        PngColor::Rgba => (png::ColorType::Rgba, 4),
        PngColor::Gray => (png::ColorType::Grayscale, 1),
        PngColor::GrayAlpha => (png::ColorType::GrayscaleAlpha, 2),
        PngColor::Palette => (png::ColorType::Indexed, 1),
    };
    let depth = match (options.bit_depth, options.color) {
        (8, _) => png::BitDepth::Eight,
        (16, c) if c != PngColor::Palette => png::BitDepth::Sixteen,
        (d, c) => {
            return Err(SampleError::Unsupported(format!(
                "PNG bit depth {d} with {c:?}"
            )))
        }
    };
    let (palette, samples) = match options.color {
        PngColor::Palette => {
            let (palette, indices) = palette_colours(img);
            (Some(palette), indices)
        }
        _ => (None, samples(img, options.color)),
    };
    // 16-bit samples: v * 257, big-endian, is the byte v twice.
    let bytes_per_sample = usize::from(options.bit_depth / 8);
    let raw: Vec<u8> = if bytes_per_sample == 2 {
        samples.iter().flat_map(|&v| [v, v]).collect()
    } else {
        samples
    };
    let exif = options.exif_orientation.map(exif_tiff);
    if options.interlaced {
        let ihdr_color = color_type as u8;
        let bpp = samples_per_pixel * bytes_per_sample;
        return Ok(write_interlaced(
            img.width,
            img.height,
            options.bit_depth,
            ihdr_color,
            palette.as_deref(),
            exif.as_deref(),
            &raw,
            bpp,
        ));
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width, img.height);
    encoder.set_color(color_type);
    encoder.set_depth(depth);
    if let Some(palette) = palette {
        encoder.set_palette(palette);
    }
    let mut writer = encoder.write_header()?;
    if let Some(exif) = exif {
        writer.write_chunk(png::chunk::ChunkType(*b"eXIf"), &exif)?;
    }
    writer.write_image_data(&raw)?;
    writer.finish()?;
    Ok(out)
}

/// A 16-bit RGB PNG of real 16-bit samples (three per pixel, rows top to bottom), whose low
/// bytes matter: [`png()`] widens 8-bit images, whose 16-bit samples are all `v * 257`.
pub fn png_rgb16(width: u32, height: u32, samples: &[u16]) -> Result<Vec<u8>, SampleError> {
    if samples.len() != width as usize * height as usize * 3 {
        return Err(SampleError::Unsupported(format!(
            "{} samples for a {width}x{height} RGB image",
            samples.len()
        )));
    }
    let raw: Vec<u8> = samples.iter().flat_map(|v| v.to_be_bytes()).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&raw)?;
    writer.finish()?;
    Ok(out)
}

/// The 8-bit samples of each pixel in the order of `color` (not for `Palette`).
fn samples(img: &RgbaImage, color: PngColor) -> Vec<u8> {
    img.pixels
        .chunks_exact(4)
        .flat_map(|p| match color {
            PngColor::Rgba => p.to_vec(),
            PngColor::Gray => vec![luma(p[0], p[1], p[2])],
            PngColor::GrayAlpha => vec![luma(p[0], p[1], p[2]), p[3]],
            PngColor::Rgb | PngColor::Palette => p[..3].to_vec(),
        })
        .collect()
}

/// A palette (RGB triples) and one index per pixel. Exact for images of up to 256 colours; for
/// others each channel is rounded to one of 0, 51, ..., 255 (216 colours).
pub fn palette_colours(img: &RgbaImage) -> (Vec<u8>, Vec<u8>) {
    let mut index: HashMap<[u8; 3], u8> = HashMap::new();
    let mut palette = Vec::new();
    for p in img.pixels.chunks_exact(4) {
        let rgb = [p[0], p[1], p[2]];
        if index.contains_key(&rgb) {
            continue;
        }
        if index.len() == 256 {
            return cube_palette(img);
        }
        index.insert(rgb, index.len() as u8);
        palette.extend_from_slice(&rgb);
    }
    let indices = img
        .pixels
        .chunks_exact(4)
        .map(|p| index[&[p[0], p[1], p[2]]])
        .collect();
    (palette, indices)
}

fn cube_palette(img: &RgbaImage) -> (Vec<u8>, Vec<u8>) {
    let palette = (0..216u32)
        .flat_map(|i| [i / 36, i / 6 % 6, i % 6].map(|l| (l * 51) as u8))
        .collect();
    let level = |v: u8| (u32::from(v) * 5 + 127) / 255;
    let indices = img
        .pixels
        .chunks_exact(4)
        .map(|p| (level(p[0]) * 36 + level(p[1]) * 6 + level(p[2])) as u8)
        .collect();
    (palette, indices)
}

/// The colours a palette PNG of `img` shows (what a decoder gives back).
pub fn palette_image(img: &RgbaImage) -> crate::RgbImage {
    let (palette, indices) = palette_colours(img);
    crate::RgbImage {
        width: img.width,
        height: img.height,
        pixels: indices
            .iter()
            .flat_map(|&i| {
                let i = usize::from(i) * 3;
                [palette[i], palette[i + 1], palette[i + 2]]
            })
            .collect(),
    }
}

/// The seven Adam7 passes: (first column, first row, column step, row step).
const ADAM7: [(usize, usize, usize, usize); 7] = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
];

#[allow(clippy::too_many_arguments)]
fn write_interlaced(
    width: u32,
    height: u32,
    bit_depth: u8,
    color_type: u8,
    palette: Option<&[u8]>,
    exif: Option<&[u8]>,
    raw: &[u8],
    bpp: usize,
) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut filtered = Vec::with_capacity(raw.len() + h * 7);
    for (x0, y0, dx, dy) in ADAM7 {
        if x0 >= w || y0 >= h {
            continue; // an empty pass has no rows at all
        }
        for y in (y0..h).step_by(dy) {
            filtered.push(0); // filter type None
            for x in (x0..w).step_by(dx) {
                let i = (y * w + x) * bpp;
                filtered.extend_from_slice(&raw[i..i + bpp]);
            }
        }
    }
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // writing to a Vec cannot fail
    let _ = zlib.write_all(&filtered);
    let idat = zlib.finish().unwrap_or_default();

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 1]); // deflate, adaptive, Adam7

    let mut out = PNG_SIGNATURE.to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    if let Some(exif) = exif {
        chunk(&mut out, b"eXIf", exif);
    }
    if let Some(palette) = palette {
        chunk(&mut out, b"PLTE", palette);
    }
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Appends one chunk: length, type, data, CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A valid-looking RGB PNG that claims to be `width` x `height` but holds only a few bytes of
/// image data: the decompression-bomb shape a decoder must refuse from the header alone.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = zlib.write_all(&[0; 64]);
    let idat = zlib.finish().unwrap_or_default();
    let mut out = PNG_SIGNATURE.to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoded frame, its pixels, and whether the file has the eXIf chunk of `exif_tiff(3)`
    /// (png 0.17 does not read eXIf, so it is looked for in the bytes).
    fn decode_raw(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>, bool) {
        let decoder = png::Decoder::new(bytes);
        let mut reader = decoder.read_info().expect("header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("pixels");
        let mut exif_chunk = b"eXIf".to_vec();
        exif_chunk.extend_from_slice(&exif_tiff(3));
        let has_exif = bytes.windows(exif_chunk.len()).any(|w| w == exif_chunk);
        (info, buf, has_exif)
    }

    #[test]
    fn interlaced_files_hold_the_same_pixels_as_plain_ones() {
        // odd sizes exercise short and empty passes
        for (w, h) in [(37, 23), (5, 3), (1, 1), (9, 1)] {
            let img = crate::photo(w, h, 5).with_alpha(|x, y| (x * 7 + y * 3) as u8);
            for color in [
                PngColor::Rgb,
                PngColor::Rgba,
                PngColor::Gray,
                PngColor::GrayAlpha,
                PngColor::Palette,
            ] {
                for bit_depth in [8, 16] {
                    if bit_depth == 16 && color == PngColor::Palette {
                        continue;
                    }
                    let plain = PngOptions {
                        bit_depth,
                        color,
                        interlaced: false,
                        exif_orientation: Some(3),
                    };
                    let adam7 = PngOptions {
                        interlaced: true,
                        ..plain
                    };
                    let (pi, pp, pe) = decode_raw(&png(&img, &plain).expect("plain"));
                    let (ii, ip, ie) = decode_raw(&png(&img, &adam7).expect("interlaced"));
                    assert_eq!(
                        (pi.width, pi.height, pi.color_type),
                        (ii.width, ii.height, ii.color_type)
                    );
                    assert_eq!(pp, ip, "{w}x{h} {color:?} {bit_depth}");
                    assert!(pe && ie, "eXIf chunk written");
                }
            }
        }
    }

    #[test]
    fn header_only_claims_the_size() {
        let bytes = png_header_only(50000, 50000);
        let mut decoder = png::Decoder::new(&bytes[..]);
        let info = decoder.read_header_info().expect("header");
        assert_eq!((info.width, info.height), (50000, 50000));
        assert!(bytes.len() < 200);
    }

    #[test]
    fn palettes_are_exact_for_few_colours() {
        let img = crate::marked::marked(8, 8).to_rgba();
        let (palette, _) = palette_colours(&img);
        assert_eq!(palette.len(), 3 * 3);
        assert_eq!(palette_image(&img), img.to_rgb());
    }
}
