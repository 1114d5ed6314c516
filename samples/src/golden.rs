//! The golden thumbnail cases: inputs, arguments and what must come out, shared by every way of
//! running the thumbnail step (the library, the native command, the wasm plugin).
//!
//! A test suite supplies a runner — arguments (without argv\[0\]) and image bytes in, thumbnail
//! bytes or a [`Failure`] out — and gets one `#[test]` per case from [`golden_tests!`]:
//!
//! ```ignore
//! fn run(args: &[&str], input: &[u8]) -> cdn_samples::golden::Outcome { ... }
//! cdn_samples::golden_tests!(run);
//! ```
//!
//! Thumbnails are decoded and checked for format, size and pixels: against an area-average
//! reduction of the picture the source was made from, or the coloured corners of a [`marked`]
//! picture for EXIF orientation, or alpha values. Failures are checked for exit code and for a
//! single-line message.

use crate::compare::{mean_abs_diff, reduce, reduce_cover};
use crate::marked::{marked, marks_after, marks_of, Mark};
use crate::photo::Rng;
use crate::{
    decode, jpeg, palette_image, photo, png, png_header_only, webp_lossless, with_jpeg_dimensions,
    JpegColor, JpegOptions, PngColor, PngOptions, RgbImage, RgbaImage,
};

/// A plugin's own error: its exit code and its stderr (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit_code: i32,
    pub message: String,
}

/// What running the thumbnail step gives: the thumbnail's bytes, or a failure.
pub type Outcome = Result<Vec<u8>, Failure>;

/// One golden case.
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    /// The arguments, without argv\[0\].
    pub args: Vec<&'static str>,
    pub input: Vec<u8>,
    pub expect: Expect,
}

/// What a case must give.
#[derive(Debug)]
pub enum Expect {
    Thumbnail {
        /// "jpeg", "png" or "webp".
        format: &'static str,
        width: u32,
        height: u32,
        checks: Vec<Check>,
    },
    Failure {
        exit_code: i32,
        /// A part of the one-line message.
        message: &'static str,
    },
}

/// A check of a thumbnail's pixels.
#[derive(Debug)]
pub enum Check {
    /// The thumbnail, composited onto white, differs from `reference` by at most
    /// [`max_mean_diff`] per channel on average.
    LooksLike { reference: RgbImage },
    /// The corner colours of a [`marked`] picture.
    Marks([Mark; 4]),
    /// Whether the thumbnail file has an alpha channel.
    HasAlpha(bool),
    /// The alpha at a point (x, y) is within 8 of `alpha`.
    AlphaAt { x: u32, y: u32, alpha: u8 },
}

/// Every case, by name (the names of the generated tests).
pub const NAMES: &[&str] = crate::__with_golden_names!(__golden_names_array!());

/// Runs the case `name` through `run` and panics with an explanation if it does not give what
/// it must.
pub fn run_case(name: &str, run: impl Fn(&[&str], &[u8]) -> Outcome) {
    let case = case(name);
    let outcome = run(&case.args, &case.input);
    if let Err(why) = check(&case, outcome) {
        panic!("golden case {name} (args {:?}): {why}", case.args);
    }
}

/// Checks `outcome` against what `case` expects.
pub fn check(case: &Case, outcome: Outcome) -> Result<(), String> {
    match (&case.expect, outcome) {
        (Expect::Failure { exit_code, message }, Err(failure)) => {
            let line = failure.message.trim_end_matches(['\n', '\r']);
            if failure.exit_code != *exit_code {
                return Err(format!(
                    "exit code {} (expected {exit_code}), message {line:?}",
                    failure.exit_code
                ));
            }
            if line.is_empty() || line.contains('\n') {
                return Err(format!("message must be one non-empty line, got {line:?}"));
            }
            if !line.contains(message) {
                return Err(format!("message {line:?} does not contain {message:?}"));
            }
            Ok(())
        }
        (Expect::Failure { .. }, Ok(bytes)) => Err(format!(
            "expected a failure, got {} bytes of output",
            bytes.len()
        )),
        (Expect::Thumbnail { .. }, Err(failure)) => Err(format!(
            "expected a thumbnail, got exit code {}: {}",
            failure.exit_code, failure.message
        )),
        (
            Expect::Thumbnail {
                format,
                width,
                height,
                checks,
            },
            Ok(bytes),
        ) => {
            let out = decode(&bytes).map_err(|e| format!("output does not decode: {e}"))?;
            if out.format != *format {
                return Err(format!("output is {}, expected {format}", out.format));
            }
            let size = (out.image.width, out.image.height);
            if size != (*width, *height) {
                return Err(format!(
                    "output is {size:?}, expected {:?}",
                    (*width, *height)
                ));
            }
            checks
                .iter()
                .try_for_each(|c| check_pixels(c, &out.image, out.has_alpha, format))
        }
    }
}

