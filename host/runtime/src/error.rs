//! What can go wrong when loading or running a plugin, one variant per cause.

use std::path::PathBuf;
use std::time::Duration;

/// Why a plugin call (or loading a plugin) did not produce a thumbnail.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plugin ran and refused: it exited non-zero with a message on stderr (ABI v1). This is
    /// the plugin's verdict on the input (corrupt image, bad flag, ...) and is final.
    #[error("plugin error (exit code {exit_code}): {message}")]
    Plugin { exit_code: i32, message: String },

    /// The plugin crashed: a wasm trap (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("plugin trapped: {trap}{}", stderr_suffix(.stderr))]
    Trap { trap: String, stderr: String },

    /// The call ran past its wall-time limit and was interrupted.
    #[error("plugin ran past its time limit of {}", humanize(*.limit))]
    TimeLimit { limit: Duration },

    /// The plugin tried to grow its linear memory past the limit.
    #[error("plugin tried to use more than its memory limit of {} MiB", .limit >> 20)]
    MemoryLimit { limit: usize },

    /// The plugin wrote more than allowed to stdout (or stderr).
    #[error("plugin wrote more than the {stream} limit of {limit} bytes")]
    OutputTooLarge { stream: &'static str, limit: usize },

    /// The input is larger than the stdin limit; the plugin was not started.
    #[error("input of {size} bytes is over the limit of {limit} bytes")]
    InputTooLarge { size: usize, limit: usize },

    /// The bytes are not a valid wasm module, or not an ABI v1 command (no `_start`, imports
    /// other than WASI preview 1).
    #[error("invalid plugin module: {0}")]
    InvalidModule(String),

    /// The folder of compiled plugins cannot be used safely (someone else could write in it, its
    /// key is not private) or at all. Compiled code read from it would run outside the sandbox,
    /// so the runtime refuses to start; the message says how to fix it.
    #[error("cannot use the compiled-plugin cache {}: {problem}", .path.display())]
    Cache { path: PathBuf, problem: String },

    /// The host could not set up the call (for example, could not create an instance). Not the
    /// plugin's fault.
    #[error("plugin runtime error: {0}")]
    Host(String),
}

impl RunError {
    /// Whether running the same plugin on the same input again might succeed. A plugin's own
    /// error is its final word on that input; a crash or a limit may be transient (another
    /// worker, less load). Invalid modules never get better.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RunError::Trap { .. }
                | RunError::TimeLimit { .. }
                | RunError::MemoryLimit { .. }
                | RunError::Host(_)
        )
    }

    /// A short stable name of the variant, for logs, JSON and the registry.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Plugin { .. } => "plugin_error",
            RunError::Trap { .. } => "trap",
            RunError::TimeLimit { .. } => "time_limit",
            RunError::MemoryLimit { .. } => "memory_limit",
            RunError::OutputTooLarge { .. } => "output_too_large",
            RunError::InputTooLarge { .. } => "input_too_large",
            RunError::InvalidModule(_) => "invalid_module",
            RunError::Cache { .. } => "cache_error",
            RunError::Host(_) => "host_error",
        }
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let line = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if line.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {})", line.trim())
    }
}

fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
