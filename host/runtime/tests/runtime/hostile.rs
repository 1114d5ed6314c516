//! Hostile plugins, written in WAT: each must end in its own typed error within the limits, and
//! the same runtime must then run the real thumbnail plugin fine.

use cdn_runtime::{Limits, RunError, Runtime};
use std::time::{Duration, Instant};

fn runtime() -> Runtime {
    let limits = Limits {
        memory_bytes: 64 << 20,
        time: Duration::from_secs(1),
        input_bytes: 8 << 20,
        output_bytes: 1 << 20,
        stderr_bytes: 4 << 10,
    };
    Runtime::with_cache_dir(limits, None).expect("runtime")
}

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test module is valid WAT")
}

/// A photo-like JPEG of 640x427 (made here, so the tests need nothing outside the repository).
fn sample_jpeg() -> Vec<u8> {
    cdn_samples::jpeg(&cdn_samples::photo(640, 427, 1), 85, &Default::default())
        .expect("encode a sample JPEG")
}

/// After whatever the hostile plugin did, the real plugin still makes a real thumbnail.
fn assert_good_plugin_still_works(rt: &Runtime) {
    let plugin = rt
        .load(cdn_plugin_bundle::THUMBNAIL)
        .expect("thumbnail plugin loads");
    let jpeg = sample_jpeg();
    let out = plugin
        .run(&["--width", "64", "--height", "64"], &jpeg)
        .expect("good plugin runs after a hostile one");
    assert!(out.starts_with(&[0xFF, 0xD8]), "output is a JPEG");
}

const WASI_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;

#[test]
fn a_trap_is_reported_as_a_trap() {
    let rt = runtime();
    let plugin = rt
        .load(&wasm(
            r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
        ))
        .expect("loads");
    let err = plugin.run::<&str>(&[], b"input").unwrap_err();
    assert!(matches!(err, RunError::Trap { .. }), "got {err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(err.is_retryable());
    assert_good_plugin_still_works(&rt);
}

#[test]
fn an_endless_loop_hits_the_time_limit() {
    let rt = runtime();
    let plugin = rt
        .load(&wasm(
            r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
        ))
        .expect("loads");
    let started = Instant::now();
    let err = plugin.run::<&str>(&[], b"").unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, RunError::TimeLimit { .. }), "got {err:?}");
    assert!(
        took >= Duration::from_secs(1),
        "stopped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "stopped too late: {took:?}");
    assert_good_plugin_still_works(&rt);
}

#[test]
fn growing_memory_without_end_hits_the_memory_limit() {
    let rt = runtime();
    let plugin = rt
        .load(&wasm(
            r#"(module (memory (export "memory") 1)
                 (func (export "_start")
                   (loop (drop (memory.grow (i32.const 16))) (br 0))))"#,
        ))
        .expect("loads");
    let err = plugin.run::<&str>(&[], b"").unwrap_err();
    assert!(
        matches!(err, RunError::MemoryLimit { limit } if limit == 64 << 20),
        "got {err:?}"
    );
    assert_good_plugin_still_works(&rt);
}

#[test]
fn writing_gigabytes_to_stdout_is_cut_off() {
    let rt = runtime();
    // An iovec at 0 pointing at 64 KiB at 1024, written to fd 1 forever.
    let plugin = rt
        .load(&wasm(&format!(
            r#"(module {WASI_WRITE}
                 (memory (export "memory") 2)
                 (func (export "_start")
                   (i32.store (i32.const 0) (i32.const 1024))
                   (i32.store (i32.const 4) (i32.const 65536))
                   (loop
                     (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
                     (br 0))))"#
        )))
        .expect("loads");
    let err = plugin.run::<&str>(&[], b"").unwrap_err();
    assert!(
        matches!(err, RunError::OutputTooLarge { stream: "stdout", limit } if limit == 1 << 20),
        "got {err:?}"
    );
    assert!(!err.is_retryable());
    assert_good_plugin_still_works(&rt);
}

