//! The caps every plugin call runs under (DESIGN §2 and §6).

use std::time::Duration;

/// Resource limits for one plugin call. Exceeding one ends the call with a [`crate::RunError`],
/// never a crash of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory a plugin may grow to (default 512 MiB).
    pub memory_bytes: usize,
    /// Wall time of one call, enforced by epoch interruption (default 30 s).
    pub time: Duration,
    /// Largest input accepted on stdin (default 64 MiB, the largest upload).
    pub input_bytes: usize,
    /// Largest output accepted from stdout (default 64 MiB).
    pub output_bytes: usize,
    /// Largest stderr kept; a plugin writing more is treated like one writing too much output
    /// (default 64 KiB: the ABI asks for one line).
    pub stderr_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            time: Duration::from_secs(30),
            input_bytes: 64 << 20,
            output_bytes: 64 << 20,
            stderr_bytes: 64 << 10,
        }
    }
}
