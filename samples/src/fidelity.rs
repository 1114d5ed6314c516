//! How faithful a thumbnail is: the reference it is measured against and the measures.
//!
//! The reference is what a thumbnail would be with no shortcut at all: the source decoded
//! whole by an independent decoder (the `image` crate: zune-jpeg and png, EXIF orientation
//! applied), then resampled with a Lanczos3 filter written here in `f64` (Pillow's method:
//! separable, support widened by the scale factor, weights normalised at the edges, alpha
//! premultiplied), showing exactly the part of the picture the thumbnail shows (the whole, or
//! the centred crop of `--fit cover`, both sub-pixel exact). The measures are PSNR (over R, G
//! and B, or per Y/Cb/Cr plane) and SSIM of luma (Gaussian window 11x11, sigma 1.5).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::{RgbaImage, SampleError};

/// A rectangle of source pixels (left, top, width, height), fractional.
pub type Rect = (f64, f64, f64, f64);

/// The source decoded whole and upright by the `image` crate, as RGBA (straight alpha), and
/// whether it had an alpha channel.
pub fn reference_decode(bytes: &[u8]) -> Result<(RgbaImage, bool), SampleError> {
    let fail = |e: image::ImageError| SampleError::Unsupported(format!("image crate: {e}"));
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| SampleError::Unsupported(format!("image crate: {e}")))?;
    let mut decoder = reader.into_decoder().map_err(fail)?;
    let orientation = decoder.orientation().map_err(fail)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(fail)?;
    img.apply_orientation(orientation);
    let has_alpha = img.color().has_alpha();
    // to_rgba8 rounds 16-bit samples to the nearest 8-bit value
    let rgba = img.to_rgba8();
    Ok((
        RgbaImage {
            width: rgba.width(),
            height: rgba.height(),
            pixels: rgba.into_raw(),
        },
        has_alpha,
    ))
}

/// The centred crop of a `width` x `height` picture with the aspect ratio of a `box_w` x
/// `box_h` box (what `--fit cover` shows).
pub fn cover_crop(width: u32, height: u32, box_w: u32, box_h: u32) -> Rect {
    let (w, h) = (f64::from(width), f64::from(height));
    let (bw, bh) = (f64::from(box_w), f64::from(box_h));
    if w * bh >= h * bw {
        let cw = h * bw / bh;
        ((w - cw) / 2.0, 0.0, cw, h)
    } else {
        let ch = w * bh / bw;
        (0.0, (h - ch) / 2.0, w, ch)
    }
}

/// The reference thumbnail of `bytes`: `crop` of the upright source (the whole when `None`)
/// resampled to `width` x `height`.
pub fn reference_thumbnail(
    bytes: &[u8],
    crop: Option<Rect>,
    width: u32,
    height: u32,
) -> Result<RgbaImage, SampleError> {
    let (src, _) = reference_decode(bytes)?;
    let crop = crop.unwrap_or((0.0, 0.0, f64::from(src.width), f64::from(src.height)));
    Ok(lanczos3(&src, crop, width, height))
}

