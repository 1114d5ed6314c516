//! The sample photographs in `shared/corpus` (never copied into this repository), found from
//! this crate's source folder or from `$IMAGECDN_CORPUS`.

use std::path::PathBuf;

use crate::{decode_rgb, RgbImage, SampleError};

/// The corpus photographs, in the order [`crate::photo`] picks them by seed.
pub const PHOTOS: &[&str] = &[
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
];

/// The folder of the sample photographs: `$IMAGECDN_CORPUS` when set, else `shared/corpus` beside
/// the repository (`<repo>/../shared/corpus`).
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("IMAGECDN_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
    }
}

/// A corpus photograph (e.g. `"rocket.jpg"`) decoded into RGB.
pub fn load_corpus(name: &str) -> Result<RgbImage, SampleError> {
    let path = corpus_dir().join(name);
    let bytes = std::fs::read(&path).map_err(|source| SampleError::Io { path, source })?;
    decode_rgb(&bytes)
}
