//! The library API beyond the golden cases: the reported size and format, `render`, defaults,
//! and the shrink-on-load path giving the same picture as a full decode.

use cdn_samples::compare::{mean_abs_diff, reduce};
use cdn_samples::{decode_rgb, jpeg, photo, JpegOptions};
use thumbnail::{make_thumbnail, render, Fit, Format, Params};

fn params(width: u32, height: u32, fit: Fit) -> Params {
    Params {
        width,
        height,
        fit,
        ..Params::default()
    }
}

#[test]
fn defaults_are_the_design_defaults() {
    let p = Params::default();
    assert_eq!(
        (p.width, p.height, p.fit, p.format, p.quality),
        (256, 256, Fit::Contain, Format::Jpeg, 80)
    );
    assert_eq!(p.max_pixels, 100_000_000);
}

#[test]
fn contain_fits_the_box_keeping_the_aspect_ratio_for_many_sizes() {
    let src = photo(997, 601, 4);
    let input = jpeg(&src, 85, &JpegOptions::default()).expect("encodes");
    for (bw, bh) in [
        (256, 256),
        (100, 300),
        (300, 100),
        (1, 1),
        (64, 17),
        (996, 600),
        (2000, 2000),
    ] {
        let t = make_thumbnail(&input, &params(bw, bh, Fit::Contain)).expect("thumbnail");
        assert!(
            t.width <= bw && t.height <= bh,
            "{bw}x{bh} -> {}x{}",
            t.width,
            t.height
        );
        assert!(t.width <= 997 && t.height <= 601, "never enlarged");
        assert!(
            t.width == bw.min(997) || t.height == bh.min(601),
            "touches the box"
        );
        // aspect ratio within one pixel: the other side is the rounded exact value
        let exact_h = f64::from(t.width) * 601.0 / 997.0;
        let exact_w = f64::from(t.height) * 997.0 / 601.0;
        assert!(
            (f64::from(t.height) - exact_h).abs() <= 1.0
                || (f64::from(t.width) - exact_w).abs() <= 1.0,
            "{bw}x{bh} -> {}x{}",
            t.width,
            t.height
        );
        assert!(t.width >= 1 && t.height >= 1);
    }
}

#[test]
fn cover_gives_exactly_the_box() {
    let input = jpeg(&photo(1200, 800, 1), 85, &JpegOptions::default()).expect("encodes");
    for (bw, bh) in [(256, 256), (100, 300), (300, 100), (1, 1), (1200, 10)] {
        let t = make_thumbnail(&input, &params(bw, bh, Fit::Cover)).expect("thumbnail");
        assert_eq!((t.width, t.height), (bw, bh));
        let decoded = decode_rgb(&t.bytes).expect("decodes");
        assert_eq!((decoded.width, decoded.height), (bw, bh));
    }
}

#[test]
fn render_gives_the_pixels_before_encoding() {
    let src = photo(800, 600, 2);
    let input = jpeg(&src, 92, &JpegOptions::default()).expect("encodes");
    let raster = render(&input, &params(200, 200, Fit::Contain)).expect("renders");
    assert_eq!(
        (raster.width, raster.height, raster.has_alpha),
        (200, 150, false)
    );
    assert_eq!(raster.pixels.len(), 200 * 150 * 3);
    let as_rgb = cdn_samples::RgbImage {
        width: raster.width,
        height: raster.height,
        pixels: raster.pixels,
    };
    let diff = mean_abs_diff(&as_rgb, &reduce(&src, 200, 150)).expect("same size");
    assert!(diff < 6.0, "mean difference {diff}");
}

#[test]
fn shrink_on_load_looks_like_a_full_decode() {
    // 2400x1800 into 256: decoded at 1/8 (300x225) then resized. Compare with the area
    // reduction of the original: shrink-on-load must not cost visible quality.
    let src = photo(2400, 1800, 1);
    let input = jpeg(&src, 90, &JpegOptions::default()).expect("encodes");
    let t = make_thumbnail(
        &input,
        &Params {
            format: Format::Png,
            ..Params::default()
        },
    )
    .expect("thumbnail");
    let out = decode_rgb(&t.bytes).expect("decodes");
    let diff = mean_abs_diff(&out, &reduce(&src, 256, 192)).expect("same size");
    assert!(diff < 4.0, "mean difference {diff}");
}

#[test]
fn quality_changes_the_jpeg() {
    let input = jpeg(&photo(800, 600, 0), 95, &JpegOptions::default()).expect("encodes");
    let low = make_thumbnail(
        &input,
        &Params {
            quality: 20,
            ..Params::default()
        },
    )
    .expect("q20");
    let high = make_thumbnail(
        &input,
        &Params {
            quality: 95,
            ..Params::default()
        },
    )
    .expect("q95");
    assert!(
        low.bytes.len() * 2 < high.bytes.len(),
        "{} vs {}",
        low.bytes.len(),
        high.bytes.len()
    );
}
