//! Section 1: one thumbnail (fit 256x256, JPEG q80) per image, one core: the plugin in
//! wasmtime, the same library natively, and `vipsthumbnail` and ImageMagick when installed.

use crate::inputs::Input;
use crate::measure::{median, ms};
use crate::report::{times, verdict, Report};
use crate::tools;
use anyhow::{Context, Result};
use std::path::Path;

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
        let wasm = median(runs, || plugin.run(&ARGS, &input.bytes));
        let native = median(runs, || thumbnail::make_thumbnail(&input.bytes, &params));
        let vips_time = vips
            .then(|| tools::vipsthumbnail(input, runs))
            .transpose()?;
        let magick_time = magick
            .map(|program| tools::imagemagick_thumbnail(program, input, runs))
            .transpose()?;
        // Speed relative to vipsthumbnail: > 1 means the plugin is faster.
        let vs_vips = vips_time.map(|v| v.as_secs_f64() / wasm.as_secs_f64());
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
        "Medians of {runs} runs. vipsthumbnail runs with `VIPS_CONCURRENCY=1`, start-up excluded \
         (a batch of {} copies in one process minus a batch of 1, medians of 3). ImageMagick (`{}`) runs with \
         `-limit thread 1`, one process per image, so its start-up is included.",
        runs.max(1) + 1,
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
