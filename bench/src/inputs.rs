//! The benchmark corpus, generated in the run: a 12 MP and a 2 MP JPEG and a 2 MP PNG of
//! photographic content (deterministic), also written to files for external tools.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Input {
    pub label: String,
    pub bytes: Vec<u8>,
    pub path: PathBuf,
}

pub fn make(dir: &Path) -> Result<Vec<Input>> {
    let big = cdn_samples::photo(4000, 3000, 1);
    let small = cdn_samples::photo(1732, 1155, 2);
    let jpeg = |img| cdn_samples::jpeg(img, 90, &cdn_samples::JpegOptions::default());
    let png = cdn_samples::png(&small.to_rgba(), &cdn_samples::PngOptions::default())?;
    let items = [
        ("12 MP JPEG (4000x3000)", "big.jpg", jpeg(&big)?),
        ("2 MP JPEG (1732x1155)", "small.jpg", jpeg(&small)?),
        ("2 MP PNG (1732x1155)", "small.png", png),
    ];
    items
        .into_iter()
        .map(|(label, name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            Ok(Input {
                label: label.into(),
                bytes,
                path,
            })
        })
        .collect()
}
