//! What a plugin made: the thumbnail's format and size, read from its header, so the master
//! records them (and a plugin whose output is not an image fails its task).

/// Format and dimensions of an encoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Made {
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Reads the header of a plugin's output; `None` if it is not a JPEG, PNG, WebP, AVIF or GIF
/// image (every format the default plugin makes is recognised; lossy and lossless WebP are both
/// `webp`).
pub(crate) fn inspect(bytes: &[u8]) -> Option<Made> {
    use imagesize::ImageType;
    let format = match imagesize::image_type(bytes).ok()? {
        ImageType::Jpeg => "jpeg",
        ImageType::Png => "png",
        ImageType::Webp => "webp",
        ImageType::Heif(imagesize::Compression::Av1) => "avif",
        ImageType::Gif => "gif",
        _ => return None,
    };
    let size = imagesize::blob_size(bytes).ok()?;
    let width = u32::try_from(size.width).ok().filter(|w| *w > 0)?;
    let height = u32::try_from(size.height).ok().filter(|h| *h > 0)?;
    Some(Made {
        format,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_thumbnails_are_recognised() {
        let img = cdn_samples::photo(40, 30, 1);
        let jpeg = cdn_samples::jpeg(&img, 80, &Default::default()).unwrap();
        assert_eq!(
            inspect(&jpeg),
            Some(Made {
                format: "jpeg",
                width: 40,
                height: 30
            })
        );
        let png = cdn_samples::png(&img.to_rgba(), &Default::default()).unwrap();
        assert_eq!(
            inspect(&png).map(|m| (m.format, m.width)),
            Some(("png", 40))
        );
    }

    #[test]
    fn every_format_the_default_plugin_makes_is_recognised() {
        let input = cdn_samples::jpeg(&cdn_samples::photo(64, 48, 2), 85, &Default::default())
            .expect("sample jpeg");
        for format in cdn_params::Format::ALL {
            let params = cdn_params::Params {
                width: 32,
                height: 32,
                format,
                ..Default::default()
            };
            let thumb = thumbnail::make_thumbnail(&input, &params).expect("thumbnail");
            let made = inspect(&thumb.bytes).unwrap_or_else(|| panic!("{format} not recognised"));
            assert_eq!((made.width, made.height), (32, 24), "{format}");
            assert_eq!(
                made.format,
                format.extension().replace("jpg", "jpeg"),
                "{format}"
            );
        }
    }

    #[test]
    fn other_bytes_are_not_thumbnails() {
        assert_eq!(inspect(b""), None);
        assert_eq!(inspect(b"hello, world"), None);
        assert_eq!(inspect(&[0xFF, 0xD8, 0xFF]), None, "a truncated JPEG");
    }
}