/// `crop` of `src` resampled to `width` x `height` with Lanczos3, alpha premultiplied.
pub fn lanczos3(src: &RgbaImage, crop: Rect, width: u32, height: u32) -> RgbaImage {
    let (left, top, crop_w, crop_h) = crop;
    let (sw, sh) = (src.width as usize, src.height as usize);
    // premultiplied f64 planes, row-major, 4 channels
    let mut plane: Vec<f64> = src
        .pixels
        .chunks_exact(4)
        .flat_map(|p| {
            let a = f64::from(p[3]) / 255.0;
            [
                f64::from(p[0]) * a,
                f64::from(p[1]) * a,
                f64::from(p[2]) * a,
                f64::from(p[3]),
            ]
        })
        .collect();
    // horizontal pass: sh rows of `width` pixels
    let xw = weights(sw, left, crop_w, width as usize);
    let mut horiz = vec![0.0; sh * width as usize * 4];
    for y in 0..sh {
        for (x, (start, ws)) in xw.iter().enumerate() {
            let mut acc = [0.0; 4];
            for (k, w) in ws.iter().enumerate() {
                let i = (y * sw + start + k) * 4;
                for c in 0..4 {
                    acc[c] += plane[i + c] * w;
                }
            }
            horiz[(y * width as usize + x) * 4..][..4].copy_from_slice(&acc);
        }
    }
    // vertical pass
    let yw = weights(sh, top, crop_h, height as usize);
    plane = vec![0.0; height as usize * width as usize * 4];
    for (y, (start, ws)) in yw.iter().enumerate() {
        for x in 0..width as usize {
            let mut acc = [0.0; 4];
            for (k, w) in ws.iter().enumerate() {
                let i = ((start + k) * width as usize + x) * 4;
                for c in 0..4 {
                    acc[c] += horiz[i + c] * w;
                }
            }
            plane[(y * width as usize + x) * 4..][..4].copy_from_slice(&acc);
        }
    }
    let to_u8 = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    let pixels = plane
        .chunks_exact(4)
        .flat_map(|p| {
            let a = p[3].clamp(0.0, 255.0);
            let un = |c: f64| {
                if a > 0.0 {
                    to_u8(c * 255.0 / a)
                } else {
                    0
                }
            };
            [un(p[0]), un(p[1]), un(p[2]), to_u8(a)]
        })
        .collect();
    RgbaImage {
        width,
        height,
        pixels,
    }
}

/// For each of `out` output pixels: the first input pixel and the normalised Lanczos3 weights
/// of the input pixels from there, for the span `start..start + len` of an `input`-pixel line.
fn weights(input: usize, start: f64, len: f64, out: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = len / out as f64;
    let filter_scale = scale.max(1.0);
    let support = 3.0 * filter_scale;
    let lanczos = |x: f64| {
        let x = x.abs();
        if x >= 3.0 {
            0.0
        } else if x < 1e-12 {
            1.0
        } else {
            let px = std::f64::consts::PI * x;
            3.0 * px.sin() * (px / 3.0).sin() / (px * px)
        }
    };
    (0..out)
        .map(|i| {
            let centre = start + (i as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0) as usize).min(input - 1);
            let hi = ((centre + support).ceil() as usize).clamp(lo + 1, input);
            let mut ws: Vec<f64> = (lo..hi)
                .map(|j| lanczos((j as f64 + 0.5 - centre) / filter_scale))
                .collect();
            let sum: f64 = ws.iter().sum();
            if sum.abs() > 1e-12 {
                ws.iter_mut().for_each(|w| *w /= sum);
            }
            (lo, ws)
        })
        .collect()
}

/// PSNR in dB of `b` against `a` over the R, G and B channels (infinite when equal); `None`
/// when the sizes differ.
pub fn psnr(a: &RgbaImage, b: &RgbaImage) -> Option<f64> {
    let planes = |img: &RgbaImage| -> [Vec<f64>; 3] {
        std::array::from_fn(|c| {
            img.pixels
                .chunks_exact(4)
                .map(|p| f64::from(p[c]))
                .collect()
        })
    };
    same_size(a, b)?;
    let (pa, pb) = (planes(a), planes(b));
    let mse = (0..3).map(|c| mse(&pa[c], &pb[c])).sum::<f64>() / 3.0;
    Some(db(mse))
}

/// PSNR in dB per Y, Cb and Cr plane (JPEG's full-range BT.601 conversion).
pub fn psnr_ycbcr(a: &RgbaImage, b: &RgbaImage) -> Option<[f64; 3]> {
    same_size(a, b)?;
    let (pa, pb) = (ycbcr(a), ycbcr(b));
    Some(std::array::from_fn(|c| db(mse(&pa[c], &pb[c]))))
}

