//! Two small plugins for the cache tests, which are about files and keys rather than the code
//! inside: compiling them takes milliseconds where the real plugins take seconds. Each writes
//! its own fixed bytes, so a test can tell which one ran.

use cdn_testkit::fixed_plugins::writing;
use std::sync::LazyLock;

/// Writes `"plugin A"`.
pub static A: LazyLock<Vec<u8>> = LazyLock::new(|| writing(b"plugin A"));
/// Writes `"plugin B, not A"`.
pub static B: LazyLock<Vec<u8>> = LazyLock::new(|| writing(b"plugin B, not A"));
