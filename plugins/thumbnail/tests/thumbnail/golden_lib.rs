//! The golden cases (see `cdn_samples::golden`) through the library: `parse_args` then
//! `make_thumbnail`, with the command's exit codes (2 for arguments, 1 for the image).

use cdn_samples::golden::{Failure, Outcome};
use thumbnail::{make_thumbnail, parse_args};

fn run(args: &[&str], input: &[u8]) -> Outcome {
    let params = parse_args(args).map_err(|e| Failure {
        exit_code: 2,
        message: e.to_string(),
    })?;
    let thumb = make_thumbnail(input, &params).map_err(|e| Failure {
        exit_code: 1,
        message: e.to_string(),
    })?;
    // the reported size and format are those of the bytes
    let decoded = cdn_samples::decode(&thumb.bytes).expect("thumbnail decodes");
    assert_eq!(
        (decoded.image.width, decoded.image.height),
        (thumb.width, thumb.height)
    );
    assert_eq!(decoded.format, thumb.format.name());
    Ok(thumb.bytes)
}

cdn_samples::golden_tests!(run);
