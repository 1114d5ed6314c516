//! `stamp`: an example custom imagecdn plugin (ABI v1, DESIGN §2), the one to copy when writing
//! your own. It makes a square thumbnail, centre-cropped, inside a coloured frame:
//!
//! ```text
//! stamp [--size N] [--border N] [--color RRGGBB] [--format jpeg|png|webp] [--quality 1-100]
//!       [--max-pixels N] < image > stamp
//! ```
//!
//! It also takes the box flags every imagecdn master passes (`--width W --height H --fit F`, see
//! `cdn-params`' `Params::to_args`; `--max-pixels` only when it is not the default), so it can be named at registration: the square's side is the
//! smaller of W and H, and `--fit` may be `contain` or `cover` (a stamp always fills its square).
//!
//! Defaults: 256 px, an 8 px white frame, JPEG quality 80. Decoding (with EXIF orientation and
//! the size limit), cropping and encoding are reused from the `thumbnail` library; this file
//! only reads its flags and paints the frame. Errors: one line on stderr, exit code 1 for a bad
//! image, 2 for bad arguments (an unknown flag is one).

use std::io::{Read, Write};
use std::process::ExitCode;

use thumbnail::{encode, render, Fit, Format, Params, Raster};

/// What the flags ask for.
struct Stamp {
    size: u32,
    border: u32,
    color: [u8; 3],
    format: Format,
    quality: u8,
    max_pixels: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stamp = match parse(&args) {
        Ok(stamp) => stamp,
        Err(message) => return fail(2, &message),
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        return fail(1, &format!("cannot read stdin: {e}"));
    }
    match make(&input, &stamp) {
        Ok(bytes) => match std::io::stdout().write_all(&bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(1, &format!("cannot write stdout: {e}")),
        },
        Err(e) => fail(1, &e.to_string()),
    }
}

/// Square crop of the image, frame painted over its edge, encoded.
fn make(input: &[u8], stamp: &Stamp) -> Result<Vec<u8>, thumbnail::ThumbError> {
    let params = Params {
        width: stamp.size,
        height: stamp.size,
        fit: Fit::Cover,
        max_pixels: stamp.max_pixels,
        ..Params::default()
    };
    let mut picture = render(input, &params)?;
    paint_frame(&mut picture, stamp.border, stamp.color);
    encode(&picture, stamp.format, stamp.quality)
}

/// Paints the outer `border` pixels of `picture` in `color` (opaque).
fn paint_frame(picture: &mut Raster, border: u32, [r, g, b]: [u8; 3]) {
    let (w, h) = (picture.width, picture.height);
    for y in 0..h {
        for x in 0..w {
            if x < border
                || y < border
                || x >= w.saturating_sub(border)
                || y >= h.saturating_sub(border)
            {
                picture.set_rgba(x, y, [r, g, b, 255]);
            }
        }
    }
}

fn parse(args: &[String]) -> Result<Stamp, String> {
    let mut stamp = Stamp {
        size: 256,
        border: 8,
        color: [255, 255, 255],
        format: Format::Jpeg,
        quality: 80,
        max_pixels: Params::default().max_pixels,
    };
    let mut box_side = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let bad = |v: &str| format!("bad value {v:?} for {flag}");
        match flag.as_str() {
            "--size" => stamp.size = number(value()?, 1, 16384).ok_or_else(|| bad(flag))?,
            "--width" | "--height" => {
                let side = number(value()?, 1, 16384).ok_or_else(|| bad(flag))?;
                box_side = Some(box_side.map_or(side, |s: u32| s.min(side)));
            }
            "--fit" => match value()?.as_str() {
                "contain" | "cover" => {}
                other => return Err(bad(other)),
            },
            "--max-pixels" => {
                let v = value()?;
                stamp.max_pixels = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| bad(v))?;
            }
            "--border" => stamp.border = number(value()?, 0, 16384).ok_or_else(|| bad(flag))?,
            "--quality" => stamp.quality = number(value()?, 1, 100).ok_or_else(|| bad(flag))? as u8,
            "--color" => {
                let v = value()?;
                stamp.color = hex_color(v).ok_or_else(|| bad(v))?;
            }
            "--format" => {
                let v = value()?;
                stamp.format = Format::from_name(v).ok_or_else(|| bad(v))?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if let Some(side) = box_side {
        stamp.size = side;
        // A frame in proportion to the square when the box decides its size.
        stamp.border = stamp.border.min(side.saturating_sub(1) / 2);
    }
    if stamp.border * 2 >= stamp.size {
        return Err("--border must be less than half of --size".into());
    }
    Ok(stamp)
}

fn number(value: &str, min: u32, max: u32) -> Option<u32> {
    value.parse().ok().filter(|n| (min..=max).contains(n))
}

/// `RRGGBB` (an optional leading `#` is allowed) as bytes.
fn hex_color(value: &str) -> Option<[u8; 3]> {
    let hex = value.strip_prefix('#').unwrap_or(value);
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// One line on stderr, then exit with `code`.
fn fail(code: u8, message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{}", message.replace('\n', " "));
    ExitCode::from(code)
}
