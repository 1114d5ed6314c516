//! The output formats beyond JPEG and PNG: lossless WebP stays lossless, lossy WebP is VP8 and
//! reads back close to the picture (with alpha kept), AVIF is an AV1 image file of the right
//! size (and, where Pillow can read AVIF, close to the picture: an ignored test).

use cdn_samples::fidelity::psnr;
use cdn_samples::{jpeg, photo, png, JpegOptions, PngColor, PngOptions, RgbaImage};
use thumbnail::{make_thumbnail, parse_args, Thumbnail};

fn thumb(source: &[u8], args: &[&str]) -> Thumbnail {
    make_thumbnail(source, &parse_args(args).expect("arguments")).expect("thumbnail")
}

fn source_jpeg() -> Vec<u8> {
    jpeg(&photo(640, 480, 2), 90, &JpegOptions::default()).expect("encodes")
}

/// The same thumbnail as PNG: what a lossy format should come close to.
fn exact(source: &[u8], box_args: &[&str]) -> RgbaImage {
    let mut args = box_args.to_vec();
    args.extend(["--format", "png"]);
    cdn_samples::decode(&thumb(source, &args).bytes)
        .expect("png decodes")
        .image
}

/// The RIFF chunk after "WEBP": VP8L (lossless), VP8X (extended) or "VP8 " (lossy).
fn webp_chunk(bytes: &[u8]) -> &[u8] {
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    &bytes[12..16]
}

#[test]
fn webp_stays_lossless() {
    let src = source_jpeg();
    let t = thumb(&src, &["--format", "webp", "--quality", "50"]);
    assert_eq!(webp_chunk(&t.bytes), b"VP8L");
    let back = cdn_samples::decode(&t.bytes).expect("decodes").image;
    assert_eq!(back.pixels, exact(&src, &[]).pixels);
}

#[test]
fn lossy_webp_is_vp8_close_to_the_picture_and_smaller() {
    let src = source_jpeg();
    let lossless = thumb(&src, &["--format", "webp"]);
    let lossy = thumb(&src, &["--format", "webp-lossy", "--quality", "80"]);
    assert_eq!(webp_chunk(&lossy.bytes), b"VP8 ");
    assert_eq!((lossy.width, lossy.height), (256, 192));
    assert!(
        lossy.bytes.len() * 3 < lossless.bytes.len(),
        "{} vs {} bytes",
        lossy.bytes.len(),
        lossless.bytes.len()
    );
    // image-webp (the reader of WebP sources) decodes it independently of the encoder
    let back = cdn_samples::decode(&lossy.bytes).expect("decodes").image;
    let p = psnr(&back, &exact(&src, &[])).expect("same size");
    // measured: 34.5 dB at quality 80
    assert!(p >= 33.0, "PSNR {p:.2} dB");
    let low = thumb(&src, &["--format", "webp-lossy", "--quality", "20"]);
    assert!(low.bytes.len() < lossy.bytes.len(), "quality is used");
}

#[test]
fn lossy_webp_keeps_alpha() {
    let rgba = photo(300, 200, 1).with_alpha(|x, _| if x < 150 { 255 } else { 0 });
    let src = png(
        &rgba,
        &PngOptions {
            color: PngColor::Rgba,
            ..PngOptions::default()
        },
    )
    .expect("encodes");
    let t = thumb(&src, &["--format", "webp-lossy", "--width", "150"]);
    assert_eq!(webp_chunk(&t.bytes), b"VP8X");
    let back = cdn_samples::decode(&t.bytes).expect("decodes");
    assert!(back.has_alpha);
    let alpha: Vec<u8> = back.image.pixels.chunks_exact(4).map(|p| p[3]).collect();
    let w = back.image.width as usize;
    assert_eq!(alpha[w / 4], 255, "left half opaque");
    assert_eq!(alpha[w * 3 / 4], 0, "right half transparent");
}

/// The `ispe` (image spatial extents) box of an AVIF: width and height.
fn avif_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let at = bytes.windows(4).position(|w| w == b"ispe")?;
    let field = |i: usize| {
        let b = bytes.get(at + 8 + 4 * i..at + 12 + 4 * i)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    Some((field(0)?, field(1)?))
}

#[test]
fn avif_is_an_av1_image_of_the_thumbnail_size() {
    let src = source_jpeg();
    let t = thumb(&src, &["--format", "avif", "--quality", "70"]);
    assert_eq!(&t.bytes[4..8], b"ftyp");
    assert_eq!(&t.bytes[8..12], b"avif");
    assert!(t.bytes.windows(4).any(|w| w == b"av1C"), "an AV1 item");
    assert_eq!(avif_size(&t.bytes), Some((256, 192)));
    assert_eq!(thumbnail::Format::Avif.mime(), "image/avif");
    let small = thumb(&src, &["--format", "avif", "--quality", "20"]);
    assert!(small.bytes.len() < t.bytes.len(), "quality is used");
}

/// Decodes an AVIF with Pillow (which reads AVIF from version 11 on), as RGBA.
fn pillow_decode(bytes: &[u8]) -> Option<RgbaImage> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = "import sys, io\nfrom PIL import Image\n\
                  im = Image.open(io.BytesIO(sys.stdin.buffer.read())).convert('RGBA')\n\
                  sys.stdout.write(f'{im.width} {im.height}\\n')\n\
                  sys.stdout.flush()\nsys.stdout.buffer.write(im.tobytes())\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(bytes).ok()?;
    let out = child.wait_with_output().ok()?;
    let newline = out.stdout.iter().position(|&b| b == b'\n')?;
    let head = String::from_utf8_lossy(&out.stdout[..newline]).to_string();
    let mut dims = head.split(' ').map(|v| v.parse::<u32>().ok());
    let (width, height) = (dims.next()??, dims.next()??);
    Some(RgbaImage {
        width,
        height,
        pixels: out.stdout[newline + 1..].to_vec(),
    })
}

#[test]
#[ignore = "needs python3 with Pillow 11 or newer (AVIF reading): cargo test -- --ignored"]
fn avif_reads_back_close_to_the_picture_with_pillow() {
    let src = source_jpeg();
    let t = thumb(&src, &["--format", "avif", "--quality", "80"]);
    let back = pillow_decode(&t.bytes).expect("Pillow decodes the AVIF");
    let p = psnr(&back, &exact(&src, &[])).expect("same size");
    // measured: 38.2 dB at quality 80
    assert!(p >= 36.0, "PSNR {p:.2} dB");
}
