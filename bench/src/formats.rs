//! Section 1d: the output formats. For the 2 MP JPEG into the default 256 box, each format's
//! encode alone (the thumbnail's pixels made once, natively; `thumbnail::encode` timed) and the
//! whole wasm plugin call with `--format NAME`, with the output's size.

use crate::inputs::Input;
use crate::measure::{median, ms};
use crate::report::Report;
use anyhow::{Context, Result};

pub fn report(out: &mut Report, inputs: &[Input], runs: usize) -> Result<()> {
    let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default())?;
    let plugin = runtime.load(cdn_plugin_bundle::THUMBNAIL)?;
    let input = inputs
        .iter()
        .find(|i| i.path.ends_with("small.jpg"))
        .context("the corpus has no small.jpg")?;
    let params = thumbnail::Params::default();
    let raster = thumbnail::render(&input.bytes, &params).context("rendering the thumbnail")?;
    let mut rows = Vec::new();
    for format in thumbnail::Format::ALL {
        let quality = params.quality;
        let bytes = thumbnail::encode(&raster, format, quality)
            .with_context(|| format!("encoding {format}"))?;
        let native = median(runs, || thumbnail::encode(&raster, format, quality));
        let args = ["--format", format.name(), "--quality", "80"];
        plugin
            .run(&args, &input.bytes)
            .with_context(|| format!("the wasm plugin with --format {format}"))?;
        let wasm = median(runs, || plugin.run(&args, &input.bytes));
        rows.push(vec![
            format!("`{}`", format.name()),
            ms(native),
            ms(wasm),
            format!("{:.1}", bytes.len() as f64 / 1024.0),
        ]);
    }
    out.section(&format!(
        "1d. Output formats ({} into 256x256, quality 80 where it applies)",
        input.label
    ));
    out.table(
        &[
            "--format",
            "encode only, native ms",
            "whole plugin call, wasm ms",
            "KiB",
        ],
        &rows,
    );
    out.para(&format!(
        "Medians of {runs} runs; the thumbnail is {}x{}. `webp` is lossless (image-webp), \
         `webp-lossy` VP8 (vaam-image-webp), `avif` AV1 10-bit via ravif/rav1e at speed 10 \
         without assembly or threads (as in wasm).",
        raster.width, raster.height
    ));
    Ok(())
}
