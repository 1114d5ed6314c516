//! `cdn url ID --width W --height H [--fit F] [--format F] [--quality Q] --url-key-file FILE
//! [--base URL]`: prints a signed URL of another size of image ID, for the master's HTTP side
//! (`cdn-host master --http ADDR --url-key-file FILE`), which makes that size on demand.
//!
//! The signature is made by `cdn_common::url_signing`, the code the master verifies with: the
//! lowercase hex HMAC-SHA256, under the key file's bytes, of `PATH?QUERY` with the parameters
//! sorted by name. Nothing is sent to the master: this only computes.

use crate::exit::Exit;
use anyhow::Context;
use cdn_common::url_signing::signed_path_and_query;
use cdn_params::{Fit, Format};
use clap::Args;
use std::path::PathBuf;

/// `cdn url`.
#[derive(Debug, Args)]
pub struct UrlArgs {
    /// The image id.
    pub id: String,
    /// Width of the box, in pixels.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_384))]
    pub width: Option<u32>,
    /// Height of the box, in pixels.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_384))]
    pub height: Option<u32>,
    /// How the image fits the box (default: the image's own).
    #[arg(long, value_enum)]
    pub fit: Option<Fit>,
    /// The thumbnail's format (default: the image's own).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// JPEG quality, 1-100 (default: the image's own).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: Option<u8>,
    /// The signing key: the file's bytes (the master's --url-key-file).
    #[arg(long, value_name = "FILE")]
    pub url_key_file: PathBuf,
    /// Where the master's HTTP side is.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub base: String,
}

/// The parameters as `(name, value)`, sorted by name (the canonical order).
fn pairs(args: &UrlArgs) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(fit) = args.fit {
        pairs.push(("fit", fit.name().to_string()));
    }
    if let Some(format) = args.format {
        pairs.push(("format", format.name().to_string()));
    }
    if let Some(h) = args.height {
        pairs.push(("h", h.to_string()));
    }
    if let Some(q) = args.quality {
        pairs.push(("quality", q.to_string()));
    }
    if let Some(w) = args.width {
        pairs.push(("w", w.to_string()));
    }
    pairs.sort();
    pairs
}

pub fn run(args: UrlArgs) -> anyhow::Result<Exit> {
    cdn_common::name::check(&args.id, 128).with_context(|| format!("image id {:?}", args.id))?;
    let key = std::fs::read(&args.url_key_file)
        .with_context(|| format!("cannot read the key {}", args.url_key_file.display()))?;
    anyhow::ensure!(
        !key.is_empty(),
        "the key {} is empty",
        args.url_key_file.display()
    );
    let pairs = pairs(&args);
    anyhow::ensure!(
        !pairs.is_empty(),
        "give at least one of --width, --height, --fit, --format, --quality"
    );
    let signed = signed_path_and_query(&key, &args.id, &pairs);
    println!("{}{signed}", args.base.trim_end_matches('/'));
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_come_in_canonical_order() {
        let args = UrlArgs {
            id: "a".into(),
            width: Some(64),
            height: Some(32),
            fit: Some(Fit::Cover),
            format: Some(Format::Webp),
            quality: Some(70),
            url_key_file: PathBuf::new(),
            base: String::new(),
        };
        let names: Vec<_> = pairs(&args).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["fit", "format", "h", "quality", "w"]);
    }
}
