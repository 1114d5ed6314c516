//! The external thumbnailers the plugin is compared with, each on one thread: `vipsthumbnail`
//! (`VIPS_CONCURRENCY=1`) and ImageMagick (`magick`, else `convert`, with `-limit thread 1`),
//! when installed.

use crate::inputs::Input;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Whether `program` is a file in one of the `PATH` folders.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Time per image of `vipsthumbnail` (one thread), start-up excluded: the median time of a
/// batch of `1 + runs` copies in one process minus that of a batch of 1, divided by `runs`.
pub fn vipsthumbnail(input: &Input, runs: usize, repeats: usize) -> Result<Duration> {
    let runs = runs.max(1);
    let copies = copies(input, "vips", 1 + runs)?;
    let batch = |files: &[PathBuf]| {
        crate::measure::try_median(repeats, || {
            let status = Command::new("vipsthumbnail")
                // One thread, like one plugin call: the figure is per core.
                .env("VIPS_CONCURRENCY", "1")
                .args(["--size", "256x256", "-o", "%s_vips.jpg[Q=80]"])
                .args(files)
                .stdin(Stdio::null())
                .status()
                .context("running vipsthumbnail")?;
            ensure!(status.success(), "vipsthumbnail failed: {status}");
            Ok(())
        })
    };
    let one = batch(&copies[..1])?;
    let all = batch(&copies)?;
    Ok(all.saturating_sub(one) / runs as u32)
}

/// The ImageMagick command: `magick` (version 7) or `convert` (version 6), if `-version` says
/// it is ImageMagick (a stand-in script named `convert` is not).
pub fn imagemagick() -> Option<&'static str> {
    ["magick", "convert"].into_iter().find(|program| {
        on_path(program)
            && Command::new(program)
                .arg("-version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|out| {
                    out.status.success()
                        && String::from_utf8_lossy(&out.stdout).contains("ImageMagick")
                })
    })
}

/// Median time of `PROGRAM -limit thread 1 IN -thumbnail 256x256 -quality 80 OUT.jpg`, one
/// process per image (ImageMagick takes one output per command), so its start-up is included.
pub fn imagemagick_thumbnail(program: &str, input: &Input, runs: usize) -> Result<Duration> {
    let out = input.path.with_extension("magick.jpg");
    crate::measure::try_median(runs, || {
        let status = Command::new(program)
            .env("MAGICK_THREAD_LIMIT", "1")
            .args(["-limit", "thread", "1"])
            .arg(&input.path)
            .args(["-thumbnail", "256x256", "-quality", "80"])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running {program}"))?;
        ensure!(status.success(), "{program} -thumbnail failed: {status}");
        Ok(())
    })
}

/// `runs` copies of the input beside it, named `PREFIX_i.EXT`.
fn copies(input: &Input, prefix: &str, runs: usize) -> Result<Vec<PathBuf>> {
    let dir = input.path.parent().unwrap_or(Path::new("."));
    let ext = input
        .path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("img");
    (0..runs.max(1))
        .map(|i| {
            let copy = dir.join(format!("{prefix}_{i}.{ext}"));
            std::fs::copy(&input.path, &copy).with_context(|| {
                format!("copying {} to {}", input.path.display(), copy.display())
            })?;
            Ok(copy)
        })
        .collect()
}
