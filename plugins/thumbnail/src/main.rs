//! `thumbnail`: the default imagecdn plugin, an ABI v1 command (DESIGN §2) built for
//! `wasm32-wasip1` (and natively, for tests and tries).
//!
//! Reads the image on stdin, the parameters from argv (see `--help`), writes the thumbnail on
//! stdout. On failure it writes one line on stderr and exits 1 for a bad image, 2 for bad
//! arguments. `--help` prints the usage on stderr (stdout stays empty) and exits 0.

use std::fmt::Display;
use std::io::{Read, Write};
use std::process::ExitCode;

use thumbnail::{make_thumbnail, parse_args, ArgsError, USAGE};

fn main() -> ExitCode {
    let args = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned());
    let params = match parse_args(args) {
        Ok(params) => params,
        Err(ArgsError::Help) => {
            let _ = writeln!(std::io::stderr(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(2, e),
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        return fail(1, format_args!("cannot read stdin: {e}"));
    }
    let thumb = match make_thumbnail(&input, &params) {
        Ok(thumb) => thumb,
        Err(e) => return fail(1, e),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&thumb.bytes).and_then(|()| stdout.flush()) {
        return fail(1, format_args!("cannot write stdout: {e}"));
    }
    ExitCode::SUCCESS
}

/// Prints `message` as one line on stderr and returns `code`.
fn fail(code: u8, message: impl Display) -> ExitCode {
    let line = message.to_string().replace(['\n', '\r'], " ");
    let _ = writeln!(std::io::stderr(), "{line}");
    ExitCode::from(code)
}
