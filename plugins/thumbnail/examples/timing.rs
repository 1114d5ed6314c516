//! Times `make_thumbnail` natively on generated photos (12 MP and 2 MP JPEG, 2 MP PNG) into the
//! default 256 box, and once per output format: `cargo run --release -p thumbnail --example timing`.

use std::time::{Duration, Instant};

use cdn_samples::{jpeg, photo, png, JpegOptions, PngOptions};
use thumbnail::{make_thumbnail, Format, Params};

/// The median of `runs` timed calls (after one warm-up).
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let big = jpeg(&photo(4000, 3000, 0), 90, &JpegOptions::default())?;
    let two_mp = photo(1920, 1080, 1);
    let sources = [
        ("12 MP JPEG (4000x3000)", big),
        (
            "2 MP JPEG (1920x1080)",
            jpeg(&two_mp, 90, &JpegOptions::default())?,
        ),
        (
            "2 MP PNG (1920x1080)",
            png(&two_mp.to_rgba(), &PngOptions::default())?,
        ),
    ];
    for (what, input) in &sources {
        let params = Params::default();
        let t = median(15, || {
            make_thumbnail(input, &params).expect("thumbnail");
        });
        println!(
            "{what:<24} {:>8} bytes -> 256 box JPEG q80: {:6.1} ms",
            input.len(),
            t.as_secs_f64() * 1e3
        );
    }
    let (_, input) = &sources[1];
    for format in [Format::Png, Format::Webp] {
        let params = Params {
            format,
            ..Params::default()
        };
        let t = median(15, || {
            make_thumbnail(input, &params).expect("thumbnail");
        });
        let size = make_thumbnail(input, &params)?.bytes.len();
        println!(
            "2 MP JPEG -> 256 box {format:<4}: {:6.1} ms, {size} bytes",
            t.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
