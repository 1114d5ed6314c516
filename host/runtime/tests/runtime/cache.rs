//! The compile cache: the same bytes compile once (in memory, and across restarts via disk);
//! different bytes get a different hash.

use crate::tiny;
use cdn_runtime::{ContentHash, Limits, Runtime};
use std::sync::Arc;

#[test]
fn same_bytes_compile_once_and_different_bytes_differ() {
    let rt = Runtime::with_cache_dir(Limits::default(), None).expect("runtime");
    let a = rt.load(&tiny::A).expect("load");
    let b = rt.load(&tiny::A).expect("load again");
    assert!(Arc::ptr_eq(&a, &b), "the second load is the cached plugin");
    assert_eq!(rt.stats().compiled, 1);
    assert_eq!(rt.stats().memory_hits, 1);
    assert_eq!(a.hash(), ContentHash::of(&tiny::A[..]));

    let other = rt.load(&tiny::B).expect("load B");
    assert_ne!(other.hash(), a.hash());
    assert_eq!(rt.stats().compiled, 2);
}

#[test]
fn concurrent_loads_of_the_same_bytes_compile_once() {
    let rt = Runtime::with_cache_dir(Limits::default(), None).expect("runtime");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| rt.load(&tiny::B).expect("load"));
        }
    });
    assert_eq!(rt.stats().compiled, 1);
    assert_eq!(rt.stats().memory_hits, 3);
}

#[test]
fn a_restart_loads_compiled_code_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Runtime::with_cache_dir(Limits::default(), Some(dir.path().to_path_buf()))
        .expect("runtime");
    first.load(&tiny::B).expect("load");
    assert_eq!(first.stats().compiled, 1);
    drop(first);

    let second = Runtime::with_cache_dir(Limits::default(), Some(dir.path().to_path_buf()))
        .expect("runtime");
    let plugin = second.load(&tiny::B).expect("load from disk");
    assert_eq!(
        second.stats().compiled,
        0,
        "nothing compiled after the restart"
    );
    assert_eq!(second.stats().loaded_from_disk, 1);
    // ...and the module loaded from disk really runs.
    let png = cdn_samples::png(
        &cdn_samples::photo(600, 400, 2).to_rgba(),
        &Default::default(),
    )
    .expect("encode a sample PNG");
    let out = plugin.run::<&str>(&[], &png).expect("runs");
    assert!(!out.is_empty());

    // A damaged cache file is ignored and replaced, not fatal.
    for entry in std::fs::read_dir(dir.path()).expect("read cache dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            std::fs::write(&path, b"garbage").expect("damage the cache file");
        }
    }
    let third = Runtime::with_cache_dir(Limits::default(), Some(dir.path().to_path_buf()))
        .expect("runtime");
    third.load(&tiny::B).expect("load despite damaged cache");
    assert_eq!(third.stats().compiled, 1);
}
