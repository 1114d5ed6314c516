//! The benchmark report: Markdown, printed as it grows (the run is long) and written to
//! `target/bench/report.md` at the end; tables, and verdicts against targets.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One target's outcome, for the summary at the end.
pub struct Outcome {
    pub target: String,
    pub measured: String,
    /// How much of the target was reached: >= 1 meets it.
    pub of_target: Option<f64>,
}

#[derive(Default)]
pub struct Report {
    text: String,
    outcomes: Vec<Outcome>,
}

impl Report {
    /// Adds a paragraph (printed at once).
    pub fn para(&mut self, text: &str) {
        self.push(&format!("{text}\n\n"));
    }

    /// Adds a `##` section heading.
    pub fn section(&mut self, title: &str) {
        self.push(&format!("## {title}\n\n"));
    }

    /// Adds a table.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut t = format!(
            "| {} |\n|{}\n",
            header.join(" | "),
            " --- |".repeat(header.len())
        );
        for row in rows {
            t.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        t.push('\n');
        self.push(&t);
    }

    /// Records a target's outcome for the summary.
    pub fn outcome(&mut self, target: &str, measured: String, of_target: Option<f64>) {
        self.outcomes.push(Outcome {
            target: target.into(),
            measured,
            of_target,
        });
    }

    /// Adds the summary table of every recorded target.
    pub fn summary(&mut self) {
        if self.outcomes.is_empty() {
            return;
        }
        let rows: Vec<Vec<String>> = self
            .outcomes
            .iter()
            .map(|o| {
                vec![
                    o.target.clone(),
                    o.measured.clone(),
                    o.of_target.map_or("-".into(), times),
                    o.of_target.map_or("not measured".into(), verdict),
                ]
            })
            .collect();
        self.section("Against the targets");
        self.table(&["target", "measured", "x of target", "verdict"], &rows);
    }

    fn push(&mut self, text: &str) {
        print!("{text}");
        let _ = std::io::stdout().flush();
        self.text.push_str(text);
    }

    /// Writes the report to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, &self.text).with_context(|| format!("writing {}", path.display()))
    }
}

/// `target/bench/report.md` of the workspace this binary was built in
/// (`.../target/release/cdn-bench` -> `.../target/bench/report.md`).
pub fn default_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the path of cdn-bench")?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not inside a target folder", exe.display()))?;
    Ok(target.join("bench").join("report.md"))
}

/// A ratio as `0.93x`.
pub fn times(x: f64) -> String {
    format!("{x:.2}x")
}

/// `meets` when `of_target >= 1`, else `short by N%`.
pub fn verdict(of_target: f64) -> String {
    if of_target >= 1.0 {
        "meets".into()
    } else if of_target > 0.99 {
        "short by <1%".into()
    } else {
        format!("short by {:.0}%", (1.0 - of_target) * 100.0)
    }
}
