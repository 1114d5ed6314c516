//! A test plugin (ABI v1) that takes as long as its input says: the source "bytes" are a decimal
//! number of milliseconds; it spins on the WASI monotonic clock that long, then writes a 2x1 PNG.
//! It lets tests hold a lease for a known time (lease extension, SIGSTOP, restarts, SIGTERM).

/// A valid 2x1 RGB PNG (red, blue).
const PNG: &str = "\\89\\50\\4e\\47\\0d\\0a\\1a\\0a\\00\\00\\00\\0d\\49\\48\\44\\52\\00\\00\\00\\02\\00\\00\\00\\01\\08\\02\\00\\00\\00\\7b\\40\\e8\\dd\\00\\00\\00\\0d\\49\\44\\41\\54\\78\\9c\\63\\f8\\cf\\00\\04\\ff\\01\\07\\00\\01\\ff\\e2\\23\\9e\\59\\00\\00\\00\\00\\49\\45\\4e\\44\\ae\\42\\60\\82";
const PNG_LEN: usize = 70;

/// The plugin's `.wasm` bytes.
pub fn wasm() -> Vec<u8> {
    let wat = format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{PNG}")
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 16)))
    (i64.load (i32.const 16)))
  (func (export "_start")
    (local $ms i64) (local $i i32) (local $n i32) (local $c i32) (local $end i64)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (block $done (loop $digits
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.sub (i32.load8_u (i32.add (i32.const 100) (local.get $i))) (i32.const 48)))
      (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
      (local.set $ms (i64.add (i64.mul (local.get $ms) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $digits)))
    (local.set $end (i64.add (call $now) (i64.mul (local.get $ms) (i64.const 1000000))))
    (block $waited (loop $spin
      (br_if $waited (i64.ge_u (call $now) (local.get $end)))
      (br $spin)))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const {PNG_LEN}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#
    );
    wat::parse_str(wat).expect("the slow plugin assembles")
}
