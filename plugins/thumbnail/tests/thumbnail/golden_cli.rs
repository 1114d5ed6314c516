//! The golden cases (see `cdn_samples::golden`) through the native `thumbnail` command: image on
//! stdin, thumbnail on stdout, exit code and one stderr line on failure.

use std::io::Write;
use std::process::{Command, Stdio};

use cdn_samples::golden::{Failure, Outcome};

fn run(args: &[&str], input: &[u8]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thumbnail"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("thumbnail command starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // A command refusing its arguments exits without reading: a broken pipe is fine then.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("thumbnail command runs");
    writer.join().expect("stdin writer");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => {
            assert!(
                stderr.is_empty(),
                "success must be silent, stderr: {stderr:?}"
            );
            Ok(out.stdout)
        }
        Some(code) => {
            assert!(out.stdout.is_empty(), "a failure must write no thumbnail");
            assert_eq!(
                stderr.matches('\n').count(),
                1,
                "exactly one line: {stderr:?}"
            );
            Err(Failure {
                exit_code: code,
                message: stderr,
            })
        }
        None => panic!("thumbnail command killed by a signal; stderr: {stderr}"),
    }
}

cdn_samples::golden_tests!(run);

#[test]
fn help_goes_to_stderr_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_thumbnail"))
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .expect("thumbnail command runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: thumbnail"));
}
