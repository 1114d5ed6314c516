//! `cdn fetch ID -o FILE`: the thumbnail's bytes, written atomically (or to stdout with `-o -`).

use crate::cli::{FetchArgs, Global};
use crate::connect::Master;
use crate::exit::Exit;
use anyhow::Context;
use cdn_common::AtomicFile;
use cdn_proto::{ImageView, Request};
use std::io::Write;
use std::path::Path;

pub async fn run(global: &Global, args: FetchArgs) -> anyhow::Result<Exit> {
    let to_stdout = args.output == Path::new("-");
    // Made before connecting: an unwritable destination fails before any transfer.
    let file = if to_stdout {
        None
    } else {
        Some(AtomicFile::create(&args.output)?)
    };
    let request = Request::Fetch { id: args.id };
    let (view, bytes) = Master::call_once::<ImageView>(global, &request, Vec::new()).await?;
    let shown = match file {
        Some(file) => {
            file.commit(&bytes)?;
            args.output.display().to_string()
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .context("cannot write to stdout")?;
            "stdout".to_string()
        }
    };
    let (size, format) = match &view.thumbnail {
        Some(t) => (format!("{}x{}", t.width, t.height), t.format.as_str()),
        None => ("?x?".to_string(), "?"),
    };
    eprintln!("wrote {shown} ({size} {format}, {} bytes)", bytes.len());
    Ok(Exit::Success)
}
