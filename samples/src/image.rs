//! The two plain pixel containers of this crate.

/// 8-bit RGB pixels, rows top to bottom, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// 8-bit RGBA pixels (straight alpha), rows top to bottom, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl std::fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbaImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    /// An image made pixel by pixel from `f(x, y)`.
    pub fn from_fn(width: u32, height: u32, mut f: impl FnMut(u32, u32) -> [u8; 3]) -> Self {
        let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
        for y in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(&f(x, y));
            }
        }
        RgbImage {
            width,
            height,
            pixels,
        }
    }

    /// The pixel at (x, y). Panics outside the image.
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// The image with `alpha(x, y)` as its alpha channel.
    pub fn with_alpha(&self, mut alpha: impl FnMut(u32, u32) -> u8) -> RgbaImage {
        let mut pixels = Vec::with_capacity(self.pixels.len() / 3 * 4);
        for (i, p) in self.pixels.chunks_exact(3).enumerate() {
            let (x, y) = (
                (i % self.width as usize) as u32,
                (i / self.width as usize) as u32,
            );
            pixels.extend_from_slice(&[p[0], p[1], p[2], alpha(x, y)]);
        }
        RgbaImage {
            width: self.width,
            height: self.height,
            pixels,
        }
    }

    /// The image, fully opaque.
    pub fn to_rgba(&self) -> RgbaImage {
        self.with_alpha(|_, _| 255)
    }

    /// The image in shades of gray (Rec. 601 luma), still as RGB.
    pub fn to_gray(&self) -> RgbImage {
        RgbImage {
            width: self.width,
            height: self.height,
            pixels: self
                .pixels
                .chunks_exact(3)
                .flat_map(|p| {
                    let l = luma(p[0], p[1], p[2]);
                    [l, l, l]
                })
                .collect(),
        }
    }
}

impl RgbaImage {
    /// The pixel at (x, y). Panics outside the image.
    pub fn get(&self, x: u32, y: u32) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [
            self.pixels[i],
            self.pixels[i + 1],
            self.pixels[i + 2],
            self.pixels[i + 3],
        ]
    }

    /// The colour channels, alpha dropped.
    pub fn to_rgb(&self) -> RgbImage {
        RgbImage {
            width: self.width,
            height: self.height,
            pixels: self
                .pixels
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        }
    }

    /// The image composited onto white, stated as the test oracle states it (independently of
    /// the plugin's integer formula, so a mistake there shows up as a difference): each channel
    /// falls from white towards its colour in proportion to the opacity,
    /// `white - (white - c) * alpha` with alpha in 0..=1, rounded to the nearest level.
    pub fn flattened_on_white(&self) -> RgbImage {
        const WHITE: f64 = 255.0;
        RgbImage {
            width: self.width,
            height: self.height,
            pixels: self
                .pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let opacity = f64::from(p[3]) / 255.0;
                    let over = |c: u8| (WHITE - (WHITE - f64::from(c)) * opacity).round() as u8;
                    [over(p[0]), over(p[1]), over(p[2])]
                })
                .collect(),
        }
    }
}

/// Rec. 601 luma of an RGB colour.
pub(crate) fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_on_white_by_hand() {
        let image = RgbaImage {
            width: 3,
            height: 1,
            pixels: vec![
                0, 0, 0, 128, // half-opaque black: halfway to white
                10, 20, 30, 0, // fully transparent: white
                10, 20, 30, 255, // opaque: its own colour
            ],
        };
        assert_eq!(
            image.flattened_on_white().pixels,
            vec![127, 127, 127, 255, 255, 255, 10, 20, 30]
        );
    }
}