fn check_pixels(
    check: &Check,
    img: &RgbaImage,
    has_alpha: bool,
    format: &str,
) -> Result<(), String> {
    match check {
        Check::LooksLike { reference } => {
            let diff = mean_abs_diff(&img.flattened_on_white(), reference)
                .ok_or("reference has another size")?;
            let allowed = max_mean_diff(format);
            if diff > allowed {
                return Err(format!(
                    "looks different from the reference: mean difference {diff:.2} > {allowed}"
                ));
            }
        }
        Check::Marks(expected) => {
            let found = marks_of(&img.to_rgb());
            if found != expected.map(Some) {
                return Err(format!(
                    "corners (TL, TR, BL, BR) are {found:?}, expected {expected:?}"
                ));
            }
        }
        Check::HasAlpha(expected) => {
            if has_alpha != *expected {
                return Err(format!("alpha channel: {has_alpha}, expected {expected}"));
            }
        }
        Check::AlphaAt { x, y, alpha } => {
            let found = img.get(*x, *y)[3];
            if found.abs_diff(*alpha) > 8 {
                return Err(format!("alpha at ({x}, {y}) is {found}, expected {alpha}"));
            }
        }
    }
    Ok(())
}

/// The case `name`; panics for an unknown name.
pub fn case(name: &str) -> Case {
    let name: &'static str = NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .unwrap_or_else(|| panic!("no golden case {name:?}"));
    let rgb = JpegOptions::default();
    match name {
        // ---- JPEG of several sizes and kinds
        "jpeg_640x480" => jpeg_photo(name, photo(640, 480, 1), rgb, &[], (256, 192)),
        "jpeg_1920x1080_box_320" => jpeg_photo(
            name,
            photo(1920, 1080, 2),
            rgb,
            &["--width", "320", "--height", "320"],
            (320, 180),
        ),
        "jpeg_4000x3000_12mp" => jpeg_photo(name, photo(4000, 3000, 0), rgb, &[], (256, 192)),
        "jpeg_smaller_than_box_kept" => jpeg_photo(name, photo(120, 90, 1), rgb, &[], (120, 90)),
        "jpeg_progressive" => {
            let options = JpegOptions {
                progressive: true,
                ..rgb
            };
            jpeg_photo(name, photo(1600, 1200, 2), options, &[], (256, 192))
        }
        "jpeg_cmyk_adobe" => {
            let options = JpegOptions {
                color: JpegColor::Cmyk,
                ..rgb
            };
            jpeg_photo(name, photo(800, 600, 1), options, &[], (256, 192))
        }
        "jpeg_ycck" => {
            let options = JpegOptions {
                color: JpegColor::Ycck,
                ..rgb
            };
            jpeg_photo(name, photo(800, 600, 2), options, &[], (256, 192))
        }
        "jpeg_gray" => {
            let options = JpegOptions {
                color: JpegColor::Gray,
                ..rgb
            };
            let mut case = jpeg_photo(name, photo(800, 600, 0), options, &[], (256, 192));
            // the truth is the gray picture
            if let Expect::Thumbnail { checks, .. } = &mut case.expect {
                checks[0] = looks_like(reduce(&photo(800, 600, 0).to_gray(), 256, 192));
            }
            case
        }
        "jpeg_cover_square" => {
            let src = photo(1920, 1080, 1);
            let reference = reduce_cover(&src, 200, 200);
            thumbnail(
                name,
                &["--fit", "cover", "--width", "200", "--height", "200"],
                jpeg_bytes(&src, rgb),
                ("jpeg", 200, 200),
                vec![looks_like(reference)],
            )
        }
        "jpeg_cover_wide_box_tall_source" => {
            let src = photo(900, 1600, 2);
            let reference = reduce_cover(&src, 300, 100);
            thumbnail(
                name,
                &["--fit=cover", "--width=300", "--height=100"],
                jpeg_bytes(&src, rgb),
                ("jpeg", 300, 100),
                vec![looks_like(reference)],
            )
        }
        "jpeg_contain_narrow_box" => jpeg_photo(
            name,
            photo(1920, 1080, 0),
            rgb,
            &["--width", "100", "--height", "300"],
            (100, 56),
        ),
        "jpeg_to_png" => {
            let src = photo(800, 600, 1);
            let reference = reduce(&src, 256, 192);
            thumbnail(
                name,
                &["--format", "png"],
                jpeg_bytes(&src, rgb),
                ("png", 256, 192),
                vec![Check::HasAlpha(false), looks_like(reference)],
            )
        }
        "jpeg_to_webp" => {
            let src = photo(800, 600, 2);
            let reference = reduce(&src, 256, 192);
            thumbnail(
                name,
                &["--format", "webp"],
                jpeg_bytes(&src, rgb),
                ("webp", 256, 192),
                vec![Check::HasAlpha(false), looks_like(reference)],
            )
        }

        // ---- PNG of every kind
        "png_rgb" => png_photo(
            name,
            photo(600, 400, 2).to_rgba(),
            PngOptions::default(),
            &[],
        ),
        "png_16bit" => png_photo(
            name,
            photo(640, 480, 0).to_rgba(),
            bits16(PngColor::Rgb),
            &[],
        ),
        "png_palette" => {
            let src = photo(500, 400, 1).to_rgba();
            let options = PngOptions {
                color: PngColor::Palette,
                ..PngOptions::default()
            };
            let reference = reduce(&palette_image(&src), 256, 205);
            thumbnail(
                name,
                &[],
                png_bytes(&src, options),
                ("jpeg", 256, 205),
                vec![looks_like(reference)],
            )
        }
        "png_gray" => {
            let src = photo(400, 300, 2);
            let options = PngOptions {
                color: PngColor::Gray,
                ..PngOptions::default()
            };
            let reference = reduce(&src.to_gray(), 256, 192);
            thumbnail(
                name,
                &[],
                png_bytes(&src.to_rgba(), options),
                ("jpeg", 256, 192),
                vec![looks_like(reference)],
            )
        }
        "png_interlaced" => {
            let options = PngOptions {
                interlaced: true,
                ..PngOptions::default()
            };
            png_photo(name, photo(333, 222, 1).to_rgba(), options, &[])
        }
        "png_alpha_to_png" => alpha_case(name, PngColor::Rgba, 8, false, "png"),
        "png_alpha_to_jpeg" => alpha_case(name, PngColor::Rgba, 8, false, "jpeg"),
        "png_alpha_to_webp" => alpha_case(name, PngColor::Rgba, 8, false, "webp"),
        "png_gray_alpha_to_png" => alpha_case(name, PngColor::GrayAlpha, 8, false, "png"),
        "png_interlaced_16bit_alpha_to_png" => alpha_case(name, PngColor::Rgba, 16, true, "png"),

        // ---- WebP input
        "webp_lossless_input" => {
            let src = photo(640, 480, 2);
            let reference = reduce(&src, 256, 192);
            let input = webp_lossless(&src.to_rgba(), false).expect("WebP encodes");
            thumbnail(
                name,
                &[],
                input,
                ("jpeg", 256, 192),
                vec![looks_like(reference)],
            )
        }

        // ---- EXIF orientation, on real pixels
        "exif_orientation_1" => exif_case(name, 1),
        "exif_orientation_2" => exif_case(name, 2),
        "exif_orientation_3" => exif_case(name, 3),
        "exif_orientation_4" => exif_case(name, 4),
        "exif_orientation_5" => exif_case(name, 5),
        "exif_orientation_6" => exif_case(name, 6),
        "exif_orientation_7" => exif_case(name, 7),
        "exif_orientation_8" => exif_case(name, 8),
        "exif_orientation_6_progressive_cover" => {
            let options = JpegOptions {
                progressive: true,
                exif_orientation: Some(6),
                ..rgb
            };
            thumbnail(
                name,
                &["--fit", "cover", "--width", "100", "--height", "100"],
                jpeg_bytes(&marked(400, 200), options),
                ("jpeg", 100, 100),
                vec![Check::Marks(marks_after(6))],
            )
        }
        "exif_orientation_8_png" => {
            let options = PngOptions {
                exif_orientation: Some(8),
                ..PngOptions::default()
            };
            thumbnail(
                name,
                &["--format", "png"],
                png_bytes(&marked(320, 200).to_rgba(), options),
                ("png", 160, 256),
                vec![Check::Marks(marks_after(8))],
            )
        }

        // ---- bad images: exit code 1 and a clear message
        "empty_input" => failure(name, &[], Vec::new(), 1, "empty input"),
        "random_bytes" => {
            let mut rng = Rng::new(99);
            let input = (0..4096).map(|_| rng.byte()).collect();
            failure(name, &[], input, 1, "unsupported format")
        }
        "gif_input" => failure(
            name,
            &[],
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            1,
            "unsupported format (GIF",
        ),
        "truncated_jpeg" => {
            let full = jpeg_bytes(&photo(640, 480, 1), rgb);
            failure(
                name,
                &[],
                full[..full.len() / 2].to_vec(),
                1,
                "truncated JPEG",
            )
        }
        "truncated_png" => {
            let full = png_bytes(&photo(320, 240, 1).to_rgba(), PngOptions::default());
            failure(
                name,
                &[],
                full[..full.len() / 2].to_vec(),
                1,
                "truncated PNG",
            )
        }
        "png_header_50000x50000" => failure(
            name,
            &[],
            png_header_only(50000, 50000),
            1,
            "image is 50000x50000, over the 100 megapixel limit",
        ),
        "jpeg_header_20000x20000" => {
            let small = jpeg_bytes(&photo(64, 48, 1), rgb);
            let input =
                with_jpeg_dimensions(&small, 20000, 20000).expect("JPEG has a frame header");
            failure(
                name,
                &[],
                input,
                1,
                "image is 20000x20000, over the 100 megapixel limit",
            )
        }
        "max_pixels_flag" => failure(
            name,
            &["--max-pixels", "100000"],
            jpeg_bytes(&photo(640, 480, 1), rgb),
            1,
            "image is 640x480, over the 100000 pixel limit",
        ),

        // ---- bad arguments: exit code 2 (the image is fine)
        "unknown_flag" => bad_args(name, &["--colour", "red"], "unknown flag --colour"),
        "bad_width" => bad_args(name, &["--width", "abc"], "bad value \"abc\" for --width"),
        "bad_quality" => bad_args(name, &["--quality", "0"], "bad value \"0\" for --quality"),
        "bad_fit" => bad_args(name, &["--fit", "stretch"], "expected contain or cover"),
        "bad_format" => bad_args(name, &["--format", "gif"], "for --format"),
        "missing_value" => bad_args(name, &["--width"], "--width needs a value"),
        "stray_argument" => bad_args(name, &["photo.jpg"], "unexpected argument"),
        "repeated_flag" => bad_args(
            name,
            &["--width", "1", "--width", "2"],
            "--width given twice",
        ),
        other => panic!("golden case {other:?} is listed but not defined"),
    }
}

