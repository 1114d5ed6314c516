//! The arithmetic of fitting: how big the thumbnail is and which part of the source it shows.
//!
//! Images are never enlarged. `contain` gives the whole image at the largest size that fits the
//! box and is not bigger than the source (so a source smaller than the box keeps its size).
//! `cover` gives exactly the box when the source is at least that big in the cropped direction;
//! a smaller source gives the largest centred crop with the box's aspect ratio, unscaled.

use crate::params::{Fit, Params};

/// A rectangle of source pixels, in (fractional) source pixel units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Crop {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// The thumbnail's size and the part of the source it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    pub src_width: u32,
    pub src_height: u32,
    pub out_width: u32,
    pub out_height: u32,
    pub crop: Crop,
}

impl Plan {
    /// The plan for a `src_width` x `src_height` source (both at least 1).
    pub fn new(src_width: u32, src_height: u32, params: &Params) -> Plan {
        let (w, h) = (u64::from(src_width.max(1)), u64::from(src_height.max(1)));
        let (bw, bh) = (
            u64::from(params.width.max(1)),
            u64::from(params.height.max(1)),
        );
        let whole = Crop {
            left: 0.0,
            top: 0.0,
            width: w as f64,
            height: h as f64,
        };
        // wider: the source's aspect ratio is at least the box's (w/h >= bw/bh)
        let wider = w * bh >= h * bw;
        let (out_w, out_h, crop) = match params.fit {
            Fit::Contain if w <= bw && h <= bh => (w, h, whole),
            Fit::Contain if wider => (bw, rounded_ratio(h, bw, w), whole),
            Fit::Contain => (rounded_ratio(w, bh, h), bh, whole),
            Fit::Cover if wider => {
                let crop_w = h as f64 * bw as f64 / bh as f64;
                let crop = Crop {
                    left: (w as f64 - crop_w) / 2.0,
                    width: crop_w,
                    ..whole
                };
                if h >= bh {
                    (bw, bh, crop)
                } else {
                    (rounded_ratio(h, bw, bh).min(w), h, crop)
                }
            }
            Fit::Cover => {
                let crop_h = w as f64 * bh as f64 / bw as f64;
                let crop = Crop {
                    top: (h as f64 - crop_h) / 2.0,
                    height: crop_h,
                    ..whole
                };
                if w >= bw {
                    (bw, bh, crop)
                } else {
                    (w, rounded_ratio(w, bh, bw).min(h), crop)
                }
            }
        };
        Plan {
            src_width: w as u32,
            src_height: h as u32,
            // every factor above is at most a u32 and the results never exceed the box or source
            out_width: out_w.clamp(1, u64::from(u32::MAX)) as u32,
            out_height: out_h.clamp(1, u64::from(u32::MAX)) as u32,
            crop,
        }
    }

    /// The smallest size the whole source can be reduced to (by a decoder that shrinks on load)
    /// and still give this thumbnail without upscaling: never more than the source itself.
    pub fn min_source_size(&self) -> (u32, u32) {
        let scale = (f64::from(self.out_width) / self.crop.width)
            .max(f64::from(self.out_height) / self.crop.height)
            .min(1.0);
        // (the small slack keeps 200.00000000000003 from becoming 201)
        let need = |len: u32| ((f64::from(len) * scale - 1e-6).ceil() as u32).clamp(1, len);
        (need(self.src_width), need(self.src_height))
    }

    /// The same plan with x and y swapped (for a source stored rotated by 90 degrees). A centred
    /// crop stays centred under every flip, so swapping is all an EXIF orientation needs.
    pub fn transposed(&self) -> Plan {
        Plan {
            src_width: self.src_height,
            src_height: self.src_width,
            out_width: self.out_height,
            out_height: self.out_width,
            crop: Crop {
                left: self.crop.top,
                top: self.crop.left,
                width: self.crop.height,
                height: self.crop.width,
            },
        }
    }

    /// The crop in the pixels of the source decoded so that the whole picture spans
    /// `extent` (width, height) of them: its size for a plain decode, a fraction of it after
    /// shrink-on-load (a 427-row picture decoded at 1/2 spans 213.5 of its 214 rows, the last
    /// one half padding). Clamped so that rounding can never put it outside the picture.
    pub fn crop_at(&self, (w, h): (f64, f64)) -> Crop {
        let crop_w = (self.crop.width * w / f64::from(self.src_width)).min(w);
        let crop_h = (self.crop.height * h / f64::from(self.src_height)).min(h);
        Crop {
            left: (self.crop.left * w / f64::from(self.src_width)).clamp(0.0, w - crop_w),
            top: (self.crop.top * h / f64::from(self.src_height)).clamp(0.0, h - crop_h),
            width: crop_w,
            height: crop_h,
        }
    }
}

