//! The golden thumbnail cases (`cdn_samples::golden`, the same ones the native tests of
//! `plugins/thumbnail` run) through the real `thumbnail.wasm` in this runtime: JPEG of several
//! sizes up to 12 MP, progressive, CMYK/YCCK, gray; PNG with alpha, 16-bit, palette, Adam7; WebP;
//! EXIF orientations 1-8 checked on real pixels; and bad inputs and arguments, each of which must
//! come back as `RunError::Plugin` with the plugin's one-line message (never a trap).
//!
//! Also the example `stamp.wasm`, once, to show a swapped-in plugin runs the same way.

use std::sync::{Arc, OnceLock};

use cdn_runtime::{Limits, Plugin, RunError, Runtime};
use cdn_samples::golden::{Failure, Outcome};

/// One runtime per test process, compiled plugins kept in memory only (no disk cache written).
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::with_cache_dir(Limits::default(), None).expect("runtime"))
}

fn thumbnail_plugin() -> &'static Arc<Plugin> {
    static PLUGIN: OnceLock<Arc<Plugin>> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        runtime()
            .load(cdn_plugin_bundle::THUMBNAIL)
            .expect("thumbnail.wasm loads")
    })
}

/// The golden runner: a plugin's own error is the expected kind of failure; anything else (a
/// trap, a limit, a host error) fails the test on the spot.
fn run(args: &[&str], input: &[u8]) -> Outcome {
    match thumbnail_plugin().run(args, input) {
        Ok(bytes) => Ok(bytes),
        Err(RunError::Plugin { exit_code, message }) => Err(Failure { exit_code, message }),
        Err(other) => panic!("the plugin must succeed or fail cleanly, got: {other}"),
    }
}

cdn_samples::golden_tests!(run);

#[test]
fn stamp_plugin_frames_a_square_crop() {
    use cdn_samples::{decode, jpeg, photo, JpegOptions};
    let stamp = runtime()
        .load(cdn_plugin_bundle::STAMP)
        .expect("stamp.wasm loads");
    let input = jpeg(&photo(900, 600, 1), 90, &JpegOptions::default()).expect("encodes");
    let args = [
        "--size", "96", "--border", "6", "--color", "ff0000", "--format", "png",
    ];
    let out = stamp.run(&args, &input).expect("stamp runs");
    let img = decode(&out).expect("PNG decodes");
    assert_eq!(
        (img.format, img.image.width, img.image.height),
        ("png", 96, 96)
    );
    for (x, y) in [(0, 0), (95, 0), (3, 50), (50, 92), (95, 95)] {
        assert_eq!(img.image.get(x, y), [255, 0, 0, 255], "frame at ({x}, {y})");
    }
    assert_ne!(img.image.get(48, 48), [255, 0, 0, 255], "the photo inside");

    match stamp.run(&["--shadow", "10"], &input) {
        Err(RunError::Plugin {
            exit_code: 2,
            message,
        }) => {
            assert!(message.contains("unknown flag --shadow"), "{message}")
        }
        Err(other) => panic!("an unknown flag must be the plugin's error, got {other}"),
        Ok(bytes) => panic!("an unknown flag must be refused, got {} bytes", bytes.len()),
    }
}

/// Not a check, a measurement: `cargo test --release -p cdn-runtime --test golden_wasm --
/// --ignored --nocapture` prints the median time of a 12 MP and a 2 MP JPEG into the default
/// 256 box through the wasm plugin (compilation excluded).
#[test]
#[ignore]
fn time_thumbnails_in_wasm() {
    use cdn_samples::{jpeg, photo, JpegOptions};
    let plugin = thumbnail_plugin();
    for (width, height) in [(4000, 3000), (1920, 1080)] {
        let input = jpeg(&photo(width, height, 0), 90, &JpegOptions::default()).expect("encodes");
        let no_args: [&str; 0] = [];
        plugin.run(&no_args, &input).expect("warm-up");
        let mut times: Vec<_> = (0..11)
            .map(|_| {
                let start = std::time::Instant::now();
                plugin.run(&no_args, &input).expect("runs");
                start.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{width}x{height} JPEG ({} bytes) -> 256 box in wasm: median {:.1} ms",
            input.len(),
            times[5].as_secs_f64() * 1e3
        );
    }
}
