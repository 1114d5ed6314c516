//! Pictures with coloured quadrants, for checking EXIF orientation on real pixels.
//!
//! [`marked`] is red in its top-left quadrant, blue in its top-right one and gray below. Stored
//! with an EXIF orientation, the upright picture must show those colours in the corners that
//! [`marks_after`] gives; all eight orientations give different corners.

use crate::RgbImage;

/// A mark's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Red,
    Blue,
    Gray,
}

impl Mark {
    pub const fn rgb(self) -> [u8; 3] {
        match self {
            Mark::Red => [220, 30, 30],
            Mark::Blue => [30, 40, 220],
            Mark::Gray => [128, 128, 128],
        }
    }

    /// The mark nearest to `rgb`, if it is near enough (each channel within 60).
    pub fn classify(rgb: [u8; 3]) -> Option<Mark> {
        [Mark::Red, Mark::Blue, Mark::Gray].into_iter().find(|m| {
            m.rgb()
                .iter()
                .zip(rgb)
                .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() <= 60)
        })
    }
}

/// The four corners, in the order of [`marks_after`]'s result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

pub const CORNERS: [Corner; 4] = [
    Corner::TopLeft,
    Corner::TopRight,
    Corner::BottomLeft,
    Corner::BottomRight,
];

impl Corner {
    /// The centre of this corner's quadrant in a `width` x `height` picture.
    pub fn probe(self, width: u32, height: u32) -> (u32, u32) {
        let (left, top) = (width / 4, height / 4);
        let (right, bottom) = (width - 1 - width / 4, height - 1 - height / 4);
        match self {
            Corner::TopLeft => (left, top),
            Corner::TopRight => (right, top),
            Corner::BottomLeft => (left, bottom),
            Corner::BottomRight => (right, bottom),
        }
    }
}

/// A `width` x `height` picture: red top-left quadrant, blue top-right, gray bottom half.
pub fn marked(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let mark = match (x < width / 2, y < height / 2) {
            (true, true) => Mark::Red,
            (false, true) => Mark::Blue,
            _ => Mark::Gray,
        };
        mark.rgb()
    })
}

/// The marks in the corners (top-left, top-right, bottom-left, bottom-right) of [`marked`] once
/// it is turned upright by EXIF `orientation` (1-8).
pub fn marks_after(orientation: u16) -> [Mark; 4] {
    use Mark::{Blue as B, Gray as G, Red as R};
    match orientation {
        2 => [B, R, G, G], // mirrored left-right
        3 => [G, G, B, R], // turned 180
        4 => [G, G, R, B], // mirrored top-bottom
        5 => [R, G, B, G], // transposed: the top row becomes the left column
        6 => [G, R, G, B], // turned 90 clockwise: the top row becomes the right column
        7 => [G, B, G, R], // transversed: the top row becomes the right column, reversed
        8 => [B, G, R, G], // turned 90 anticlockwise: the top row becomes the left column, reversed
        _ => [R, B, G, G],
    }
}

/// The marks found in the corners of `img` (top-left, top-right, bottom-left, bottom-right).
pub fn marks_of(img: &RgbImage) -> [Option<Mark>; 4] {
    CORNERS.map(|corner| {
        let (x, y) = corner.probe(img.width, img.height);
        Mark::classify(img.get(x, y))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upright_marked_picture_has_its_marks_where_expected() {
        let img = marked(64, 40);
        assert_eq!(marks_of(&img), marks_after(1).map(Some));
        let all: Vec<[Mark; 4]> = (1..=8).map(marks_after).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(
                all[i + 1..].iter().all(|b| a != b),
                "orientations must be distinguishable"
            );
        }
    }
}
