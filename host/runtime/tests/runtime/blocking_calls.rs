//! Plugins blocked inside a WASI call, in WAT: the epoch deadline does not reach them, yet each
//! call must end by its time cap as `TimeLimit`, and the same runtime must then run the real
//! thumbnail plugin fine.
//!
//! In this sandbox only clocks can keep `poll_oneoff` waiting: stdin is a memory pipe (always
//! ready, also at EOF), stdout and stderr are memory pipes (always writable), and any other fd
//! is an immediate `EBADF`. So "a subscription that never fires" is a list of far clocks.

use cdn_runtime::{Limits, RunError, Runtime};
use std::time::{Duration, Instant};

const CAP: Duration = Duration::from_secs(1);
/// How late after the cap a call may end (the host is a shared 2-core machine).
const MARGIN: Duration = Duration::from_secs(2);

fn runtime() -> Runtime {
    let limits = Limits {
        memory_bytes: 64 << 20,
        time: CAP,
        ..Limits::default()
    };
    Runtime::with_cache_dir(limits, None).expect("runtime")
}

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test module is valid WAT")
}

const WASI_POLL: &str = r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))"#;
const WASI_EXIT: &str = r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#;

/// WAT that stores one 48-byte clock subscription at `at`: userdata, tag 0 (clock), the clock
/// id, the timeout in ns, precision 0, and the flags (1 = absolute time).
fn clock_subscription(at: u32, userdata: u64, clock: u32, timeout_ns: u64, flags: u32) -> String {
    format!(
        "(i64.store (i32.const {at}) (i64.const {userdata}))
         (i32.store8 (i32.const {}) (i32.const 0))
         (i32.store (i32.const {}) (i32.const {clock}))
         (i64.store (i32.const {}) (i64.const {}))
         (i64.store (i32.const {}) (i64.const 0))
         (i32.store16 (i32.const {}) (i32.const {flags}))",
        at + 8,
        at + 16,
        at + 24,
        timeout_ns as i64,
        at + 32,
        at + 40,
    )
}

/// Runs `module` and checks that it ends with `TimeLimit` no sooner than the cap and no later
/// than the cap plus the margin.
fn assert_ends_at_the_cap(rt: &Runtime, module: &[u8]) {
    let plugin = rt.load(module).expect("loads");
    let started = Instant::now();
    let result = plugin.run::<&str>(&[], b"");
    let took = started.elapsed();
    let err = result.expect_err("a plugin blocked past its cap cannot succeed");
    assert!(
        matches!(err, RunError::TimeLimit { limit } if limit == CAP),
        "got {err:?}"
    );
    assert!(took >= CAP, "stopped before the cap: {took:?}");
    assert!(took < CAP + MARGIN, "stopped too late: {took:?}");
}

fn assert_good_plugin_still_works(rt: &Runtime) {
    let plugin = rt
        .load(cdn_plugin_bundle::THUMBNAIL)
        .expect("thumbnail plugin loads");
    let jpeg = cdn_samples::jpeg(&cdn_samples::photo(320, 240, 1), 85, &Default::default())
        .expect("encode a sample JPEG");
    let out = plugin
        .run(&["--width", "64", "--height", "64"], &jpeg)
        .expect("good plugin runs after a blocked one");
    assert!(out.starts_with(&[0xFF, 0xD8]), "output is a JPEG");
}

/// `std::thread::sleep(Duration::from_secs(3600))`: one relative clock subscription.
#[test]
fn sleeping_an_hour_in_wasi_hits_the_time_limit() {
    let rt = runtime();
    let module = wasm(&format!(
        r#"(module {WASI_POLL}
             (memory (export "memory") 1)
             (func (export "_start")
               {}
               (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#,
        clock_subscription(0, 7, 1, 3_600_000_000_000, 0)
    ));
    assert_ends_at_the_cap(&rt, &module);
    assert_good_plugin_still_works(&rt);
}

/// A subscription list that never fires: absolute deadlines far away on both clocks (the year
/// 2200 on the real-time clock, about 290 years of uptime on the monotonic one).
#[test]
fn waiting_on_far_absolute_clocks_hits_the_time_limit() {
    let rt = runtime();
    let module = wasm(&format!(
        r#"(module {WASI_POLL}
             (memory (export "memory") 1)
             (func (export "_start")
               {}
               {}
               (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 2) (i32.const 256)))))"#,
        clock_subscription(0, 1, 0, 7_258_118_400_000_000_000, 1),
        clock_subscription(48, 2, 1, 9_223_372_036_854_775_807, 1),
    ));
    assert_ends_at_the_cap(&rt, &module);
    assert_good_plugin_still_works(&rt);
}

/// A short sleep is untouched by the bound: the poll succeeds with the clock's event.
#[test]
fn a_short_sleep_still_returns_its_clock_event() {
    let rt = runtime();
    // Exit 0 only if poll_oneoff returned 0, reported one event, and the event is the clock's
    // (userdata 42, no error, type 0 = clock).
    let module = wasm(&format!(
        r#"(module {WASI_POLL} {WASI_EXIT}
             (memory (export "memory") 1)
             (func (export "_start")
               {}
               (if (i32.ne (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
                           (i32.const 0))
                 (then (call $exit (i32.const 1))))
               (if (i32.ne (i32.load (i32.const 128)) (i32.const 1))
                 (then (call $exit (i32.const 2))))
               (if (i64.ne (i64.load (i32.const 64)) (i64.const 42))
                 (then (call $exit (i32.const 3))))
               (if (i32.ne (i32.load16_u (i32.const 72)) (i32.const 0))
                 (then (call $exit (i32.const 4))))
               (if (i32.ne (i32.load8_u (i32.const 74)) (i32.const 0))
                 (then (call $exit (i32.const 5))))))"#,
        clock_subscription(0, 42, 1, 20_000_000, 0)
    ));
    let plugin = rt.load(&module).expect("loads");
    let started = Instant::now();
    plugin
        .run::<&str>(&[], b"")
        .expect("the sleep returns its event");
    assert!(started.elapsed() >= Duration::from_millis(20));
}
