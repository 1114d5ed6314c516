//! `cdn url ID --width W --height H [--fit F] [--format F] [--quality Q] --url-key-file FILE
//! [--base URL]`: prints a signed URL of another size of image ID, for the master's HTTP side
//! (`cdn-host master --http ADDR --url-key-file FILE`), which makes that size on demand.
//!
//! The signature is what the master checks (`cdn_master::http::signing`): the lowercase hex
//! HMAC-SHA256, under the key file's bytes, of `PATH?QUERY`, where PATH is
//! `/v1/images/{id}/thumbnail` and QUERY the parameters other than `sig`, `name=value` sorted by
//! name and joined by `&`. The URL carries them in that order, then `&sig=HEX`. Nothing is
//! sent to the master: this only computes.

use crate::exit::Exit;
use anyhow::Context;
use cdn_params::{Fit, Format};
use clap::Args;
use hmac::{Hmac, Mac};
use sha2::Sha256;
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

/// `path?query` signed under `key`: the full path and query with `&sig=HEX` (or `?sig=HEX`).
pub fn signed_path_and_query(key: &[u8], id: &str, pairs: &[(&str, String)]) -> String {
    let path = format!("/v1/images/{id}/thumbnail");
    let query: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let query = query.join("&");
    let message = format!("{path}?{query}");
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(message.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    if query.is_empty() {
        format!("{path}?sig={sig}")
    } else {
        format!("{path}?{query}&sig={sig}")
    }
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

    /// The vector of the master's signing tests: both sides sign alike.
    #[test]
    fn the_masters_known_vector() {
        let pairs = vec![
            ("fit", "cover".to_string()),
            ("format", "png".to_string()),
            ("h", "128".to_string()),
            ("w", "128".to_string()),
        ];
        assert_eq!(
            signed_path_and_query(b"secret", "cat.jpg", &pairs),
            "/v1/images/cat.jpg/thumbnail?fit=cover&format=png&h=128&w=128\
             &sig=0a9dab81ca8c60e13b53a39546784bc34cfffb5923f82c53ed813ce030245bf1"
        );
    }

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
