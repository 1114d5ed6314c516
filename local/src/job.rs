//! The work on one image, the same in a thread and in a worker process: read the source, run the
//! plugin on it (a fresh sandboxed instance), write the thumbnail atomically. Also: which plugin
//! to load, and the call log the tests count plugin calls with.

use anyhow::{bail, Context, Result};
use cdn_runtime::{Plugin, Runtime};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Test hook, documented here only: when set to a file path, every plugin call appends one line
/// `<pid> <source path>` to that file just before the call (opened with O_APPEND, one `write`
/// per line, so lines from concurrent threads and processes never interleave). The tests use it
/// to check that each image was processed exactly once.
pub const CALL_LOG_ENV: &str = "CDN_LOCAL_CALL_LOG";

/// Where the plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// One of the plugins built with this binary (`cdn_plugin_bundle::ALL`).
    Builtin(&'static str),
    /// A `.wasm` file.
    File(PathBuf),
}

impl PluginSource {
    /// `None` is the built-in thumbnail plugin; `builtin:NAME` a bundled plugin; anything else
    /// a file path.
    pub fn parse(spec: Option<&str>) -> Result<Self> {
        let Some(spec) = spec else {
            return Ok(PluginSource::Builtin("thumbnail"));
        };
        if let Some(name) = spec.strip_prefix("builtin:") {
            return match cdn_plugin_bundle::ALL.iter().find(|(n, _)| *n == name) {
                Some((n, _)) => Ok(PluginSource::Builtin(n)),
                None => {
                    let known: Vec<_> = cdn_plugin_bundle::ALL.iter().map(|(n, _)| *n).collect();
                    bail!(
                        "no built-in plugin {name:?} (built in: {})",
                        known.join(", ")
                    )
                }
            };
        }
        let path = PathBuf::from(spec);
        // Absolute, so that worker processes find it whatever their working directory.
        let path = std::path::absolute(&path)
            .with_context(|| format!("cannot resolve the plugin path {spec}"))?;
        Ok(PluginSource::File(path))
    }

    /// The form `parse` reads back (for a worker process's command line).
    pub fn spec(&self) -> String {
        match self {
            PluginSource::Builtin(name) => format!("builtin:{name}"),
            PluginSource::File(path) => path.display().to_string(),
        }
    }

    /// Compiles (or fetches from the caches) the plugin.
    pub fn load(&self, runtime: &Runtime) -> Result<Arc<Plugin>> {
        match self {
            PluginSource::Builtin(name) => {
                let bytes = cdn_plugin_bundle::ALL
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, b)| *b)
                    .with_context(|| format!("no built-in plugin {name:?}"))?;
                runtime
                    .load(bytes)
                    .with_context(|| format!("cannot load the built-in {name} plugin"))
            }
            PluginSource::File(path) => runtime
                .load_file(path)
                .with_context(|| format!("cannot load the plugin {}", path.display())),
        }
    }
}

/// A thumbnail that was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Made {
    /// Size of the thumbnail file.
    pub bytes: u64,
    /// Time for this image: read, plugin call, write.
    pub millis: f64,
}

/// Why an image has no thumbnail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A short stable name: `read_error`, `write_error`, `empty_output`, `worker_died`, or a
    /// plugin error kind from the runtime (`plugin_error`, `trap`, `time_limit`, ...).
    pub kind: String,
    /// One line for a person.
    pub message: String,
}

impl Failure {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Failure {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}

/// Makes the thumbnail of `source` into `output` with `plugin` and `args`.
pub fn thumbnail_one(
    plugin: &Plugin,
    args: &[String],
    source: &Path,
    output: &Path,
    input_limit: usize,
) -> Result<Made, Failure> {
    let started = Instant::now();
    let size = std::fs::metadata(source)
        .map_err(|e| Failure::new("read_error", format!("cannot read the source: {e}")))?
        .len();
    if size > input_limit as u64 {
        return Err(Failure::new(
            "input_too_large",
            format!("the source is {size} bytes, over the limit of {input_limit} bytes"),
        ));
    }
    let input = std::fs::read(source)
        .map_err(|e| Failure::new("read_error", format!("cannot read the source: {e}")))?;
    record_call(source);
    let thumbnail = plugin
        .run(args, &input)
        .map_err(|e| Failure::new(e.kind(), e.to_string()))?;
    if thumbnail.is_empty() {
        return Err(Failure::new(
            "empty_output",
            "the plugin succeeded but wrote no output",
        ));
    }
    warn_if_extension_differs(&thumbnail, output);
    cdn_common::write_atomic(output, &thumbnail)
        .map_err(anyhow::Error::from)
        .map_err(|e| Failure::new("write_error", format!("{e:#}")))?;
    Ok(Made {
        bytes: thumbnail.len() as u64,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Appends `<pid> <source>` to the call log, if [`CALL_LOG_ENV`] is set.
fn record_call(source: &Path) {
    let Some(log) = std::env::var_os(CALL_LOG_ENV) else {
        return;
    };
    let line = format!("{} {}\n", std::process::id(), source.display());
    let written = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(log = ?log, "cannot append to the call log: {e}");
    }
}

/// A custom plugin may write another format than the output's extension says (with `--arg`,
/// `--format` only names the extension): say so once per process.
fn warn_if_extension_differs(thumbnail: &[u8], output: &Path) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let sniffed = if thumbnail.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpg"
    } else if thumbnail.starts_with(b"\x89PNG") {
        "png"
    } else if thumbnail.len() >= 12 && &thumbnail[..4] == b"RIFF" && &thumbnail[8..12] == b"WEBP" {
        "webp"
    } else {
        return;
    };
    let ext = output.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != sniffed && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "the plugin writes {sniffed} but the outputs are named .{ext}: pass --format to name them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_specs() {
        assert_eq!(
            PluginSource::parse(None).expect("default"),
            PluginSource::Builtin("thumbnail")
        );
        let stamp = PluginSource::parse(Some("builtin:stamp")).expect("bundled");
        assert_eq!(stamp, PluginSource::Builtin("stamp"));
        assert_eq!(
            PluginSource::parse(Some(&stamp.spec())).expect("again"),
            stamp
        );
        assert!(PluginSource::parse(Some("builtin:nope")).is_err());
        let file = PluginSource::parse(Some("x.wasm")).expect("file");
        match &file {
            PluginSource::File(p) => assert!(p.is_absolute() && p.ends_with("x.wasm")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            PluginSource::parse(Some(&file.spec())).expect("again"),
            file
        );
    }
}
