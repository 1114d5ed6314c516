//! Sample images and thumbnail checks.

/// A photo-like JPEG of `width` x `height` (different for each seed).
pub fn jpeg(width: u32, height: u32, seed: u64) -> Vec<u8> {
    cdn_samples::jpeg(
        &cdn_samples::photo(width, height, seed),
        85,
        &Default::default(),
    )
    .expect("encode jpeg")
}

/// Checks that `bytes` decode as an image that fits `w` x `h` and touches the box on one side;
/// returns its size.
pub fn assert_thumbnail_fits(bytes: &[u8], w: u32, h: u32) -> (u32, u32) {
    let decoded = cdn_samples::decode_rgb(bytes).expect("the thumbnail decodes");
    let (tw, th) = (decoded.width, decoded.height);
    assert!(
        tw <= w && th <= h && tw > 0 && th > 0,
        "{tw}x{th} does not fit {w}x{h}"
    );
    assert!(
        tw == w || th == h,
        "{tw}x{th} does not touch the {w}x{h} box"
    );
    (tw, th)
}
