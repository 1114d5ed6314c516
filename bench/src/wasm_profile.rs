//! Section 1c (`--profile-wasm`): where the plugin spends its time inside wasm. The plugin runs
//! in a wasmtime engine of its own with perf's JIT map on (`ProfilingStrategy::PerfMap`, so
//! `perf report` names the wasm functions), under `perf record` attached to this process; the
//! table lists the functions with the most samples (self time). Also for a second plugin
//! (`--profile-baseline FILE.wasm`, e.g. the plugin of an earlier commit), to compare before
//! and after. Needs `perf` (Debian: `linux-perf`); says so when it is missing.

use crate::inputs::Input;
use crate::perf;
use crate::report::Report;
use crate::tools;
use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use wasmtime::{Config, Engine, InstancePre, Linker, Module, ProfilingStrategy, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;

const ARGS: [&str; 7] = [
    "thumbnail",
    "--width",
    "256",
    "--height",
    "256",
    "--quality",
    "80",
];

/// Functions listed per profile.
const TOP: usize = 12;

pub fn report(
    out: &mut Report,
    scratch: &Path,
    inputs: &[Input],
    baseline: Option<&Path>,
    current: Option<&Path>,
) -> Result<()> {
    out.section("1c. Inside the wasm plugin: top functions (perf, self time)");
    if !tools::on_path("perf") {
        out.para("Not measured: `perf` is not installed (Debian: `apt-get install linux-perf`).");
        return Ok(());
    }
    let input = inputs
        .iter()
        .find(|i| i.path.ends_with("big.jpg"))
        .context("the corpus has no big.jpg")?;
    let read =
        |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let mut plugins = vec![(
        "this build",
        match current {
            Some(path) => read(path)?,
            None => cdn_plugin_bundle::THUMBNAIL.to_vec(),
        },
    )];
    if let Some(path) = baseline {
        plugins.insert(0, ("baseline", read(path)?));
    }
    let mut timings = Vec::new();
    for (name, wasm) in &plugins {
        let (rows, times) = profile(scratch, wasm, &input.bytes, inputs)
            .with_context(|| format!("profiling the {name} plugin"))?;
        out.para(&format!(
            "**{name}** plugin, {} to a 256 box (JPEG q80), 20 runs:",
            input.label
        ));
        out.table(&["share of samples", "function"], &rows);
        let mut row = vec![name.to_string()];
        row.extend(times);
        timings.push(row);
    }
    let mut header = vec!["plugin (same engine, same run)"];
    header.extend(inputs.iter().map(|i| i.label.as_str()));
    out.para("Median ms per call of each plugin in that engine, interleaved in the same run:");
    out.table(&header, &timings);
    out.para(
        "perf record at 1999 Hz on this process while the plugin runs in a wasmtime engine \
         with `ProfilingStrategy::PerfMap` (cranelift, simd on, no epochs); shares are of all \
         samples of the process, the wasmtime runtime included.",
    );
    Ok(())
}

/// Runs `wasm` 20 times on `input` under perf and returns the top functions, and the median
/// time of 7 calls on each of `all`.
fn profile(
    scratch: &Path,
    wasm: &[u8],
    input: &[u8],
    all: &[Input],
) -> Result<(Vec<Vec<String>>, Vec<String>)> {
    let mut config = Config::new();
    config.profiler(ProfilingStrategy::PerfMap);
    config.wasm_simd(true);
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, wasm)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |t| t)?;
    let pre = linker.instantiate_pre(&module)?;
    let run_on = |input: &[u8]| run_start(&engine, &pre, &ARGS, input, None);
    let run = || run_on(input);
    run()?; // compiles and warms up
    let mut times = Vec::new();
    for other in all {
        run_on(&other.bytes)?;
        let mut t = Vec::new();
        for _ in 0..7 {
            let start = std::time::Instant::now();
            run_on(&other.bytes)?;
            t.push(start.elapsed());
        }
        t.sort();
        times.push(crate::measure::ms(t[3]));
    }
    let recording =
        perf::Recording::start(std::process::id(), 1999, &scratch.join("wasm-profile.data"))?;
    let result = (0..20).try_for_each(|_| run());
    let data = recording.stop()?;
    result?;
    let rows = perf::top(&data, "symbol", TOP)?
        .into_iter()
        .map(|r| {
            vec![
                format!("{:.1}%", r.share),
                format!("`{}`", r.what.join(" ")),
            ]
        })
        .collect();
    Ok((rows, times))
}

/// Runs the plugin once in a fresh store (`_start` with `argv`, argv[0] included; exit 0 is
/// success) on `input`, with an epoch deadline when the engine counts epochs. An error when the
/// plugin failed or wrote no thumbnail.
pub(crate) fn run_start(
    engine: &Engine,
    pre: &InstancePre<WasiP1Ctx>,
    argv: &[&str],
    input: &[u8],
    epoch_deadline: Option<u64>,
) -> Result<()> {
    let stdout = MemoryOutputPipe::new(64 << 20);
    let wasi = WasiCtxBuilder::new()
        .args(argv)
        .stdin(MemoryInputPipe::new(input.to_vec()))
        .stdout(stdout.clone())
        .build_p1();
    let mut store = Store::new(engine, wasi);
    if let Some(deadline) = epoch_deadline {
        store.set_epoch_deadline(deadline);
    }
    let instance = pre.instantiate(&mut store)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    if let Err(e) = start.call(&mut store, ()) {
        match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => {}
            _ => bail!("the plugin failed: {e:#}"),
        }
    }
    ensure!(
        !stdout.contents().is_empty(),
        "the plugin wrote no thumbnail"
    );
    Ok(())
}
