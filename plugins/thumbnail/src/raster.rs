//! [`Raster`], the one in-memory picture every step works on (8-bit RGB or RGBA, rows top to
//! bottom, no padding), and the conversions of the decoders' pixel layouts into it.

/// Decoded pixels: RGB8 when `has_alpha` is false, RGBA8 (straight, not premultiplied) when true.
#[derive(Clone, PartialEq, Eq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for Raster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.has_alpha { "RGBA8" } else { "RGB8" };
        write!(f, "Raster({}x{} {kind})", self.width, self.height)
    }
}

impl Raster {
    /// Bytes per pixel: 3 or 4.
    pub fn channels(&self) -> usize {
        if self.has_alpha {
            4
        } else {
            3
        }
    }

    /// The pixel at (x, y) as RGBA (alpha 255 for an RGB raster). Panics outside the raster.
    pub fn rgba(&self, x: u32, y: u32) -> [u8; 4] {
        let c = self.channels();
        let i = (y as usize * self.width as usize + x as usize) * c;
        let p = &self.pixels[i..i + c];
        [p[0], p[1], p[2], if c == 4 { p[3] } else { 255 }]
    }

    /// Sets the pixel at (x, y); alpha is dropped on an RGB raster. Panics outside the raster.
    pub fn set_rgba(&mut self, x: u32, y: u32, rgba: [u8; 4]) {
        let c = self.channels();
        let i = (y as usize * self.width as usize + x as usize) * c;
        self.pixels[i..i + c].copy_from_slice(&rgba[..c]);
    }

    /// This raster without its alpha channel, composited onto a white background.
    pub fn flattened_on_white(&self) -> Raster {
        if !self.has_alpha {
            return self.clone();
        }
        let pixels = self
            .pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
                [over(p[0]), over(p[1]), over(p[2])]
            })
            .collect();
        Raster {
            width: self.width,
            height: self.height,
            has_alpha: false,
            pixels,
        }
    }

    /// True if every pixel is fully opaque (or there is no alpha channel).
    pub fn is_opaque(&self) -> bool {
        !self.has_alpha || self.pixels.chunks_exact(4).all(|p| p[3] == 255)
    }
}

/// One gray byte per pixel to RGB.
pub(crate) fn gray_to_rgb(gray: &[u8]) -> Vec<u8> {
    gray.iter().flat_map(|&g| [g, g, g]).collect()
}

/// Gray + alpha to RGBA.
pub(crate) fn gray_alpha_to_rgba(ga: &[u8]) -> Vec<u8> {
    ga.chunks_exact(2)
        .flat_map(|p| [p[0], p[0], p[0], p[1]])
        .collect()
}

/// 16-bit big-endian gray (jpeg-decoder's L16) to RGB, keeping the high byte.
pub(crate) fn gray16_to_rgb(gray: &[u8]) -> Vec<u8> {
    gray.chunks_exact(2)
        .flat_map(|p| [p[0], p[0], p[0]])
        .collect()
}

/// jpeg-decoder's CMYK32 output to RGB.
///
/// jpeg-decoder already undoes the inversion that Adobe applications write (and that an APP14
/// marker announces), so its bytes are ink amounts: 0 = no ink, 255 = full ink. Without a colour
/// profile the usual naive conversion is the best there is: R = (255 - C) * (255 - K) / 255.
pub(crate) fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let k = 255 - u32::from(p[3]);
            let ink = |c: u8| (((255 - u32::from(c)) * k + 127) / 255) as u8;
            [ink(p[0]), ink(p[1]), ink(p[2])]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_blends_onto_white() {
        let r = Raster {
            width: 3,
            height: 1,
            has_alpha: true,
            pixels: vec![255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 128],
        };
        let flat = r.flattened_on_white();
        assert!(!flat.has_alpha);
        assert_eq!(flat.pixels, vec![255, 0, 0, 255, 255, 255, 127, 127, 127]);
        assert!(!r.is_opaque());
    }

    #[test]
    fn cmyk_inks_become_rgb() {
        // no ink = white, full black = black, full cyan = (0, 255, 255)
        let rgb = cmyk_to_rgb(&[0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0]);
        assert_eq!(rgb, vec![255, 255, 255, 0, 0, 0, 0, 255, 255]);
    }
}
