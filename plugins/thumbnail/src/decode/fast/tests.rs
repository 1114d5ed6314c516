//! Golden tests of the focused decoder's own paths, before any resize: its output at 1/`d`
//! against an independent decoder's downscaled output, jpeg-decoder's full-size decode averaged
//! over each d x d block (the block mean: what a DC-only decode is, and what a reduced IDCT
//! approximates). Tolerance: PSNR over R, G and B of at least the stated floor (set a little
//! under what was measured), and no pixel off by more than `MAX_DIFF`. Each case also checks
//! that this decoder took the file (`Ok`), not the fallback, and the files it must leave to
//! jpeg-decoder are checked to be refused.

use super::{decode, Unsupported};
use cdn_samples::{jpeg, jpeg_with_restarts, photo, JpegColor, JpegOptions, RgbImage};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

/// The largest difference of one channel of one pixel allowed anywhere (the last partial
/// block's mean includes the encoder's edge padding; elsewhere the differences are small).
const MAX_DIFF: u8 = 36;

/// jpeg-decoder's full-size decode as RGB.
fn reference(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode().expect("jpeg-decoder reads the file");
    let info = decoder.info().expect("info after decode");
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&g| [g, g, g]).collect(),
        other => panic!("unexpected {other:?}"),
    };
    (usize::from(info.width), usize::from(info.height), rgb)
}

