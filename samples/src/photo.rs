//! Photo-like pictures of any size, deterministic from a seed.
//!
//! A corpus photograph (chosen by the seed) is enlarged 1-2x or reduced to cover the picture,
//! mirrored at its edges when the picture is bigger, and given a smooth exposure gradient and
//! fine sensor-like noise, so that JPEG sizes and decode times are those of real photos. When
//! the corpus is missing, a procedural scene (smooth colour fields and soft discs) stands in.

use std::f64::consts::TAU;
use std::sync::OnceLock;

use crate::corpus::{load_corpus, PHOTOS};
use crate::RgbImage;

/// A `width` x `height` photo-like picture; the same seed always gives the same pixels.
pub fn photo(width: u32, height: u32, seed: u64) -> RgbImage {
    let (width, height) = (width.max(1), height.max(1));
    let mut rng = Rng::new(seed);
    let mut img = match corpus_photo(seed) {
        Some(src) => resample_tiled(src, width, height, &mut rng),
        None => procedural(width, height, &mut rng),
    };
    add_light_and_noise(&mut img, &mut rng);
    img
}

/// The corpus photo for `seed`, decoded once per process; `None` without a corpus.
fn corpus_photo(seed: u64) -> Option<&'static RgbImage> {
    static PHOTOS_DECODED: OnceLock<Vec<RgbImage>> = OnceLock::new();
    let photos = PHOTOS_DECODED.get_or_init(|| {
        PHOTOS
            .iter()
            .filter_map(|name| load_corpus(name).ok())
            .collect()
    });
    if photos.is_empty() {
        None
    } else {
        photos.get((seed % photos.len() as u64) as usize)
    }
}

