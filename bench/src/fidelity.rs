//! Section 1b: how faithful the thumbnails are. For each sample photo, the wasm plugin's
//! thumbnail (fit 256x256, PNG, so no encoder loss) and vipsthumbnail's (PNG, when installed)
//! are compared with the reference of `cdn_samples::fidelity`: the source decoded whole by an
//! independent decoder (the `image` crate) and resampled with an exact Lanczos3 to each
//! thumbnail's own size. PSNR over R, G and B (with Y, Cb, Cr) and SSIM of luma.

use crate::inputs::Input;
use crate::report::{verdict, Report};
use crate::tools;
use anyhow::{ensure, Context, Result};
use cdn_samples::fidelity::{psnr, psnr_ycbcr, reference_thumbnail, ssim};
use cdn_samples::RgbaImage;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ARGS: [&str; 6] = ["--width", "256", "--height", "256", "--format", "png"];

/// The target: our PSNR at least vipsthumbnail's minus this many dB, on every sample.
const SLACK_DB: f64 = 1.0;

/// One thumbnail's figures against the reference at its size.
struct Figures {
    size: (u32, u32),
    psnr: f64,
    ycbcr: [f64; 3],
    ssim: f64,
}

pub fn report(out: &mut Report, scratch: &Path, inputs: &[Input]) -> Result<()> {
    let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default())?;
    let plugin = runtime.load(cdn_plugin_bundle::THUMBNAIL)?;
    let vips = tools::on_path("vipsthumbnail");
    let dir = scratch.join("fidelity");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for (label, path) in samples(&dir, inputs)? {
        eprintln!("(fidelity: {label})");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let ours = plugin
            .run(&ARGS, &bytes)
            .with_context(|| format!("the wasm plugin on {label}"))?;
        let ours = figures(&bytes, &ours).with_context(|| format!("our thumbnail of {label}"))?;
        let theirs = if vips {
            let png = vipsthumbnail_png(&path, &dir)?;
            Some(figures(&bytes, &png).with_context(|| format!("vips's thumbnail of {label}"))?)
        } else {
            None
        };
        let margin = theirs.as_ref().map(|v| ours.psnr - v.psnr);
        if let Some(v) = &theirs {
            let of_target = ours.psnr / (v.psnr - SLACK_DB);
            out.outcome(
                &format!("fidelity: PSNR >= vipsthumbnail's - {SLACK_DB} dB, {label}"),
                format!("{:.2} dB vs {:.2} dB", ours.psnr, v.psnr),
                Some(of_target),
            );
            verdicts.push(format!("{label}: {}", verdict(of_target)));
        }
        let cell = |f: &Figures| {
            let [y, cb, cr] = f.ycbcr;
            format!("{:.2} (Y {y:.1}, Cb {cb:.1}, Cr {cr:.1})", f.psnr)
        };
        let na = || "not installed".to_string();
        rows.push(vec![
            label,
            format!("{}x{}", ours.size.0, ours.size.1),
            cell(&ours),
            format!("{:.5}", ours.ssim),
            theirs.as_ref().map_or_else(na, cell),
            theirs
                .as_ref()
                .map_or_else(na, |v| format!("{:.5}", v.ssim)),
            margin.map_or("-".into(), |m| format!("{m:+.2}")),
        ]);
    }
    out.section(
        "1b. Thumbnail fidelity (fit 256x256, PNG) against a full-decode Lanczos3 reference",
    );
    out.table(
        &[
            "source",
            "thumbnail",
            "wasm plugin PSNR dB",
            "wasm plugin SSIM",
            "vipsthumbnail PSNR dB",
            "vipsthumbnail SSIM",
            "ours - vips dB (target >= -1)",
        ],
        &rows,
    );
    out.para(
        "Reference: the source decoded whole by an independent decoder (the `image` crate: \
         zune-jpeg, png; EXIF orientation applied) and resampled to each thumbnail's own size \
         by an exact Lanczos3 (`cdn_samples::fidelity`, Pillow's method in f64). PSNR over R, G, \
         B (per plane in brackets, JPEG's YCbCr); SSIM of luma, 11x11 Gaussian window. Both \
         thumbnails are PNG, so no encoder loss is counted. vipsthumbnail: `--size 256x256`, \
         `VIPS_CONCURRENCY=1`. Checked against Pillow (`Image.resize(LANCZOS)` of the full \
         decode) on rocket.jpg: vipsthumbnail 49.12 dB there.",
    );
    if verdicts.is_empty() {
        out.para("**Verdict** (PSNR >= vipsthumbnail's - 1 dB): not measured, vipsthumbnail is not installed.");
    } else {
        out.para(&format!(
            "**Verdict** (PSNR >= vipsthumbnail's - 1 dB): {}.",
            verdicts.join("; ")
        ));
    }
    Ok(())
}

/// The photos measured: the corpus photographs (when present), the benchmark's generated
/// inputs, and a 12 MP JPEG with 4:2:0 chroma (the generated one is 4:4:4, quality 90).
fn samples(dir: &Path, inputs: &[Input]) -> Result<Vec<(String, PathBuf)>> {
    let mut list = Vec::new();
    let corpus = cdn_samples::corpus_dir();
    for name in cdn_samples::corpus::PHOTOS {
        let path = corpus.join(name);
        if path.is_file() {
            list.push((name.to_string(), path));
        }
    }
    for input in inputs {
        list.push((format!("{} 4:4:4", input.label), input.path.clone()));
    }
    let big = cdn_samples::photo(4000, 3000, 1);
    let bytes = cdn_samples::jpeg(&big, 80, &cdn_samples::JpegOptions::default())?;
    let path = dir.join("big420.jpg");
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    list.push(("12 MP JPEG (4000x3000) 4:2:0".into(), path));
    // (the PNG input has no chroma subsampling: drop the suffix there)
    for (label, path) in &mut list {
        if path.extension().is_some_and(|e| e == "png") {
            *label = label.trim_end_matches(" 4:4:4").to_string();
        }
    }
    Ok(list)
}

/// Decodes `thumb` and measures it against the reference of `source` at its size.
fn figures(source: &[u8], thumb: &[u8]) -> Result<Figures> {
    let ours = cdn_samples::decode(thumb)?.image;
    let reference = reference_thumbnail(source, None, ours.width, ours.height)?;
    let on_white = |img: &RgbaImage| img.flattened_on_white().to_rgba();
    let (a, b) = (on_white(&ours), on_white(&reference));
    let size = (ours.width, ours.height);
    Ok(Figures {
        size,
        psnr: psnr(&a, &b).context("sizes differ")?,
        ycbcr: psnr_ycbcr(&a, &b).context("sizes differ")?,
        ssim: ssim(&a, &b).context("sizes differ")?,
    })
}

/// vipsthumbnail's 256x256 PNG thumbnail of `path` (one thread), made in `dir`.
fn vipsthumbnail_png(path: &Path, dir: &Path) -> Result<Vec<u8>> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .context("a file name")?;
    let out = dir.join(format!("{stem}_vips.png"));
    let status = Command::new("vipsthumbnail")
        .env("VIPS_CONCURRENCY", "1")
        .args(["--size", "256x256", "-o"])
        .arg(&out)
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .context("running vipsthumbnail")?;
    ensure!(status.success(), "vipsthumbnail failed: {status}");
    let bytes = std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    Ok(bytes)
}
