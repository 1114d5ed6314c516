//! Comparing a thumbnail with what it should look like: an area-average reduction of the
//! source (an independent, simple resampler) and the mean absolute difference of two pictures.

use crate::RgbImage;

/// The part of `src` in `crop` (left, top, width, height in source pixels), reduced to
/// `width` x `height` by averaging the source pixels under each output pixel. For reductions
/// only (each output pixel covers at least one source pixel).
pub fn area_reduce(
    src: &RgbImage,
    crop: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> RgbImage {
    let (left, top, crop_w, crop_h) = crop;
    let span = |start: f64, step: f64, i: u32, len: u32| {
        let a = ((start + step * f64::from(i)).round() as u32).min(len - 1);
        let b = (start + step * f64::from(i + 1)).round() as u32;
        (a, b.clamp(a + 1, len))
    };
    let (sx, sy) = (crop_w / f64::from(width), crop_h / f64::from(height));
    RgbImage::from_fn(width, height, |x, y| {
        let (x0, x1) = span(left, sx, x, src.width);
        let (y0, y1) = span(top, sy, y, src.height);
        let mut sum = [0u64; 3];
        for yy in y0..y1 {
            for xx in x0..x1 {
                let p = src.get(xx, yy);
                for c in 0..3 {
                    sum[c] += u64::from(p[c]);
                }
            }
        }
        let n = u64::from((x1 - x0) * (y1 - y0));
        sum.map(|s| ((s + n / 2) / n) as u8)
    })
}

/// The whole of `src` reduced to `width` x `height`.
pub fn reduce(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let whole = (0.0, 0.0, f64::from(src.width), f64::from(src.height));
    area_reduce(src, whole, width, height)
}

/// The centred crop of `src` with the aspect ratio of `width` x `height`, reduced to that size
/// (what `--fit cover` shows).
pub fn reduce_cover(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = (f64::from(src.width), f64::from(src.height));
    let box_ratio = f64::from(width) / f64::from(height);
    let crop = if w / h >= box_ratio {
        let cw = h * box_ratio;
        ((w - cw) / 2.0, 0.0, cw, h)
    } else {
        let ch = w / box_ratio;
        (0.0, (h - ch) / 2.0, w, ch)
    };
    area_reduce(src, crop, width, height)
}

/// Mean absolute difference per channel (0-255) of two pictures of the same size; `None` if
/// their sizes differ.
pub fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> Option<f64> {
    if (a.width, a.height) != (b.width, b.height) || a.pixels.is_empty() {
        return None;
    }
    let total: u64 = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    Some(total as f64 / a.pixels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reducing_averages_blocks() {
        let img = RgbImage::from_fn(4, 2, |x, _| if x < 2 { [0, 0, 0] } else { [200, 100, 50] });
        let r = reduce(&img, 2, 1);
        assert_eq!(r.pixels, vec![0, 0, 0, 200, 100, 50]);
        assert_eq!(mean_abs_diff(&img, &img), Some(0.0));
        assert_eq!(mean_abs_diff(&img, &r), None);
    }

    #[test]
    fn cover_takes_the_centre() {
        // 6x2: black, white middle 2 columns, black
        let img = RgbImage::from_fn(6, 2, |x, _| {
            if (2..4).contains(&x) {
                [255; 3]
            } else {
                [0; 3]
            }
        });
        assert_eq!(reduce_cover(&img, 1, 1).pixels, vec![255, 255, 255]);
    }
}
