//! Two small plugins for the cache tests, which are about files and keys rather than the code
//! inside: compiling them takes milliseconds where the real plugins take seconds. Each writes
//! its own fixed bytes, so a test can tell which one ran.

use std::sync::LazyLock;

/// Writes `"plugin A"`.
pub static A: LazyLock<Vec<u8>> = LazyLock::new(|| writes("plugin A"));
/// Writes `"plugin B, not A"`.
pub static B: LazyLock<Vec<u8>> = LazyLock::new(|| writes("plugin B, not A"));

/// A plugin that ignores its input and arguments and writes `text` to stdout.
fn writes(text: &str) -> Vec<u8> {
    let len = text.len();
    wat::parse_str(format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{text}")
  (func (export "_start")
    ;; One iovec at 0: the text at 1024; the count written goes to 8.
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#
    ))
    .expect("a valid module")
}
