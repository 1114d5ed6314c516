//! The shared image folders (`cdn-local setup`), and `cdn-local` on them: `threads -j 1`,
//! `threads -j 2`, `processes -j 2`. Runs the real binary (built beside this one) with
//! `--force --json`.

use crate::measure::median_of;
use crate::procs::{run_bounded, sibling_binary};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `cdn-local setup`'s default image size.
pub const IMAGE_SIZE: &str = "2000x1500";

/// The folders every throughput figure works on.
pub struct Corpus {
    pub dirs: Vec<PathBuf>,
    pub per_dir: usize,
    exe: PathBuf,
}

impl Corpus {
    /// Makes `per_dir` JPEGs in each of two folders under `scratch` (`node_a`, `node_b`), or
    /// `None` when `cdn-local` is not built.
    pub fn setup(scratch: &Path, per_dir: usize) -> Result<Option<Corpus>> {
        let Some(exe) = sibling_binary("cdn-local") else {
            return Ok(None);
        };
        let dirs = vec![scratch.join("node_a"), scratch.join("node_b")];
        let mut setup = Command::new(&exe);
        setup.arg("setup").arg("--dirs").args(&dirs).args([
            "--count",
            &per_dir.to_string(),
            "--size",
            IMAGE_SIZE,
        ]);
        let out = run_bounded(setup, Duration::from_secs(600))?;
        if !out.status.success() {
            bail!(
                "cdn-local setup failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Some(Corpus { dirs, per_dir, exe }))
    }

    pub fn images(&self) -> usize {
        self.dirs.len() * self.per_dir
    }

    /// Every source image: `setup` names them `img_100.jpg`, `img_200.jpg`, ...
    pub fn files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .flat_map(|dir| {
                (1..=self.per_dir).map(move |i| dir.join(format!("img_{}.jpg", i * 100)))
            })
            .collect()
    }
}

/// Images per second (medians) of each local mode.
pub struct LocalFigures {
    pub threads_1: f64,
    pub threads_2: f64,
    pub processes_2: f64,
}

pub fn measure(corpus: &Corpus, runs: usize) -> Result<LocalFigures> {
    let rate = |mode: &str, jobs: &str| -> Result<f64> {
        let rates = (0..runs.max(1))
            .map(|_| run_once(corpus, mode, jobs))
            .collect::<Result<Vec<_>>>()?;
        Ok(median_of(rates))
    };
    Ok(LocalFigures {
        threads_1: rate("threads", "1")?,
        threads_2: rate("threads", "2")?,
        processes_2: rate("processes", "2")?,
    })
}

fn run_once(corpus: &Corpus, mode: &str, jobs: &str) -> Result<f64> {
    let mut command = Command::new(&corpus.exe);
    command
        .args([mode, "-j", jobs, "--force", "--json"])
        .args(&corpus.dirs);
    let out = run_bounded(command, Duration::from_secs(600))?;
    if !out.status.success() {
        bail!(
            "cdn-local {mode} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("cdn-local {mode} --json printed no JSON"))?;
    let done = summary["done"].as_u64().unwrap_or(0);
    if done != corpus.images() as u64 {
        bail!(
            "cdn-local {mode} made {done} of {} thumbnails: {summary}",
            corpus.images()
        );
    }
    summary["images_per_second"]
        .as_f64()
        .context("cdn-local --json has no images_per_second")
}
