//! Builds every plugin in `plugins/` for `wasm32-wasip1` and copies the `.wasm` files into
//! `OUT_DIR`, so that `src/lib.rs` can embed them. The binaries therefore carry their default
//! plugin: a user never has to know where cargo put it.
//!
//! The nested cargo uses its own target dir (`target/plugins`) so it never waits on the lock of
//! the build that runs this script.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, wasm file name) of every plugin this crate embeds.
const PLUGINS: &[(&str, &str)] = &[("thumbnail", "thumbnail.wasm"), ("stamp", "stamp.wasm")];
const TARGET: &str = "wasm32-wasip1";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("host/plugin-bundle sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = workspace.join("target").join("plugins");

    for dir in ["plugins", "samples"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    for file in ["Cargo.lock", "Cargo.toml", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(file).display());
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--profile",
            "plugin",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for (package, _) in PLUGINS {
        cmd.args(["--package", package]);
    }
    // Do not leak the outer build's settings (host flags, clippy wrappers, cfgs) into the
    // wasm build; the jobserver (CARGO_MAKEFLAGS) is kept so both share the same cores.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("could not run cargo to build the wasm plugins");
    if !status.success() {
        panic!(
            "building the plugins for {TARGET} failed (see the output above). If the target is \
             missing, run `rustup target add {TARGET}` (`cargo xtask test` does it for you)."
        );
    }

    for (_, file) in PLUGINS {
        let built = target_dir.join(TARGET).join("plugin").join(file);
        std::fs::copy(&built, out_dir.join(file))
            .unwrap_or_else(|e| panic!("copying {} into OUT_DIR: {e}", built.display()));
    }
}
