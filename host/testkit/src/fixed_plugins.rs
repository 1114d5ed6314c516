//! Plugins (ABI v1) that ignore their input and arguments and write fixed bytes to stdout: the
//! smallest modules the runtime will run, compiled in milliseconds where the real plugins take
//! seconds. For tests about everything around the plugin (caches, the control plane).

/// A plugin that writes `bytes` (at most 60 KiB) to stdout and exits.
pub fn writing(bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() <= 60 << 10, "the data must fit in one page");
    let data: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    let len = bytes.len();
    wat::parse_str(format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{data}")
  (func (export "_start")
    ;; One iovec at 0: the bytes at 1024; the count written goes to 8.
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#
    ))
    .expect("the fixed-output plugin assembles")
}
