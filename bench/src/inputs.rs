//! The benchmark corpus, generated in the run: a 12 MP JPEG (baseline and progressive, and
//! progressive as libjpeg writes it when `vips` is installed), a 2 MP JPEG and a 2 MP PNG of
//! photographic content (deterministic), also written to files for external tools.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Input {
    pub label: String,
    pub bytes: Vec<u8>,
    pub path: PathBuf,
    /// The speed against vipsthumbnail (per core, same file, same run) that issue 15 asks of
    /// the wasm plugin: 1.0x, and 2x for the progressive 12 MP JPEG.
    pub target_vs_vips: f64,
}

pub fn make(dir: &Path) -> Result<Vec<Input>> {
    let big = cdn_samples::photo(4000, 3000, 1);
    let small = cdn_samples::photo(1732, 1155, 2);
    let jpeg = |img| cdn_samples::jpeg(img, 90, &cdn_samples::JpegOptions::default());
    let progressive = cdn_samples::JpegOptions {
        progressive: true,
        ..cdn_samples::JpegOptions::default()
    };
    let png = cdn_samples::png(&small.to_rgba(), &cdn_samples::PngOptions::default())?;
    let items = [
        ("12 MP JPEG (4000x3000)", "big.jpg", jpeg(&big)?, 1.0),
        (
            "12 MP progressive JPEG (4000x3000)",
            "big-progressive.jpg",
            cdn_samples::jpeg(&big, 90, &progressive)?,
            2.0,
        ),
        ("2 MP JPEG (1732x1155)", "small.jpg", jpeg(&small)?, 1.0),
        ("2 MP PNG (1732x1155)", "small.png", png, 1.0),
    ];
    let mut inputs = items
        .into_iter()
        .map(|(label, name, bytes, target_vs_vips)| {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            Ok(Input {
                label: label.into(),
                bytes,
                path,
                target_vs_vips,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(input) = libjpeg_progressive(dir, &inputs[0])? {
        inputs.insert(2, input);
    }
    Ok(inputs)
}

/// The 12 MP photo again as libjpeg writes a progressive JPEG by default (successive
/// approximation: the DC in two steps, AC refinement scans), which is how most progressive
/// files on the web are made, unlike jpeg-encoder's spectral selection alone above. Made by
/// `vips copy` (libvips over libjpeg) when it is installed, else left out.
fn libjpeg_progressive(dir: &Path, baseline: &Input) -> Result<Option<Input>> {
    if !crate::tools::on_path("vips") {
        return Ok(None);
    }
    let path = dir.join("big-libjpeg-progressive.jpg");
    let status = std::process::Command::new("vips")
        .arg("copy")
        .arg(&baseline.path)
        .arg(format!("{}[interlace,Q=90]", path.display()))
        .stdin(std::process::Stdio::null())
        .status()
        .context("running vips copy")?;
    anyhow::ensure!(status.success(), "vips copy failed: {status}");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(Input {
        label: "12 MP progressive JPEG, libjpeg's script (4000x3000)".into(),
        bytes,
        path,
        target_vs_vips: 1.0,
    }))
}