/// Bilinear resampling of `src` at a random zoom and offset, mirrored beyond its edges.
fn resample_tiled(src: &RgbImage, width: u32, height: u32, rng: &mut Rng) -> RgbImage {
    let cover =
        (f64::from(width) / f64::from(src.width)).max(f64::from(height) / f64::from(src.height));
    let zoom = if cover >= 1.0 {
        1.0 + rng.unit()
    } else {
        cover * (1.0 + 0.5 * rng.unit())
    };
    let taps = |len: u32, src_len: u32, rng: &mut Rng| -> Vec<(usize, usize, u32)> {
        let offset = rng.unit() * f64::from(src_len) * zoom;
        (0..len)
            .map(|i| {
                let u = (f64::from(i) + offset) / zoom;
                let base = u.floor();
                let frac = ((u - base) * 256.0) as u32;
                let base = base as i64;
                (mirror(base, src_len), mirror(base + 1, src_len), frac)
            })
            .collect()
    };
    let xs = taps(width, src.width, rng);
    let ys = taps(height, src.height, rng);
    let stride = src.width as usize * 3;
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for &(y0, y1, fy) in &ys {
        let (row0, row1) = (
            &src.pixels[y0 * stride..][..stride],
            &src.pixels[y1 * stride..][..stride],
        );
        for &(x0, x1, fx) in &xs {
            for c in 0..3 {
                let top =
                    u32::from(row0[x0 * 3 + c]) * (256 - fx) + u32::from(row0[x1 * 3 + c]) * fx;
                let bottom =
                    u32::from(row1[x0 * 3 + c]) * (256 - fx) + u32::from(row1[x1 * 3 + c]) * fx;
                pixels.push(((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8);
            }
        }
    }
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// Index `i` reflected into `0..len` (…, 2, 1, 0, 1, 2, …, len-1, len-2, …).
fn mirror(i: i64, len: u32) -> usize {
    let n = i64::from(len);
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Smooth colour fields with a few soft discs: a stand-in scene when the corpus is missing.
fn procedural(width: u32, height: u32, rng: &mut Rng) -> RgbImage {
    let wave = |len: u32, rng: &mut Rng| -> Vec<[f32; 3]> {
        let (freq, phase) = (1.0 + rng.unit() * 4.0, rng.unit() * TAU);
        let amp = [
            40.0 + 40.0 * rng.unit(),
            40.0 + 40.0 * rng.unit(),
            40.0 + 40.0 * rng.unit(),
        ];
        (0..len)
            .map(|i| {
                let t = (f64::from(i) / f64::from(len) * freq * TAU + phase).sin();
                [
                    (amp[0] * t) as f32,
                    (amp[1] * t * 0.8) as f32,
                    (amp[2] * -t) as f32,
                ]
            })
            .collect()
    };
    let (wx, wy) = (wave(width, rng), wave(height, rng));
    let base = [
        90.0 + 60.0 * rng.unit(),
        90.0 + 60.0 * rng.unit(),
        90.0 + 60.0 * rng.unit(),
    ];
    let mut img = RgbImage::from_fn(width, height, |x, y| {
        let (a, b) = (wx[x as usize], wy[y as usize]);
        [0, 1, 2].map(|c| (base[c] as f32 + a[c] + b[c]).clamp(0.0, 255.0) as u8)
    });
    for _ in 0..8 {
        let (cx, cy) = (
            rng.unit() * f64::from(width),
            rng.unit() * f64::from(height),
        );
        let r = (0.05 + 0.2 * rng.unit()) * f64::from(width.min(height));
        let colour = [rng.byte(), rng.byte(), rng.byte()];
        let (x0, x1) = ((cx - r).max(0.0) as u32, ((cx + r) as u32).min(width));
        let (y0, y1) = ((cy - r).max(0.0) as u32, ((cy + r) as u32).min(height));
        for y in y0..y1 {
            for x in x0..x1 {
                let d = ((f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2)).sqrt() / r;
                let w = (1.0 - d).clamp(0.0, 0.25) * 4.0; // soft edge over the outer quarter
                let i = (y as usize * width as usize + x as usize) * 3;
                for (v, target) in img.pixels[i..i + 3].iter_mut().zip(colour) {
                    let old = f64::from(*v);
                    *v = (old + (f64::from(target) - old) * w) as u8;
                }
            }
        }
    }
    img
}

/// A linear exposure gradient across the picture plus fine luma and chroma noise.
fn add_light_and_noise(img: &mut RgbImage, rng: &mut Rng) {
    let (w, h) = (img.width as usize, img.height as usize);
    let (gx, gy) = ((rng.unit() - 0.5) * 40.0, (rng.unit() - 0.5) * 40.0);
    let light_x: Vec<i32> = (0..w)
        .map(|x| ((x as f64 / w as f64 - 0.5) * gx) as i32)
        .collect();
    let mut noise = Rng::new(rng.next());
    for (y, row) in img.pixels.chunks_exact_mut(w * 3).enumerate() {
        let light_y = ((y as f64 / h as f64 - 0.5) * gy) as i32;
        for (x, p) in row.chunks_exact_mut(3).enumerate() {
            let r = noise.next();
            let luma = (r & 7) as i32 - 4 + light_x[x] + light_y;
            for (c, v) in p.iter_mut().enumerate() {
                let chroma = ((r >> (8 + 4 * c)) & 3) as i32 - 2;
                *v = (i32::from(*v) + luma + chroma).clamp(0, 255) as u8;
            }
        }
    }
}

/// SplitMix64: small, fast, and the same everywhere.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_reflects_at_both_edges() {
        let got: Vec<usize> = (-3..8).map(|i| mirror(i, 4)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(mirror(5, 1), 0);
    }

    #[test]
    fn photos_are_deterministic_and_varied() {
        let a = photo(300, 200, 7);
        assert_eq!(a, photo(300, 200, 7));
        assert_ne!(a, photo(300, 200, 8));
        assert_eq!(a.pixels.len(), 300 * 200 * 3);
        // not flat: plenty of distinct values
        let mut seen = [false; 256];
        a.pixels.iter().for_each(|&v| seen[v as usize] = true);
        assert!(seen.iter().filter(|&&s| s).count() > 100);
    }

    #[test]
    fn procedural_fallback_is_not_flat() {
        let img = procedural(64, 48, &mut Rng::new(3));
        assert_eq!(img.pixels.len(), 64 * 48 * 3);
        assert!(img.pixels.iter().any(|&v| v != img.pixels[0]));
    }
}