/// Mean difference per channel allowed between a thumbnail in `format` and the area-average
/// reference. Correct thumbnails of these detailed, noisy pictures measured 0.8-5.3 as PNG or
/// WebP (Lanczos is sharper than an area average) and up to 9.8 as JPEG at quality 80 (a 100x56
/// JPEG of fine detail loses much to chroma subsampling). Measured on the same pictures, a
/// mirrored or flipped thumbnail differs by 34 or more, one shifted by 3% of the width by 17 or
/// more, inverted colours by 63 or more.
pub fn max_mean_diff(format: &str) -> f64 {
    if format == "jpeg" {
        12.0
    } else {
        6.0
    }
}

fn looks_like(reference: RgbImage) -> Check {
    Check::LooksLike { reference }
}

fn jpeg_bytes(img: &RgbImage, options: JpegOptions) -> Vec<u8> {
    jpeg(img, 90, &options).expect("sample JPEG encodes")
}

fn png_bytes(img: &RgbaImage, options: PngOptions) -> Vec<u8> {
    png(img, &options).expect("sample PNG encodes")
}

fn bits16(color: PngColor) -> PngOptions {
    PngOptions {
        bit_depth: 16,
        color,
        ..PngOptions::default()
    }
}

fn thumbnail(
    name: &'static str,
    args: &[&'static str],
    input: Vec<u8>,
    (format, width, height): (&'static str, u32, u32),
    checks: Vec<Check>,
) -> Case {
    Case {
        name,
        args: args.to_vec(),
        input,
        expect: Expect::Thumbnail {
            format,
            width,
            height,
            checks,
        },
    }
}

fn failure(
    name: &'static str,
    args: &[&'static str],
    input: Vec<u8>,
    exit_code: i32,
    message: &'static str,
) -> Case {
    Case {
        name,
        args: args.to_vec(),
        input,
        expect: Expect::Failure { exit_code, message },
    }
}

fn bad_args(name: &'static str, args: &[&'static str], message: &'static str) -> Case {
    let input = jpeg_bytes(&photo(64, 48, 1), JpegOptions::default());
    failure(name, args, input, 2, message)
}

/// A photo as JPEG, fitted with `args` into a thumbnail of `size` (JPEG), compared with the
/// area-average reduction of the photo.
fn jpeg_photo(
    name: &'static str,
    src: RgbImage,
    options: JpegOptions,
    args: &[&'static str],
    size: (u32, u32),
) -> Case {
    let reference = reduce(&src, size.0, size.1);
    let input = jpeg_bytes(&src, options);
    thumbnail(
        name,
        args,
        input,
        ("jpeg", size.0, size.1),
        vec![looks_like(reference)],
    )
}

/// A photo as PNG, made into the default thumbnail (JPEG, 256 box).
fn png_photo(
    name: &'static str,
    src: RgbaImage,
    options: PngOptions,
    args: &[&'static str],
) -> Case {
    let size = fit_256(src.width, src.height);
    let reference = reduce(&src.to_rgb(), size.0, size.1);
    let input = png_bytes(&src, options);
    thumbnail(
        name,
        args,
        input,
        ("jpeg", size.0, size.1),
        vec![looks_like(reference)],
    )
}

/// A photo whose right third is transparent and whose middle third fades out, as PNG.
fn alpha_case(
    name: &'static str,
    color: PngColor,
    bit_depth: u8,
    interlaced: bool,
    format: &'static str,
) -> Case {
    let (w, h) = (600, 400);
    let mut src = photo(w, h, 1);
    if color == PngColor::GrayAlpha {
        src = src.to_gray();
    }
    let src = src.with_alpha(|x, _| match x * 3 / w {
        0 => 255,
        1 => (255 - (x - w / 3) * 255 / (w / 3)) as u8,
        _ => 0,
    });
    let options = PngOptions {
        bit_depth,
        color,
        interlaced,
        exif_orientation: None,
    };
    let (tw, th) = fit_256(w, h);
    let reference = reduce(&src.flattened_on_white(), tw, th);
    let mut checks = vec![looks_like(reference)];
    if format == "jpeg" {
        checks.push(Check::HasAlpha(false));
    } else {
        checks.extend([
            Check::HasAlpha(true),
            Check::AlphaAt {
                x: tw / 6,
                y: th / 2,
                alpha: 255,
            },
            Check::AlphaAt {
                x: tw * 5 / 6,
                y: th / 2,
                alpha: 0,
            },
        ]);
    }
    let args: &[&'static str] = match format {
        "png" => &["--format", "png"],
        "webp" => &["--format", "webp"],
        _ => &[],
    };
    thumbnail(
        name,
        args,
        png_bytes(&src, options),
        (format, tw, th),
        checks,
    )
}

/// The [`marked`] picture stored with EXIF `orientation`, as JPEG, default thumbnail.
fn exif_case(name: &'static str, orientation: u16) -> Case {
    let options = JpegOptions {
        exif_orientation: Some(orientation),
        ..JpegOptions::default()
    };
    let size = if orientation >= 5 {
        (160, 256)
    } else {
        (256, 160)
    };
    thumbnail(
        name,
        &[],
        jpeg_bytes(&marked(320, 200), options),
        ("jpeg", size.0, size.1),
        vec![Check::Marks(marks_after(orientation))],
    )
}

/// The size of a `w` x `h` picture fitted into 256 x 256 (for the cases above, which are all
/// larger than the box).
fn fit_256(w: u32, h: u32) -> (u32, u32) {
    if w >= h {
        (256, ((h * 256 * 2 + w) / (2 * w)).max(1))
    } else {
        (((w * 256 * 2 + h) / (2 * h)).max(1), 256)
    }
}

/// Generates one `#[test]` per golden case, each running the case through `$runner`, a
/// `fn(&[&str], &[u8]) -> cdn_samples::golden::Outcome` (or a closure of that shape).
#[macro_export]
macro_rules! golden_tests {
    ($runner:expr) => {
        $crate::__with_golden_names!(__golden_test_fns!($runner));
    };
}

/// The list of golden case names, handed to `$callback!(prefix; names...)`. The only place the
/// names are written: [`NAMES`] and [`golden_tests!`] both come from it.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_golden_names {
    ($callback:ident ! ($($prefix:tt)*)) => {
        $crate::$callback! { $($prefix)* ;
            jpeg_640x480, jpeg_1920x1080_box_320, jpeg_4000x3000_12mp, jpeg_smaller_than_box_kept,
            jpeg_progressive, jpeg_cmyk_adobe, jpeg_ycck, jpeg_gray, jpeg_cover_square,
            jpeg_cover_wide_box_tall_source, jpeg_contain_narrow_box, jpeg_to_png, jpeg_to_webp,
            png_rgb, png_16bit, png_palette, png_gray, png_interlaced, png_alpha_to_png,
            png_alpha_to_jpeg, png_alpha_to_webp, png_gray_alpha_to_png,
            png_interlaced_16bit_alpha_to_png, webp_lossless_input,
            exif_orientation_1, exif_orientation_2, exif_orientation_3, exif_orientation_4,
            exif_orientation_5, exif_orientation_6, exif_orientation_7, exif_orientation_8,
            exif_orientation_6_progressive_cover, exif_orientation_8_png,
            empty_input, random_bytes, gif_input, truncated_jpeg, truncated_png,
            png_header_50000x50000, jpeg_header_20000x20000, max_pixels_flag,
            unknown_flag, bad_width, bad_quality, bad_fit, bad_format, missing_value,
            stray_argument, repeated_flag
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __golden_test_fns {
    ($runner:expr ; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::golden::run_case(stringify!($name), $runner);
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __golden_names_array {
    (; $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_case_is_defined_and_unique() {
        for (i, name) in NAMES.iter().enumerate() {
            assert!(!NAMES[i + 1..].contains(name), "{name} listed twice");
        }
        // building the light cases proves the names resolve; the 12 MP one is left to the suites
        for name in NAMES.iter().filter(|n| !n.contains("12mp")) {
            assert_eq!(case(name).name, *name);
        }
    }

    #[test]
    fn a_wrong_thumbnail_is_caught() {
        let rotated = case("exif_orientation_6");
        // the picture stored without turning it: right size for orientation 1, wrong here
        let unrotated = jpeg(
            &crate::compare::reduce(&marked(320, 200), 256, 160),
            90,
            &JpegOptions::default(),
        );
        assert!(check(&rotated, Ok(unrotated.expect("encodes"))).is_err());
        // the right picture passes
        let upright = RgbImage::from_fn(160, 256, |x, y| {
            let marks = marks_after(6);
            let i = usize::from(y >= 128) * 2 + usize::from(x >= 80);
            marks[i].rgb()
        });
        let bytes = jpeg(&upright, 90, &JpegOptions::default()).expect("encodes");
        assert_eq!(check(&rotated, Ok(bytes)), Ok(()));
        // failures: wrong code, two lines
        let bad = case("bad_width");
        assert!(check(
            &bad,
            Err(Failure {
                exit_code: 1,
                message: "bad value \"abc\" for --width".into()
            })
        )
        .is_err());
        assert!(check(
            &bad,
            Err(Failure {
                exit_code: 2,
                message: "x\nbad value \"abc\" for --width".into()
            })
        )
        .is_err());
        assert!(check(
            &bad,
            Err(Failure {
                exit_code: 2,
                message: "bad value \"abc\" for --width: expected 1+\n".into()
            })
        )
        .is_ok());
    }
}
