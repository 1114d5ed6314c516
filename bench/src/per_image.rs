//! One thumbnail (fit 256x256, JPEG q80) per image: the plugin in wasmtime, the same library
//! natively, and `vipsthumbnail` when it is installed.

use crate::inputs::Input;
use crate::measure::{median, ms, per_second};
use anyhow::{Context, Result};
use std::process::Command;
use std::time::{Duration, Instant};

const ARGS: [&str; 6] = ["--width", "256", "--height", "256", "--quality", "80"];

pub fn report(inputs: &[Input], runs: usize) -> Result<()> {
    let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default())?;
    let plugin = runtime.load(cdn_plugin_bundle::THUMBNAIL)?;
    let params = thumbnail::parse_args(ARGS).context("benchmark arguments")?;
    let vips = which("vipsthumbnail");

    let mut rows = Vec::new();
    for input in inputs {
        let wasm = median(runs, || {
            plugin.run(&ARGS, &input.bytes).expect("wasm thumbnail")
        });
        let native = median(runs, || {
            thumbnail::make_thumbnail(&input.bytes, &params).expect("native thumbnail")
        });
        let vips_time = vips.then(|| vipsthumbnail(input, runs)).transpose()?;
        rows.push(vec![
            input.label.clone(),
            ms(wasm),
            per_second(wasm),
            ms(native),
            format!("{:.2}x", wasm.as_secs_f64() / native.as_secs_f64()),
            vips_time.map_or("not installed".into(), ms),
            vips_time.map_or("-".into(), |v| {
                format!("{:.2}x", v.as_secs_f64() / wasm.as_secs_f64())
            }),
        ]);
    }
    crate::table::print(
        "Thumbnail per image, one core (fit 256x256, JPEG q80)",
        &[
            "source",
            "wasm ms",
            "wasm images/s",
            "native ms",
            "wasm / native (target <= 1.5x)",
            "vipsthumbnail ms",
            "vips / wasm (> 1 = wasm faster)",
        ],
        &rows,
    );
    Ok(())
}

/// Time per image of `vipsthumbnail` (one thread) over `runs` copies of the file in one process,
/// so that its start-up is spread over the batch rather than counted per image.
fn vipsthumbnail(input: &Input, runs: usize) -> Result<Duration> {
    let dir = input.path.parent().context("input has a folder")?;
    let copies: Vec<_> = (0..runs.max(1))
        .map(|i| {
            let ext = input
                .path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("img");
            let copy = dir.join(format!("vips_{i}.{ext}"));
            std::fs::copy(&input.path, &copy).map(|_| copy)
        })
        .collect::<std::io::Result<_>>()?;
    let start = Instant::now();
    let status = Command::new("vipsthumbnail")
        // One thread, like one plugin call: the figure is per core.
        .env("VIPS_CONCURRENCY", "1")
        .args(["--size", "256x256", "-o", "%s_vips.jpg[Q=80]"])
        .args(&copies)
        .status()
        .context("running vipsthumbnail")?;
    let elapsed = start.elapsed();
    anyhow::ensure!(status.success(), "vipsthumbnail failed: {status}");
    Ok(elapsed / copies.len() as u32)
}

pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