/// round(a * b / c), at least 1.
fn rounded_ratio(a: u64, b: u64, c: u64) -> u64 {
    ((2 * a * b + c) / (2 * c)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(w: u32, h: u32, bw: u32, bh: u32, fit: Fit) -> Plan {
        let params = Params {
            width: bw,
            height: bh,
            fit,
            ..Params::default()
        };
        Plan::new(w, h, &params)
    }

    fn out(p: Plan) -> (u32, u32) {
        (p.out_width, p.out_height)
    }

    #[test]
    fn contain_fits_inside_and_keeps_the_ratio() {
        assert_eq!(out(plan(4000, 3000, 256, 256, Fit::Contain)), (256, 192));
        assert_eq!(out(plan(3000, 4000, 256, 256, Fit::Contain)), (192, 256));
        assert_eq!(out(plan(1920, 1080, 100, 300, Fit::Contain)), (100, 56));
        assert_eq!(out(plan(10000, 1, 256, 256, Fit::Contain)), (256, 1));
        // never enlarged
        assert_eq!(out(plan(100, 80, 256, 256, Fit::Contain)), (100, 80));
        assert_eq!(out(plan(300, 200, 256, 256, Fit::Contain)), (256, 171));
    }

    #[test]
    fn cover_fills_the_box_and_crops_the_centre() {
        let p = plan(4000, 3000, 200, 200, Fit::Cover);
        assert_eq!(out(p), (200, 200));
        assert_eq!(
            p.crop,
            Crop {
                left: 500.0,
                top: 0.0,
                width: 3000.0,
                height: 3000.0
            }
        );
        assert_eq!(p.min_source_size(), (267, 200));
        let tall = plan(1000, 3000, 300, 100, Fit::Cover);
        assert_eq!(out(tall), (300, 100));
        assert!((tall.crop.top - (3000.0 - 1000.0 / 3.0) / 2.0).abs() < 1e-9);
        // small sources are cropped to the box's shape but not enlarged
        assert_eq!(out(plan(100, 400, 256, 256, Fit::Cover)), (100, 100));
        assert_eq!(out(plan(300, 100, 256, 128, Fit::Cover)), (200, 100));
    }

    #[test]
    fn crops_stay_inside_any_decoded_size() {
        for (w, h) in [(4000, 3000), (333, 1000), (1, 7), (65535, 3), (997, 601)] {
            for (bw, bh) in [(256, 256), (100, 300), (7, 3), (1, 1)] {
                let p = plan(w, h, bw, bh, Fit::Cover);
                for d in [1, 2, 4, 8] {
                    let (dw, dh) = (f64::from(w) / f64::from(d), f64::from(h) / f64::from(d));
                    let c = p.crop_at((dw, dh));
                    assert!(c.left >= 0.0 && c.top >= 0.0, "{w}x{h} {bw}x{bh} /{d}");
                    assert!(c.left + c.width <= dw, "{w}x{h} {bw}x{bh} /{d}");
                    assert!(c.top + c.height <= dh, "{w}x{h} {bw}x{bh} /{d}");
                    assert!(c.width > 0.0 && c.height > 0.0);
                }
            }
        }
    }

    #[test]
    fn a_scaled_decode_maps_the_whole_picture_to_its_fractional_extent() {
        // 640x427 decoded at 1/2 is 320x214 pixels for 320x213.5 of picture
        let p = plan(640, 427, 256, 256, Fit::Contain);
        let c = p.crop_at((320.0, 213.5));
        assert_eq!((c.left, c.top, c.width, c.height), (0.0, 0.0, 320.0, 213.5));
        // a cover crop stays centred on the picture, not on the padded raster
        let p = plan(641, 427, 100, 100, Fit::Cover);
        let c = p.crop_at((80.125, 53.375));
        assert!((c.left - (80.125 - 53.375) / 2.0).abs() < 1e-9, "{c:?}");
        assert_eq!((c.top, c.height), (0.0, 53.375));
    }

    #[test]
    fn transposing_swaps_everything() {
        let p = plan(4000, 3000, 300, 100, Fit::Cover);
        let t = p.transposed();
        assert_eq!(
            (t.src_width, t.src_height, t.out_width, t.out_height),
            (3000, 4000, 100, 300)
        );
        assert_eq!(t.transposed(), p);
        assert_eq!(p.min_source_size(), (300, 225));
        assert_eq!(t.min_source_size(), (225, 300));
    }
}
