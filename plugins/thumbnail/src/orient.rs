//! EXIF orientation (tag 0x0112, values 1-8): reading it and turning stored pixels upright.

use crate::raster::Raster;

/// How the stored pixels must be transformed to be displayed upright (the EXIF value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orientation {
    /// 1: as stored.
    #[default]
    Normal,
    /// 2: mirrored left to right.
    FlipHorizontal,
    /// 3: turned by 180 degrees.
    Rotate180,
    /// 4: mirrored top to bottom.
    FlipVertical,
    /// 5: mirrored along the top-left to bottom-right diagonal.
    Transpose,
    /// 6: turned 90 degrees clockwise to display.
    Rotate90,
    /// 7: mirrored along the top-right to bottom-left diagonal.
    Transverse,
    /// 8: turned 90 degrees anticlockwise (270 clockwise) to display.
    Rotate270,
}

impl Orientation {
    /// The orientation for an EXIF value; anything outside 1-8 counts as 1, as viewers do.
    pub fn from_exif_value(value: u32) -> Orientation {
        match value {
            2 => Orientation::FlipHorizontal,
            3 => Orientation::Rotate180,
            4 => Orientation::FlipVertical,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate270,
            _ => Orientation::Normal,
        }
    }

    /// Reads the orientation from raw EXIF data (a TIFF structure, as in a JPEG's APP1 after
    /// `Exif\0\0`, a PNG eXIf chunk or a WebP EXIF chunk). Unreadable EXIF means no rotation:
    /// broken metadata is common and should not cost the user their thumbnail.
    /// A leading `Exif\0\0` (which some writers put in PNG and WebP chunks too) is skipped.
    pub fn from_exif(tiff: &[u8]) -> Orientation {
        let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
        let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
            return Orientation::Normal;
        };
        exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .and_then(|field| field.value.get_uint(0))
            .map_or(Orientation::Normal, Orientation::from_exif_value)
    }

    /// True if width and height swap when turned upright (values 5-8).
    pub fn swaps_axes(self) -> bool {
        matches!(
            self,
            Orientation::Transpose
                | Orientation::Rotate90
                | Orientation::Transverse
                | Orientation::Rotate270
        )
    }

    /// The stored pixels turned upright.
    pub fn apply(self, src: Raster) -> Raster {
        if self == Orientation::Normal {
            return src;
        }
        let (w, h) = (src.width as usize, src.height as usize);
        let (out_w, out_h) = if self.swaps_axes() { (h, w) } else { (w, h) };
        let c = src.channels();
        let mut pixels = vec![0u8; src.pixels.len()];
        for y in 0..out_h {
            for x in 0..out_w {
                // the stored pixel shown at (x, y)
                let (sx, sy) = match self {
                    Orientation::Normal => (x, y),
                    Orientation::FlipHorizontal => (w - 1 - x, y),
                    Orientation::Rotate180 => (w - 1 - x, h - 1 - y),
                    Orientation::FlipVertical => (x, h - 1 - y),
                    Orientation::Transpose => (y, x),
                    Orientation::Rotate90 => (y, h - 1 - x),
                    Orientation::Transverse => (w - 1 - y, h - 1 - x),
                    Orientation::Rotate270 => (w - 1 - y, x),
                };
                let from = (sy * w + sx) * c;
                let to = (y * out_w + x) * c;
                // a copy of a fixed size: one of `c` bytes is a host call per pixel in wasm
                if c == 4 {
                    pixels[to..to + 4].copy_from_slice(&src.pixels[from..from + 4]);
                } else {
                    pixels[to..to + 3].copy_from_slice(&src.pixels[from..from + 3]);
                }
            }
        }
        Raster {
            width: out_w as u32,
            height: out_h as u32,
            has_alpha: src.has_alpha,
            pixels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3x2 gray raster whose pixel values are 0..6 in reading order.
    fn numbered() -> Raster {
        Raster {
            width: 3,
            height: 2,
            has_alpha: false,
            pixels: (0u8..6).flat_map(|v| [v, v, v]).collect(),
        }
    }

    fn values(r: &Raster) -> Vec<u8> {
        r.pixels.chunks_exact(3).map(|p| p[0]).collect()
    }

    #[test]
    fn every_orientation_moves_pixels_as_exif_says() {
        // stored:  0 1 2
        //          3 4 5
        let cases: [(u32, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (value, size, expected) in cases {
            let out = Orientation::from_exif_value(value).apply(numbered());
            assert_eq!((out.width, out.height), size, "orientation {value}");
            assert_eq!(values(&out), expected, "orientation {value}");
        }
    }

    #[test]
    fn unreadable_exif_means_upright() {
        assert_eq!(Orientation::from_exif(b"garbage"), Orientation::Normal);
        assert_eq!(Orientation::from_exif(&[]), Orientation::Normal);
        assert_eq!(Orientation::from_exif_value(0), Orientation::Normal);
        assert_eq!(Orientation::from_exif_value(9), Orientation::Normal);
    }
}