#[test]
fn a_plugin_error_carries_its_exit_code_and_stderr_line() {
    let rt = runtime();
    let plugin = rt
        .load(&wasm(&format!(
            r#"(module {WASI_WRITE}
                 (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                 (memory (export "memory") 1)
                 (data (i32.const 64) "unsupported format\n")
                 (func (export "_start")
                   (i32.store (i32.const 0) (i32.const 64))
                   (i32.store (i32.const 4) (i32.const 19))
                   (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 16)))
                   (call $exit (i32.const 3))))"#
        )))
        .expect("loads");
    let err = plugin.run::<&str>(&[], b"").unwrap_err();
    match &err {
        RunError::Plugin { exit_code, message } => {
            assert_eq!(*exit_code, 3);
            assert_eq!(message, "unsupported format");
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    assert!(!err.is_retryable());
}

#[test]
fn invalid_modules_are_refused_at_load() {
    let rt = runtime();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", b"this is not wasm at all".to_vec()),
        ("empty", Vec::new()),
        (
            "truncated",
            cdn_plugin_bundle::THUMBNAIL[..cdn_plugin_bundle::THUMBNAIL.len() / 2].to_vec(),
        ),
        ("no _start", wasm(r#"(module (func (export "main")))"#)),
        (
            "unknown import",
            wasm(r#"(module (import "env" "launch_missiles" (func)) (func (export "_start")))"#),
        ),
    ];
    for (what, bytes) in cases {
        match rt.load(&bytes) {
            Err(RunError::InvalidModule(msg)) => assert!(!msg.is_empty(), "{what}"),
            Err(other) => panic!("{what}: expected InvalidModule, got {other:?}"),
            Ok(_) => panic!("{what}: loaded an invalid module"),
        }
    }
    assert_good_plugin_still_works(&rt);
}

#[test]
fn oversized_input_is_refused_before_running() {
    let rt = runtime();
    let plugin = rt.load(cdn_plugin_bundle::THUMBNAIL).expect("loads");
    let input = vec![0u8; (8 << 20) + 1];
    let err = plugin.run::<&str>(&[], &input).unwrap_err();
    assert!(matches!(err, RunError::InputTooLarge { .. }), "got {err:?}");
}

#[test]
fn the_sandbox_has_no_environment_and_no_files() {
    // A plugin that tries to read the environment count and open "/etc/passwd" via fd 3 (the
    // first preopen, if any) gets nothing: environ_sizes_get reports 0 variables and fd 3 is bad.
    let rt = runtime();
    let plugin = rt
        .load(&wasm(
            r#"(module
                 (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env (param i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
                 (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                 (memory (export "memory") 1)
                 (func (export "_start")
                   (drop (call $env (i32.const 0) (i32.const 4)))
                   (if (i32.ne (i32.load (i32.const 0)) (i32.const 0)) (then (call $exit (i32.const 10))))
                   ;; errno 8 = EBADF: no preopened directory at fd 3
                   (if (i32.ne (call $prestat (i32.const 3) (i32.const 8)) (i32.const 8))
                     (then (call $exit (i32.const 11))))))"#,
        ))
        .expect("loads");
    plugin
        .run::<&str>(&[], b"")
        .expect("no env vars and no preopens");
}

#[test]
fn a_module_that_asks_for_too_much_memory_up_front_hits_the_memory_limit() {
    let rt = runtime();
    // 2000 pages = 125 MiB of initial memory, over the 64 MiB limit.
    let result = rt
        .load(&wasm(
            r#"(module (memory (export "memory") 2000) (func (export "_start")))"#,
        ))
        .and_then(|plugin| plugin.run::<&str>(&[], b""));
    match result {
        Err(RunError::MemoryLimit { .. }) | Err(RunError::InvalidModule(_)) => {}
        other => panic!("expected a memory limit, got {other:?}"),
    }
    assert_good_plugin_still_works(&rt);
}

#[test]
fn many_calls_at_once_all_succeed() {
    // More threads than cores, each calling repeatedly: instances come and go from the pool.
    let rt = runtime();
    let plugin = rt.load(cdn_plugin_bundle::THUMBNAIL).expect("loads");
    let jpeg = sample_jpeg();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..5 {
                    let out = plugin.run(&["--width", "32"], &jpeg).expect("thumbnail");
                    assert!(out.starts_with(&[0xFF, 0xD8]));
                }
            });
        }
    });
}
