//! Section 1: one thumbnail (fit 256x256, JPEG q80) per image, one core: the plugin in
//! wasmtime, the same library natively, and `vipsthumbnail` and ImageMagick when installed.

use crate::inputs::Input;
use crate::measure::{median, median_of, median_time, ms};
use crate::report::{times, verdict, Report};
use crate::tools;
use anyhow::{Context, Result};
use std::path::Path;

/// Calls of each program per round (see the notes under the table).
const PER_ROUND: usize = 3;

const ARGS: [&str; 6] = ["--width", "256", "--height", "256", "--quality", "80"];

/// `plugin`: a `.wasm` file to time instead of the embedded plugin.
pub fn report(
    out: &mut Report,
    inputs: &[Input],
    runs: usize,
    plugin: Option<&Path>,
) -> Result<()> {
    let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default())?;
    let plugin = match plugin {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            out.para(&format!(
                "The wasm column times `{}`, not the embedded plugin.",
                path.display()
            ));
            runtime.load(&bytes)?
        }
        None => runtime.load(cdn_plugin_bundle::THUMBNAIL)?,
    };
    let params = thumbnail::parse_args(ARGS).context("benchmark arguments")?;
    let vips = tools::on_path("vipsthumbnail");
    let magick = tools::imagemagick();

    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for input in inputs {
        // Check both succeed once, so the timed calls below measure real thumbnails.
        plugin
            .run(&ARGS, &input.bytes)
            .with_context(|| format!("the wasm plugin on {}", input.label))?;
        thumbnail::make_thumbnail(&input.bytes, &params)
            .with_context(|| format!("the native thumbnail of {}", input.label))?;
        // Short rounds of (wasm, native, vipsthumbnail) one after another: this machine has
        // spells, a second or so long, where everything runs up to a third slower, and a ratio
        // of two figures taken in the same round is not thrown by them.
        let (mut wasm, mut native, mut vips_times, mut ratios) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs.max(1) {
            let w = median(PER_ROUND, || plugin.run(&ARGS, &input.bytes));
            native.push(median(PER_ROUND, || {
                thumbnail::make_thumbnail(&input.bytes, &params)
            }));
            if vips {
                let v = tools::vipsthumbnail(input, PER_ROUND, 1)?;
                // speed relative to vipsthumbnail: > 1 means the plugin is faster
                ratios.push(v.as_secs_f64() / w.as_secs_f64());
                vips_times.push(v);
            }
            wasm.push(w);
        }
        let (wasm, native) = (median_time(wasm), median_time(native));
        let vips_time = vips.then(|| median_time(vips_times));
        let vs_vips = vips.then(|| median_of(ratios));
        let magick_time = magick
            .map(|program| tools::imagemagick_thumbnail(program, input, runs))
            .transpose()?;
        let target = input.target_vs_vips;
        if let Some(x) = vs_vips {
            out.outcome(
                &format!(
                    "wasm >= {target:.1}x vipsthumbnail per core, {} (moonshot)",
                    short(input)
                ),
                format!(
                    "{} ms vs {} ms",
                    ms(wasm),
                    ms(vips_time.unwrap_or_default())
                ),
                Some(x / target),
            );
            verdicts.push(format!(
                "{} (target {target:.1}x): {}",
                short(input),
                verdict(x / target)
            ));
        }
        rows.push(vec![
            input.label.clone(),
            ms(wasm),
            ms(native),
            times(wasm.as_secs_f64() / native.as_secs_f64()),
            vips_time.map_or("not installed".into(), ms),
            magick_time.map_or("not installed".into(), ms),
            vs_vips.map_or("-".into(), times),
            format!("{target:.1}x"),
            vs_vips.map_or("-".into(), |x| verdict(x / target)),
        ]);
    }
    out.section("1. Thumbnail per image, one core (fit 256x256, JPEG q80)");
    out.table(
        &[
            "source",
            "wasm ms",
            "native ms",
            "wasm / native (target <= 1.5x)",
            "vipsthumbnail ms",
            "ImageMagick ms",
            "wasm speed vs vipsthumbnail",
            "target",
            "verdict",
        ],
        &rows,
    );
    let mut notes = format!(
        "Each figure is the median of {runs} rounds. A round times the plugin (the median of \
         {PER_ROUND} calls after one more), then the native library alike, then \
         vipsthumbnail: a batch of {} copies in one process minus a batch of 1, so its start-up \
         is excluded, with `VIPS_CONCURRENCY=1`. The speed against vipsthumbnail is the median \
         of the rounds' ratios (both sides timed within a second of each other, as this \
         machine has slower spells). ImageMagick (`{}`) runs with `-limit thread 1`, one \
         process per image, so its start-up is included.",
        PER_ROUND + 1,
        magick.unwrap_or("convert")
    );
    if magick.is_none() {
        notes.push_str(" ImageMagick is not installed here (no `magick`, and no `convert` that says it is ImageMagick).");
    }
    out.para(&notes);
    if verdicts.is_empty() {
        out.para("**Verdict** (wasm >= 1.0x vipsthumbnail per core, 2x on the progressive 12 MP JPEG): not measured, vipsthumbnail is not installed.");
    } else {
        out.para(&format!(
            "**Verdict** (moonshot: wasm >= 1.0x vipsthumbnail per core, 2x on the progressive 12 MP JPEG): {}.",
            verdicts.join("; ")
        ));
    }
    Ok(())
}

/// The input's label without the dimensions: `12 MP JPEG`.
fn short(input: &Input) -> &str {
    input.label.split(" (").next().unwrap_or(&input.label)
}
