//! The default imagecdn thumbnail step as a plain Rust library: decode a JPEG, PNG or WebP, turn
//! it upright by its EXIF orientation, resize it into a box with Lanczos3, and encode it as JPEG,
//! PNG, WebP (lossless or lossy) or AVIF. `src/main.rs` wraps it as the ABI v1 plugin command for
//! `wasm32-wasip1`, which is what every runner executes (the local runners and the workers run
//! the `.wasm` in the sandbox); natively the library serves the `stamp` plugin, the tests and the
//! benchmark's native baseline.
//!
//! It is built for speed the way fast thumbnailers are: a source larger than
//! [`Params::max_pixels`] is refused from its header before anything is decoded, and a JPEG is
//! decoded at 1/2, 1/4 or 1/8 of its size by the DCT itself when the thumbnail is small enough
//! ("shrink on load"), then resized precisely. Images are never enlarged (see [`Fit`]).
//!
//! ```no_run
//! let input = std::fs::read("photo.jpg").unwrap();
//! let params = thumbnail::parse_args(["--width", "128", "--fit", "cover"]).unwrap();
//! let thumb = thumbnail::make_thumbnail(&input, &params).unwrap();
//! std::fs::write("photo_thumb.jpg", &thumb.bytes).unwrap();
//! ```

mod decode;
mod encode;
mod error;
mod geometry;
mod orient;
mod params;
mod raster;
mod resize;

pub use decode::{sniff, SourceFormat};
pub use encode::encode;
pub use error::{PixelLimit, ThumbError};
pub use orient::Orientation;
pub use params::{parse_args, ArgsError, Fit, Format, Params, USAGE};
pub use raster::Raster;

/// An encoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The encoded image, in `format`.
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

/// Makes the thumbnail of the image `input` (the bytes of a JPEG, PNG or WebP file).
pub fn make_thumbnail(input: &[u8], params: &Params) -> Result<Thumbnail, ThumbError> {
    let raster = render(input, params)?;
    let bytes = encode(&raster, params.format, params.quality)?;
    Ok(Thumbnail {
        bytes,
        width: raster.width,
        height: raster.height,
        format: params.format,
    })
}

/// The thumbnail's pixels before encoding: decoded (shrunk on load where possible), resized
/// into the box with `params.fit`, and upright. For plugins that draw on the thumbnail before
/// [`encode`]-ing it (see `plugins/stamp`). `params.format` and `quality` are not used here.
pub fn render(input: &[u8], params: &Params) -> Result<Raster, ThumbError> {
    let decoded = decode::decode(input, params)?;
    // Resize first and turn upright after: the thumbnail has far fewer pixels to move.
    let stored_plan = decoded.stored_plan();
    let resized = resize::resize(decoded.raster, decoded.extent, &stored_plan)?;
    Ok(decoded.orientation.apply(resized))
}
