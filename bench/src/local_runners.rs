//! `cdn-local` on the same `setup` folders: 1 thread, `threads -j 2`, `processes -j 2`, and the
//! scaling ratio. Runs the real binary (built beside this one) with `--force --json`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn report(scratch: &Path, images_per_dir: usize, runs: usize) -> Result<()> {
    let Some(exe) = sibling_binary("cdn-local") else {
        println!("(local runners skipped: build `cdn-local` first, e.g. `cargo xtask build`)\n");
        return Ok(());
    };
    let dirs = [scratch.join("node_a"), scratch.join("node_b")];
    let status = Command::new(&exe)
        .arg("setup")
        .arg("--dirs")
        .args(&dirs)
        .args(["--count", &images_per_dir.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running cdn-local setup")?;
    if !status.success() {
        bail!("cdn-local setup failed: {status}");
    }

    let modes: [(&str, &str, &str); 3] = [
        ("threads -j 1", "threads", "1"),
        ("threads -j 2", "threads", "2"),
        ("processes -j 2", "processes", "2"),
    ];
    let mut figures = Vec::new();
    for (label, mode, jobs) in modes {
        let mut rates = Vec::new();
        for _ in 0..runs.max(1) {
            rates.push(run_once(&exe, mode, jobs, &dirs)?);
        }
        rates.sort_by(f64::total_cmp);
        figures.push((label, rates[rates.len() / 2]));
    }
    let base = figures[0].1;
    let rows: Vec<Vec<String>> = figures
        .iter()
        .map(|(label, rate)| {
            vec![
                label.to_string(),
                format!("{rate:.1}"),
                format!("{:.2}x", rate / base),
            ]
        })
        .collect();
    crate::table::print(
        &format!(
            "Local runners ({} images of the default `setup` size; target: -j 2 >= 1.8x of -j 1)",
            2 * images_per_dir
        ),
        &["mode", "images/s", "vs 1 thread"],
        &rows,
    );
    Ok(())
}

fn run_once(exe: &Path, mode: &str, jobs: &str, dirs: &[PathBuf]) -> Result<f64> {
    let out = Command::new(exe)
        .args([mode, "-j", jobs, "--force", "--json"])
        .args(dirs)
        .output()
        .with_context(|| format!("running cdn-local {mode}"))?;
    if !out.status.success() {
        bail!(
            "cdn-local {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cdn-local --json printed no JSON")?;
    summary["images_per_second"]
        .as_f64()
        .context("cdn-local --json has no images_per_second")
}

/// A binary built into the same folder as this one (target/release).
fn sibling_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    path.is_file().then_some(path)
}
