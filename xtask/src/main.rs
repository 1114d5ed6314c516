//! `cargo xtask`: the project's commands, so that a fresh clone needs nothing but rustup/cargo.
//!
//! - `cargo xtask demo`  builds everything, then runs master + two workers + client on sample
//!   photos, and the same photos through the local runners (`demo.rs`).
//! - `cargo xtask test`  installs the wasm target if missing, builds every plugin, runs all tests.
//! - `cargo xtask lint`  `cargo fmt --check` and clippy with warnings denied.
//! - `cargo xtask bench` builds in release and prints the benchmark figures.
//! - `cargo xtask build` builds the plugins and the binaries in release.

mod demo;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip1";

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "imagecdn's build, test and benchmark commands"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build everything, then show the networked mode and the local runners on sample photos
    /// (in target/demo; every process stopped at the end, also on Ctrl-C).
    Demo {
        /// Use the binaries already in target/release.
        #[arg(long)]
        no_build: bool,
    },
    /// Install the wasm target if missing, build every plugin, run the whole test suite.
    Test {
        /// Extra arguments passed to `cargo test` (e.g. a test name filter after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check formatting and run clippy on every target with warnings denied.
    Lint,
    /// Build in release and print the benchmark figures.
    Bench {
        /// Extra arguments for the benchmark binary (see `--help` there).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the plugins and all binaries in release (into target/release).
    Build,
}

fn main() -> std::process::ExitCode {
    match xtask(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn xtask(cli: Cli) -> Result<()> {
    let root = workspace_root()?;
    std::env::set_current_dir(&root).with_context(|| format!("cd {}", root.display()))?;
    match cli.command {
        Cmd::Demo { no_build } => {
            if !no_build {
                build_plugins()?;
                run(&mut cargo(&["build", "--release", "--workspace", "--bins"]))?;
            }
            demo::run(&root)
        }
        Cmd::Test { args } => {
            ensure_wasm_target()?;
            // Everything in one build: every binary (the end-to-end tests of one crate run the
            // binaries of others, found beside their own: `cdn-host`'s tests run `cdn`), every
            // test target and the examples. The plugins are built inside it (by
            // `cdn-plugin-bundle`'s build.rs, sharing cargo's jobs), so while the single-unit
            // LTO of the wasm plugins runs, the other core compiles the rest.
            run(&mut cargo(&[
                "build",
                "--release",
                "--workspace",
                "--bins",
                "--tests",
                "--examples",
            ]))?;
            let mut cmd = cargo(&["test", "--release", "--workspace"]);
            cmd.args(&args);
            run(&mut cmd)
        }
        Cmd::Lint => {
            ensure_wasm_target()?;
            ensure_components(&["rustfmt", "clippy"])?;
            run(&mut cargo(&["fmt", "--all", "--check"]))?;
            run(&mut cargo(&[
                "clippy",
                "--release",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        }
        Cmd::Bench { args } => {
            build_plugins()?;
            // All binaries: the benchmark also runs `cdn-local` (found beside `cdn-bench`).
            run(&mut cargo(&["build", "--release", "--workspace", "--bins"]))?;
            let mut cmd = Command::new(root.join("target/release/cdn-bench"));
            cmd.args(&args);
            run(&mut cmd)
        }
        Cmd::Build => {
            build_plugins()?;
            run(&mut cargo(&["build", "--release", "--workspace", "--bins"]))?;
            println!("binaries are in {}", root.join("target/release").display());
            Ok(())
        }
    }
}

/// Installs the wasm target (if needed) and builds every plugin: building `cdn-plugin-bundle`
/// runs its build.rs, the one place that knows how plugins are built (into
/// `target/plugins/wasm32-wasip1/plugin/`).
fn build_plugins() -> Result<()> {
    ensure_wasm_target()?;
    run(&mut cargo(&[
        "build",
        "--release",
        "--package",
        "cdn-plugin-bundle",
    ]))
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running `rustup target list --installed` (is rustup installed?)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("xtask: installing the {WASM_TARGET} target with rustup");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Installs rustup components (rustfmt, clippy) that a minimal toolchain may lack.
fn ensure_components(components: &[&str]) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .context("running `rustup component list --installed` (is rustup installed?)")?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    for component in components {
        if !installed
            .lines()
            .any(|l| l.starts_with(&format!("{component}-")))
        {
            run(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args);
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives one level below the workspace root")
}