/// The mean of each `d` x `d` block (partial at the right and bottom edges), RGB.
fn box_average(width: usize, height: usize, rgb: &[u8], d: usize) -> Vec<u8> {
    let (w, h) = (width.div_ceil(d), height.div_ceil(d));
    let mut out = vec![0u8; w * h * 3];
    for oy in 0..h {
        for ox in 0..w {
            for ch in 0..3 {
                let (mut sum, mut n) = (0u32, 0u32);
                for y in oy * d..((oy + 1) * d).min(height) {
                    for x in ox * d..((ox + 1) * d).min(width) {
                        sum += u32::from(rgb[(y * width + x) * 3 + ch]);
                        n += 1;
                    }
                }
                out[(oy * w + ox) * 3 + ch] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Decodes `bytes` at 1/`denom` here and checks it against the reference within `floor` dB.
fn check(name: &str, bytes: &[u8], denom: usize, floor: f64) {
    let ours = decode(bytes, denom)
        .unwrap_or_else(|e| panic!("{name} at 1/{denom}: the focused decoder refused: {e:?}"));
    let (width, height, rgb) = reference(bytes);
    let expected = box_average(width, height, &rgb, denom);
    assert_eq!(
        (ours.width as usize, ours.height as usize),
        (width.div_ceil(denom), height.div_ceil(denom)),
        "{name} at 1/{denom}: size"
    );
    let db = psnr(&ours.pixels, &expected);
    let worst = ours
        .pixels
        .iter()
        .zip(&expected)
        .map(|(&a, &b)| a.abs_diff(b))
        .max()
        .unwrap_or(0);
    eprintln!("{name} at 1/{denom}: {db:.2} dB, worst {worst}");
    assert!(
        db >= floor,
        "{name} at 1/{denom}: {db:.2} dB under the floor {floor} dB"
    );
    assert!(
        worst <= MAX_DIFF,
        "{name} at 1/{denom}: a channel {worst} off (at most {MAX_DIFF})"
    );
}

/// An odd-sized photo: the last block row and column are partial at every scale.
fn image() -> RgbImage {
    photo(803, 601, 11)
}

/// jpeg-encoder with an explicit chroma sampling.
fn encode_sampled(
    img: &RgbImage,
    quality: u8,
    sampling: SamplingFactor,
    progressive: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(sampling);
    encoder.set_progressive(progressive);
    encoder
        .encode(
            &img.pixels,
            img.width as u16,
            img.height as u16,
            ColorType::Rgb,
        )
        .expect("encodes");
    out
}

/// Floors in dB at 1/8 (DC only), 1/4 and 1/2 (reduced IDCTs). Measured on this photo at
/// quality 85: 1/8 47.3 (4:2:0) to 60.3 (gray); 1/4 42.1 to 43.6; 1/2 42.6 to 43.8; worst
/// channel difference 29. Where the corpus is missing (a clone outside the shared folder, no
/// `IMAGECDN_CORPUS`), `photo` falls back to a procedural picture, which measured 46.0 at 1/8;
/// the floor holds for both, and a wrong DC or scale costs far more than a dB.
const FLOORS: [(usize, f64); 3] = [(8, 45.5), (4, 41.5), (2, 41.5)];

#[test]
fn baseline_444_420_422_at_every_scale() {
    let img = image();
    for (name, sampling) in [
        ("4:4:4", SamplingFactor::R_4_4_4),
        ("4:2:2", SamplingFactor::R_4_2_2),
        ("4:2:0", SamplingFactor::R_4_2_0),
    ] {
        let bytes = encode_sampled(&img, 85, sampling, false);
        for (denom, floor) in FLOORS {
            check(name, &bytes, denom, floor);
        }
    }
}

#[test]
fn grayscale_and_restart_markers() {
    let img = image();
    let gray = jpeg(
        &img,
        85,
        &JpegOptions {
            color: JpegColor::Gray,
            ..JpegOptions::default()
        },
    )
    .expect("encodes");
    let restarts = jpeg_with_restarts(&img, 85, &JpegOptions::default(), 5).expect("encodes");
    for (denom, floor) in FLOORS {
        check("gray", &gray, denom, floor);
        check("restart interval 5", &restarts, denom, floor);
    }
}

#[test]
fn progressive_dc_first_scan_and_spectral_selection() {
    let img = image();
    for (name, sampling) in [
        ("progressive 4:4:4", SamplingFactor::R_4_4_4),
        ("progressive 4:2:0", SamplingFactor::R_4_2_0),
    ] {
        let bytes = encode_sampled(&img, 85, sampling, true);
        // jpeg-encoder quantises alike in both modes: the same coefficients, the same pixels
        let baseline = encode_sampled(&img, 85, sampling, false);
        for (denom, floor) in FLOORS {
            check(name, &bytes, denom, floor);
            assert_eq!(
                decode(&bytes, denom).expect("progressive").pixels,
                decode(&baseline, denom).expect("baseline").pixels,
                "{name} at 1/{denom}: progressive and baseline differ"
            );
        }
    }
    let options = JpegOptions {
        progressive: true,
        ..JpegOptions::default()
    };
    let restarts = jpeg_with_restarts(&img, 85, &options, 3).expect("encodes");
    for (denom, floor) in FLOORS {
        check("progressive with restarts", &restarts, denom, floor);
    }
}

/// Progressive files as libjpeg writes them by default (made once with Pillow from a crop of
/// the bench photo, 250x170: see `testdata/`): the DC in two steps and AC refinement scans
/// (successive approximation) over the whole band, restart markers in the 4:2:0 one. Their
/// baseline twins come from the same encoder with the same settings, so they hold the same
/// quantised coefficients: wherever the refinements are read (1/4, 1/2), the progressive file
/// must give exactly the baseline's pixels, and both must pass the reference check.
#[test]
fn progressive_with_successive_approximation_as_libjpeg_writes_it() {
    // The crop is more detailed than `image()`: a reduced IDCT is further from the block mean.
    // Measured: 43.1-48.2 dB at 1/8, 38.7-40.2 at 1/4, 38.6-39.2 at 1/2 (the baselines alike).
    const DETAILED_FLOORS: [(usize, f64); 3] = [(8, 42.5), (4, 38.0), (2, 38.0)];
    let files: [(&str, &[u8], &[u8]); 2] = [
        (
            "libjpeg progressive 4:4:4",
            include_bytes!("testdata/libjpeg-progressive-444.jpg"),
            include_bytes!("testdata/libjpeg-baseline-444.jpg"),
        ),
        (
            "libjpeg progressive 4:2:0, restart markers",
            include_bytes!("testdata/libjpeg-progressive-420.jpg"),
            include_bytes!("testdata/libjpeg-baseline-420.jpg"),
        ),
    ];
    for (name, progressive, baseline) in files {
        for (denom, floor) in DETAILED_FLOORS {
            check(name, progressive, denom, floor);
            check(name, baseline, denom, floor);
        }
        for denom in [4, 2] {
            assert_eq!(
                decode(progressive, denom)
                    .expect("the refinements are read, not left to jpeg-decoder")
                    .pixels,
                decode(baseline, denom).expect("baseline").pixels,
                "{name} at 1/{denom}: progressive and baseline differ"
            );
        }
    }
}

/// A libjpeg progressive file cut anywhere, or with bytes of its scans damaged, gives a picture
/// of the right size (a cut between scans leaves a coarser one) or is refused, and never panics.
#[test]
fn cut_or_damaged_refinement_scans_are_refused_or_coarser_never_a_panic() {
    let bytes: &[u8] = include_bytes!("testdata/libjpeg-progressive-420.jpg");
    for keep in (bytes.len() / 10..bytes.len()).step_by(499) {
        for denom in [4, 2] {
            match decode(&bytes[..keep], denom) {
                Ok(picture) => assert_eq!(
                    (picture.width, picture.height),
                    (250u32.div_ceil(denom as u32), 170u32.div_ceil(denom as u32)),
                    "cut at {keep}, 1/{denom}"
                ),
                Err(e) => assert!(
                    matches!(e, Unsupported::Truncated | Unsupported::Corrupt),
                    "cut at {keep}, 1/{denom}: {e:?}"
                ),
            }
        }
    }
    let mut damaged = bytes.to_vec();
    for i in (bytes.len() / 3..bytes.len() - 2).step_by(331) {
        damaged[i] ^= 0x5A;
    }
    for denom in [4, 2] {
        let _ = decode(&damaged, denom);
    }
}

/// The offsets of the SOS markers of a JPEG, in order.
fn scan_starts(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len().saturating_sub(1))
        .filter(|&i| bytes[i] == 0xFF && bytes[i + 1] == 0xDA)
        .collect()
}

/// At 1/8 of a 4:4:4 progressive file the DC scans (one per component, first in
/// jpeg-encoder's script) are the whole answer: with everything after them replaced by bytes
/// that are no JPEG at all, the picture is the same, so nothing after them was read.
#[test]
fn progressive_dc_only_stops_after_the_dc_scans() {
    let img = image();
    let bytes = encode_sampled(&img, 85, SamplingFactor::R_4_4_4, true);
    let scans = scan_starts(&bytes);
    assert!(scans.len() > 3, "a progressive file has several scans");
    let mut cut = bytes[..scans[3]].to_vec();
    cut.extend(std::iter::repeat_n(0xA5u8, 5000));
    let whole = decode(&bytes, 8).expect("whole file");
    let dc_only = decode(&cut, 8).expect("DC scans then junk");
    assert_eq!(whole.pixels, dc_only.pixels);
    // at 1/4 the AC scans matter: the same cut is not the same picture
    assert!(decode(&cut, 4).map_or(true, |p| p.pixels != decode(&bytes, 4).expect("1/4").pixels));
}

#[test]
fn leaves_cmyk_ycck_and_truncated_files_to_jpeg_decoder() {
    let img = image();
    for color in [JpegColor::Cmyk, JpegColor::Ycck] {
        let bytes = jpeg(
            &img,
            85,
            &JpegOptions {
                color,
                ..JpegOptions::default()
            },
        )
        .expect("encodes");
        assert_eq!(decode(&bytes, 8).err(), Some(Unsupported::Components));
    }
    let bytes = jpeg(&img, 85, &JpegOptions::default()).expect("encodes");
    for keep in [bytes.len() / 3, bytes.len() * 2 / 3, bytes.len() - 10] {
        for denom in [8, 4, 2] {
            assert_eq!(
                decode(&bytes[..keep], denom).err(),
                Some(Unsupported::Truncated),
                "cut at {keep} of {}, 1/{denom}",
                bytes.len()
            );
        }
    }
}
