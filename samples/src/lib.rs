//! Deterministic sample and test images for imagecdn.
//!
//! - [`photo`]: photo-like pictures of any size, the same for the same seed (derived from the
//!   real photographs in `shared/corpus`, see [`corpus`]).
//! - [`jpeg()`] and [`png()`]: encoders for every variant the thumbnail step must read
//!   (progressive, gray, CMYK/YCCK, EXIF orientation; 16-bit, palette, alpha, Adam7 interlaced),
//!   plus files that lie about their size ([`png_header_only`], [`with_jpeg_dimensions`]).
//! - [`marked`]: pictures with coloured quadrants for checking EXIF orientation.
//! - [`decode`] and [`compare`]: reading thumbnails back and comparing them with a reference.
//! - [`fidelity`]: the full-decode Lanczos3 reference and PSNR / SSIM against it.
//! - [`golden`]: the golden thumbnail cases, run by the native tests of `plugins/thumbnail` and by
//!   the wasm tests of `host/runtime` through [`golden_tests!`].

pub mod compare;
pub mod corpus;
pub mod decode;
pub mod fidelity;
pub mod golden;
mod image;
mod jpeg;
pub mod marked;
mod photo;
mod png;
mod webp;

pub use corpus::{corpus_dir, load_corpus};
pub use decode::{decode, decode_rgb, Decoded};
pub use image::{RgbImage, RgbaImage};
pub use jpeg::{jpeg, jpeg_with_restarts, with_jpeg_dimensions, JpegColor, JpegOptions};
pub use photo::photo;
pub use png::{palette_image, png, png_header_only, png_rgb16, PngColor, PngOptions};
pub use webp::webp_lossless;

/// Why a sample could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("JPEG encoding: {0}")]
    JpegEncode(#[from] jpeg_encoder::EncodingError),
    #[error("JPEG decoding: {0}")]
    JpegDecode(#[from] jpeg_decoder::Error),
    #[error("PNG encoding: {0}")]
    PngEncode(#[from] ::png::EncodingError),
    #[error("PNG decoding: {0}")]
    PngDecode(#[from] ::png::DecodingError),
    #[error("WebP: {0}")]
    Webp(String),
    #[error("{0}")]
    Unsupported(String),
}
