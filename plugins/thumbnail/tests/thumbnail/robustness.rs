//! Broken files give errors, never panics (a panic in wasm is a trap): every sample kind is
//! truncated at many lengths and has bytes corrupted at many places, deterministically.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cdn_samples::{jpeg, photo, png, webp_lossless, JpegColor, JpegOptions, PngColor, PngOptions};
use thumbnail::{make_thumbnail, Params};

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let img = photo(48, 40, 3);
    let rgba = img.with_alpha(|x, _| (x * 5) as u8);
    let j = |o: JpegOptions| jpeg(&img, 85, &o).expect("encodes");
    let p = |o: PngOptions| png(&rgba, &o).expect("encodes");
    vec![
        (
            "baseline JPEG",
            j(JpegOptions {
                exif_orientation: Some(6),
                ..Default::default()
            }),
        ),
        (
            "progressive JPEG",
            j(JpegOptions {
                progressive: true,
                ..Default::default()
            }),
        ),
        (
            "CMYK JPEG",
            j(JpegOptions {
                color: JpegColor::Cmyk,
                ..Default::default()
            }),
        ),
        (
            "gray JPEG",
            j(JpegOptions {
                color: JpegColor::Gray,
                ..Default::default()
            }),
        ),
        (
            "RGBA PNG",
            p(PngOptions {
                color: PngColor::Rgba,
                ..Default::default()
            }),
        ),
        (
            "interlaced 16-bit PNG",
            p(PngOptions {
                bit_depth: 16,
                interlaced: true,
                ..Default::default()
            }),
        ),
        (
            "palette PNG",
            p(PngOptions {
                color: PngColor::Palette,
                exif_orientation: Some(3),
                ..Default::default()
            }),
        ),
        ("WebP", webp_lossless(&rgba, true).expect("encodes")),
    ]
}

/// Runs the thumbnail on `input`; Ok or Err are both fine, a panic is not.
fn survives(what: &str, input: &[u8]) {
    let params = Params {
        max_pixels: 4_000_000, // keeps corrupted headers from asking for huge, slow decodes
        ..Params::default()
    };
    let result = catch_unwind(AssertUnwindSafe(|| make_thumbnail(input, &params)));
    assert!(result.is_ok(), "panicked on {what}");
}

#[test]
fn truncated_files_do_not_panic() {
    for (kind, bytes) in samples() {
        let step = (bytes.len() / 60).max(1);
        for len in (0..bytes.len()).step_by(step) {
            survives(&format!("{kind} cut to {len} bytes"), &bytes[..len]);
        }
    }
}

#[test]
fn corrupted_files_do_not_panic() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (kind, bytes) in samples() {
        for round in 0..1500 {
            let mut broken = bytes.clone();
            // mostly in the headers, where the parsers live, sometimes anywhere
            let span = if round % 2 == 0 {
                broken.len().min(400)
            } else {
                broken.len()
            };
            for _ in 0..=(round % 4) {
                let at = (next() as usize) % span;
                broken[at] = next() as u8;
            }
            survives(&format!("{kind}, corruption round {round}"), &broken);
        }
    }
}

#[test]
fn truncated_files_are_reported_as_such() {
    for (kind, bytes) in samples() {
        let cut = &bytes[..bytes.len() * 3 / 4];
        let err = make_thumbnail(cut, &Params::default()).expect_err(kind);
        let msg = err.to_string();
        assert!(
            msg.contains("truncated") || msg.contains("corrupt"),
            "{kind}: {msg}"
        );
    }
}
