//! The control-plane benchmark's plugin (ABI v1): ignores its input and arguments and writes a
//! fixed valid 2x1 PNG to stdout, so a task costs the master and workers, not the thumbnail.

/// A valid 2x1 RGB PNG (red, blue), as a WAT data string.
const PNG: &str = "\\89\\50\\4e\\47\\0d\\0a\\1a\\0a\\00\\00\\00\\0d\\49\\48\\44\\52\\00\\00\\00\\02\\00\\00\\00\\01\\08\\02\\00\\00\\00\\7b\\40\\e8\\dd\\00\\00\\00\\0d\\49\\44\\41\\54\\78\\9c\\63\\f8\\cf\\00\\04\\ff\\01\\07\\00\\01\\ff\\e2\\23\\9e\\59\\00\\00\\00\\00\\49\\45\\4e\\44\\ae\\42\\60\\82";
const PNG_LEN: usize = 70;

/// The plugin's `.wasm` bytes.
pub fn wasm() -> anyhow::Result<Vec<u8>> {
    let wat = format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{PNG}")
  (func (export "_start")
    ;; One iovec at 0: the PNG at 1024; the count written goes to 8.
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const {PNG_LEN}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#
    );
    Ok(wat::parse_str(wat)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_the_png() {
        let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default()).expect("runtime");
        let plugin = runtime
            .load(&super::wasm().expect("assembles"))
            .expect("loads");
        let out = plugin.run(&["--width", "256"], b"anything").expect("runs");
        assert_eq!(out.len(), super::PNG_LEN);
        assert!(out.starts_with(b"\x89PNG"));
    }
}
