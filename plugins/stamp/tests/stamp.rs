//! The stamp plugin as a command: a square of the right size, the frame in the right colour,
//! the photo inside it, and clean refusals.

use std::io::Write;
use std::process::{Command, Stdio};

use cdn_samples::{decode, jpeg, marked, photo, png, JpegOptions, PngOptions};

/// Runs `stamp` with `args` on `input`: (exit code, stdout, stderr).
fn stamp(args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stamp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stamp starts");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input); // refused arguments: stamp exits without reading
    });
    let out = child.wait_with_output().expect("stamp runs");
    writer.join().expect("writer");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), out.stdout, stderr)
}

fn close(a: [u8; 4], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn frames_a_square_crop_in_the_colour_asked_for() {
    let input = jpeg(&photo(1200, 800, 1), 90, &JpegOptions::default()).expect("encodes");
    let args = [
        "--size", "120", "--border", "10", "--color", "#20c040", "--format", "png",
    ];
    let (code, out, err) = stamp(&args, &input);
    assert_eq!(code, 0, "{err}");
    let img = decode(&out).expect("PNG decodes");
    assert_eq!(
        (img.format, img.image.width, img.image.height),
        ("png", 120, 120)
    );
    for (x, y) in [
        (0, 0),
        (119, 0),
        (5, 60),
        (60, 114),
        (119, 119),
        (9, 9),
        (110, 110),
    ] {
        assert!(
            close(img.image.get(x, y), [0x20, 0xc0, 0x40], 0),
            "frame at ({x}, {y})"
        );
    }
    // inside the frame: the photo, not the frame colour
    let inside: Vec<[u8; 4]> = (20..100).map(|i| img.image.get(i, i)).collect();
    assert!(
        inside
            .iter()
            .filter(|p| !close(**p, [0x20, 0xc0, 0x40], 30))
            .count()
            > 70
    );
}

#[test]
fn defaults_give_a_256_jpeg_and_orientation_is_applied() {
    // the marked picture stored turned: upright it is 200 wide, 320 tall, red at top right
    let options = JpegOptions {
        exif_orientation: Some(6),
        ..JpegOptions::default()
    };
    let input = jpeg(&marked::marked(320, 200), 90, &options).expect("encodes");
    let (code, out, err) = stamp(&[], &input);
    assert_eq!(code, 0, "{err}");
    let img = decode(&out).expect("JPEG decodes");
    // not enlarged: the centre square of a 200x320 picture is 200x200
    assert_eq!(
        (img.format, img.image.width, img.image.height),
        ("jpeg", 200, 200)
    );
    assert!(
        close(img.image.get(0, 0), [255, 255, 255], 8),
        "white frame"
    );
    let top_right = img.image.get(150, 50);
    assert_eq!(
        marked::Mark::classify([top_right[0], top_right[1], top_right[2]]),
        Some(marked::Mark::Red)
    );
}

/// The flags a master passes to every plugin (`cdn-proto`'s `Params::args`).
#[test]
fn takes_the_box_flags_a_master_passes() {
    let input = jpeg(&photo(900, 600, 2), 90, &JpegOptions::default()).expect("encodes");
    let args = [
        "--width",
        "200",
        "--height",
        "150",
        "--fit",
        "contain",
        "--format",
        "jpeg",
        "--quality",
        "80",
    ];
    let (code, out, err) = stamp(&args, &input);
    assert_eq!(code, 0, "{err}");
    let img = decode(&out).expect("JPEG decodes");
    assert_eq!(
        (img.format, img.image.width, img.image.height),
        ("jpeg", 150, 150)
    );
}

#[test]
fn refuses_bad_arguments_with_exit_code_2() {
    let input = png(&photo(64, 64, 1).to_rgba(), &PngOptions::default()).expect("encodes");
    for (args, message) in [
        (
            &["--height", "10", "--shadow", "2"][..],
            "unknown flag --shadow",
        ),
        (&["--fit", "stretch"][..], "bad value \"stretch\" for --fit"),
        (&["--color", "green"][..], "bad value \"green\" for --color"),
        (&["--size"][..], "--size needs a value"),
        (&["--size", "20", "--border", "10"][..], "less than half"),
        (&["--format", "gif"][..], "for --format"),
    ] {
        let (code, out, err) = stamp(args, &input);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn refuses_bad_images_with_exit_code_1() {
    let (code, out, err) = stamp(&[], b"not an image");
    assert_eq!((code, out.len()), (1, 0));
    assert_eq!(
        err.trim_end(),
        "unsupported format (not a JPEG, PNG or WebP)"
    );
}
