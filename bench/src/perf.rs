//! `perf` as the bench uses it: record one process at a fixed rate while something runs, then
//! read back the functions with the most samples (self time). Used for the wasm plugin (1c) and
//! for the master under the control-plane load (3). Needs `perf` (Debian: `linux-perf`); the
//! callers say so when it is missing.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `perf record` attached to one process until [`Recording::stop`].
pub struct Recording {
    perf: Child,
    data: PathBuf,
}

impl Recording {
    /// Starts sampling `pid` at `hz` into `data`, and waits a moment for perf to attach.
    pub fn start(pid: u32, hz: u32, data: &Path) -> Result<Recording> {
        let perf = Command::new("perf")
            .args(["record", "-F", &hz.to_string(), "-o"])
            .arg(data)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting perf record")?;
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(Recording {
            perf,
            data: data.to_path_buf(),
        })
    }

    /// Stops the recording (SIGINT, so perf writes its file) and returns where it is.
    pub fn stop(mut self) -> Result<PathBuf> {
        let _ = Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status();
        self.perf.wait().context("waiting for perf record")?;
        Ok(self.data)
    }
}

/// One line of a profile: a share of all samples and what it is (`sort` keys, in order).
pub struct Row {
    pub share: f64,
    pub what: Vec<String>,
}

/// The `top` rows of `perf report` on `data` by self time, sorted by `sort` (e.g. `"symbol"`,
/// `"dso,symbol"`); symbols lose their hash suffix and long generic paths.
pub fn top(data: &Path, sort: &str, top: usize) -> Result<Vec<Row>> {
    let report = Command::new("perf")
        .args(["report", "--stdio", "--no-children", "--sort", sort, "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .context("running perf report")?;
    if !report.status.success() {
        bail!("perf report failed: {}", report.status);
    }
    let keys = sort.split(',').count();
    let text = String::from_utf8_lossy(&report.stdout);
    let rows: Vec<Row> = text
        .lines()
        .filter_map(|line| parse_row(line, keys))
        .take(top)
        .collect();
    ensure!(!rows.is_empty(), "perf recorded no samples");
    Ok(rows)
}

/// `"  12.34%  dso  [.] symbol"` with `keys` sort keys; the symbol key keeps its `[.]`/`[k]`
/// marker off. `None` for headers and blank lines.
fn parse_row(line: &str, keys: usize) -> Option<Row> {
    let (share, rest) = line.trim().split_once('%')?;
    let share: f64 = share.trim().parse().ok()?;
    let mut rest = rest.trim();
    let mut what = Vec::with_capacity(keys);
    for _ in 1..keys {
        let (key, tail) = rest.split_once(char::is_whitespace)?;
        what.push(key.to_string());
        rest = tail.trim_start();
    }
    // The symbol: "[.] name" (user) or "[k] name" (kernel); keep the marker's meaning short.
    let symbol = match rest.split_once(' ') {
        Some((marker, name)) if marker.starts_with('[') => {
            let name = name.trim();
            let name = name.split("  ").next().unwrap_or(name);
            if marker == "[k]" {
                format!("{} (kernel)", short(name))
            } else {
                short(name)
            }
        }
        _ => short(rest),
    };
    what.push(symbol);
    Some(Row { share, what })
}

/// A symbol without its hash suffix and with long generic paths cut.
pub fn short(symbol: &str) -> String {
    let s = symbol.split("::h").next().unwrap_or(symbol);
    if s.len() > 110 {
        let mut end = 110;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_with_one_or_two_keys() {
        let r = parse_row("    30.12%  [.] decode::decode::h0123456789abcdef", 1).unwrap();
        assert_eq!(r.share, 30.12);
        assert_eq!(r.what, ["decode::decode"]);
        let r = parse_row("     4.50%  [kernel.kallsyms]  [k] find_inode_bit", 2).unwrap();
        assert_eq!(r.what, ["[kernel.kallsyms]", "find_inode_bit (kernel)"]);
        assert!(parse_row("# Overhead  Symbol", 1).is_none());
        assert!(parse_row("", 2).is_none());
    }
}