/// Mean SSIM of the luma planes (Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03; the
/// window is cut at the edges and renormalised).
pub fn ssim(a: &RgbaImage, b: &RgbaImage) -> Option<f64> {
    same_size(a, b)?;
    let (w, h) = (a.width as usize, a.height as usize);
    let (ya, yb) = (&ycbcr(a)[0], &ycbcr(b)[0]);
    let g: Vec<f64> = (-5i32..=5)
        .map(|i| (-f64::from(i * i) / (2.0 * 1.5 * 1.5)).exp())
        .collect();
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut total = 0.0;
    for y in 0..h {
        for x in 0..w {
            let (mut sw, mut ma, mut mb, mut saa, mut sbb, mut sab) =
                (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            for dy in -5i64..=5 {
                let yy = y as i64 + dy;
                if yy < 0 || yy >= h as i64 {
                    continue;
                }
                for dx in -5i64..=5 {
                    let xx = x as i64 + dx;
                    if xx < 0 || xx >= w as i64 {
                        continue;
                    }
                    let wt = g[(dy + 5) as usize] * g[(dx + 5) as usize];
                    let i = yy as usize * w + xx as usize;
                    let (va, vb) = (ya[i], yb[i]);
                    sw += wt;
                    ma += wt * va;
                    mb += wt * vb;
                    saa += wt * va * va;
                    sbb += wt * vb * vb;
                    sab += wt * va * vb;
                }
            }
            let (ma, mb) = (ma / sw, mb / sw);
            let va = saa / sw - ma * ma;
            let vb = sbb / sw - mb * mb;
            let cov = sab / sw - ma * mb;
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
    }
    Some(total / (w * h) as f64)
}

fn same_size(a: &RgbaImage, b: &RgbaImage) -> Option<()> {
    ((a.width, a.height) == (b.width, b.height) && !a.pixels.is_empty()).then_some(())
}

fn ycbcr(img: &RgbaImage) -> [Vec<f64>; 3] {
    let mut planes: [Vec<f64>; 3] = Default::default();
    for p in img.pixels.chunks_exact(4) {
        let (r, g, b) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
        planes[0].push(0.299 * r + 0.587 * g + 0.114 * b);
        planes[1].push(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b);
        planes[2].push(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b);
    }
    planes
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len().max(1) as f64
}

fn db(mse: f64) -> f64 {
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbaImage {
        crate::RgbImage::from_fn(w, h, |x, y| [(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
            .to_rgba()
    }

    #[test]
    fn resampling_at_the_same_size_is_the_identity() {
        let img = gradient(40, 30);
        let same = lanczos3(&img, (0.0, 0.0, 40.0, 30.0), 40, 30);
        assert_eq!(same.pixels, img.pixels);
        assert_eq!(psnr(&img, &same), Some(f64::INFINITY));
        assert!((ssim(&img, &same).unwrap_or(0.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn halving_a_flat_image_keeps_it_flat_and_a_shift_costs_psnr() {
        let flat = crate::RgbImage::from_fn(20, 20, |_, _| [10, 200, 30]).to_rgba();
        let half = lanczos3(&flat, (0.0, 0.0, 20.0, 20.0), 10, 10);
        assert!(half.pixels.chunks_exact(4).all(|p| p == [10, 200, 30, 255]));
        let img = gradient(64, 64);
        let exact = lanczos3(&img, (0.0, 0.0, 64.0, 64.0), 16, 16);
        let shifted = lanczos3(&img, (2.0, 2.0, 64.0, 62.0), 16, 16);
        let p = psnr(&exact, &shifted).unwrap_or(f64::INFINITY);
        assert!(p < 40.0, "{p}");
    }

    #[test]
    fn transparent_pixels_do_not_darken_their_neighbours() {
        // left half opaque red, right half transparent black
        let img = crate::RgbImage::from_fn(8, 2, |x, _| if x < 4 { [255, 0, 0] } else { [0; 3] })
            .with_alpha(|x, _| if x < 4 { 255 } else { 0 });
        let small = lanczos3(&img, (0.0, 0.0, 8.0, 2.0), 4, 1);
        for p in small.pixels.chunks_exact(4).filter(|p| p[3] > 0) {
            assert_eq!(&p[..3], &[255, 0, 0], "{p:?}");
        }
    }

    #[test]
    fn the_cover_crop_is_centred() {
        assert_eq!(cover_crop(400, 300, 100, 100), (50.0, 0.0, 300.0, 300.0));
        assert_eq!(cover_crop(300, 401, 3, 2), (0.0, 100.5, 300.0, 200.0));
    }
}
