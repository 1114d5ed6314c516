//! The plugin inside wasm and the same library natively make the same thumbnails, byte for
//! byte, through every path of the focused JPEG decoder: DC only (1/8), the 2x2 and 4x4
//! reduced IDCTs (1/4, 1/2), 4:4:4 and 4:2:0, baseline and progressive (spectral selection,
//! and libjpeg's successive approximation with restart markers). The wasm build has code of
//! its own (the 4x4 IDCT and the YCbCr to RGB conversion in simd128), which the plugin's unit
//! tests, run natively, never run.

use cdn_runtime::{Limits, Runtime};
use cdn_samples::{jpeg, photo, JpegOptions};

/// A libjpeg progressive 4:2:0 file with restart markers, 250x170 (see its folder's README).
const LIBJPEG_PROGRESSIVE_420: &[u8] = include_bytes!(
    "../../../../plugins/thumbnail/src/decode/fast/testdata/libjpeg-progressive-420.jpg"
);

#[test]
fn the_wasm_plugin_and_the_native_library_make_the_same_thumbnails() {
    let runtime = Runtime::with_cache_dir(Limits::default(), None).expect("runtime");
    let plugin = runtime
        .load(cdn_plugin_bundle::THUMBNAIL)
        .expect("thumbnail.wasm loads");
    let img = photo(1000, 700, 3);
    let baseline = jpeg(&img, 90, &JpegOptions::default()).expect("encodes");
    let progressive = JpegOptions {
        progressive: true,
        ..JpegOptions::default()
    };
    let progressive = jpeg(&img, 90, &progressive).expect("encodes");
    // boxes that pick 1/8, 1/4 and 1/2 (each leaves at least 2x of resize)
    let cases: [(&str, &[u8], [&str; 3]); 3] = [
        ("baseline 1000x700", &baseline, ["60", "120", "240"]),
        ("progressive 1000x700", &progressive, ["60", "120", "240"]),
        (
            "libjpeg progressive 4:2:0 250x170",
            LIBJPEG_PROGRESSIVE_420,
            ["15", "30", "60"],
        ),
    ];
    for (name, bytes, boxes) in cases {
        for size in boxes {
            let args = ["--width", size, "--height", size, "--format", "png"];
            let wasm = plugin
                .run(&args, bytes)
                .unwrap_or_else(|e| panic!("{name} in a {size} box, wasm: {e}"));
            let params = thumbnail::parse_args(args).expect("arguments");
            let native = thumbnail::make_thumbnail(bytes, &params)
                .unwrap_or_else(|e| panic!("{name} in a {size} box, native: {e}"));
            assert!(
                wasm == native.bytes,
                "{name} in a {size} box: the wasm plugin and the native library differ"
            );
        }
    }
}
