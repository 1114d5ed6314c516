//! Test plugins (ABI v1) that misbehave on purpose, as `.wasm` bytes: one that blocks in a WASI
//! call, one that shouts escape sequences and then crashes.

/// A plugin that sleeps an hour (`poll_oneoff` on one relative monotonic clock, as
/// `std::thread::sleep` does), then exits without output. Only a time cap that covers host calls
/// ends it.
pub fn sleeper() -> Vec<u8> {
    const WAT: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 1))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))
"#;
    wat::parse_str(WAT).expect("the sleeper assembles")
}

/// How many bytes [`loud_trap`] writes to stderr before it traps.
pub const LOUD_STDERR_BYTES: usize = 60_000;

/// A plugin that writes [`LOUD_STDERR_BYTES`] of stderr on one line, `boom` and then nothing but
/// ESC characters (each one six bytes once JSON-escaped, far over a 64 KiB header), and then
/// traps (`unreachable`).
pub fn loud_trap() -> Vec<u8> {
    let wat = format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "boom ")
  (func (export "_start")
    (memory.fill (i32.const 1029) (i32.const 27) (i32.const {fill}))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const {LOUD_STDERR_BYTES}))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable))
"#,
        fill = LOUD_STDERR_BYTES - 5
    );
    wat::parse_str(wat).expect("the loud trap assembles")
}
