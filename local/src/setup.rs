//! `cdn-local setup`: the seed's sample folders, with real photo-like JPEGs.
//!
//! Folder `k` (0-based) gets `img_100.jpg`, `img_200.jpg`, ... `img_<count*100>.jpg`; image `i`
//! of folder `k` is `cdn_samples::photo(w, h, seed')` with `seed'` derived from (`--seed`, k, i),
//! so every file differs and the same flags always make the same bytes. Images are made on all
//! CPUs. A file that already has exactly the bytes we would write is left untouched (its
//! thumbnail stays up to date); any other file of ours is replaced atomically; files with other
//! names are never touched.

use crate::cli::SetupArgs;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The file name of sample `i` (0-based): `img_100.jpg`, `img_200.jpg`, ...
pub fn sample_name(i: u32) -> String {
    format!("img_{}.jpg", (u64::from(i) + 1) * 100)
}

/// The content seed of sample `i` in folder `k`: distinct for every (seed, k, i).
fn image_seed(seed: u64, folder: usize, i: u32) -> u64 {
    // SplitMix64 finaliser over a simple combination: well spread, stable across versions.
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((folder as u64) << 32)
        .wrapping_add(u64::from(i));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Default)]
struct Counts {
    written: usize,
    unchanged: usize,
    bytes: u64,
}

pub fn run(args: &SetupArgs) -> Result<()> {
    let started = Instant::now();
    let (width, height) = args.size;
    let mut jobs_list: Vec<(usize, u32, PathBuf)> = Vec::new();
    for (k, dir) in args.dirs.iter().enumerate() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for i in 0..args.count {
            jobs_list.push((k, i, dir.join(sample_name(i))));
        }
    }
    let next = AtomicUsize::new(0);
    let counts = Mutex::new(Counts::default());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs_list.len())
        .max(1);
    let make = || -> Result<()> {
        loop {
            let Some((k, i, path)) = jobs_list.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            let image = cdn_samples::photo(width, height, image_seed(args.seed, *k, *i));
            let bytes = cdn_samples::jpeg(&image, args.quality, &Default::default())
                .with_context(|| format!("cannot encode {}", path.display()))?;
            let same = std::fs::read(path).is_ok_and(|old| old == bytes);
            if !same {
                cdn_common::write_atomic(path, &bytes)?;
            }
            let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
            if same {
                c.unchanged += 1;
            } else {
                c.written += 1;
            }
            c.bytes += bytes.len() as u64;
        }
    };
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(make)).collect();
        for handle in handles {
            match handle.join() {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(())
    })?;
    let c = counts.into_inner().unwrap_or_else(|e| e.into_inner());
    let total = c.written + c.unchanged;
    for dir in &args.dirs {
        println!(
            "{}: img_100.jpg .. {} ({} JPEGs of {width}x{height})",
            dir.display(),
            sample_name(args.count - 1),
            args.count
        );
    }
    println!(
        "{total} sample images ({:.1} MB, {} written, {} already up to date) in {:.1} s, seed {}",
        c.bytes as f64 / 1e6,
        c.written,
        c.unchanged,
        started.elapsed().as_secs_f64(),
        args.seed
    );
    println!(
        "next: cdn-local threads {}",
        args.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_seeds() {
        assert_eq!(sample_name(0), "img_100.jpg");
        assert_eq!(sample_name(9), "img_1000.jpg");
        let mut seeds: Vec<u64> = (0..3)
            .flat_map(|k| (0..50).map(move |i| image_seed(1, k, i)))
            .collect();
        assert_eq!(image_seed(1, 2, 7), image_seed(1, 2, 7));
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), 150, "every image gets its own content");
        assert_ne!(image_seed(1, 0, 0), image_seed(2, 0, 0));
    }
}
