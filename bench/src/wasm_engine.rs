//! Section 1d (`--profile-wasm`): what the engine's settings cost. The same plugin on the same
//! inputs in engines that differ by one setting at a time (the on-demand allocator without
//! epochs; with epoch interruption; the pooling allocator as the runtime sets it up, with 16 MiB
//! of each memory kept resident and reset by memset, or none), and through `cdn_runtime` itself
//! (what the per-image table measures): where the wasm tax comes from, measured, not guessed.

use crate::inputs::Input;
use crate::measure::{ms, try_median};
use crate::report::Report;
use crate::wasm_profile::run_start;
use anyhow::Result;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig,
};
use wasmtime_wasi::p1::WasiP1Ctx;

const ARGS: [&str; 6] = ["--width", "256", "--height", "256", "--quality", "80"];

/// One engine to try.
struct Variant {
    name: &'static str,
    epochs: bool,
    /// `Some(bytes kept resident)`: the pooling allocator.
    pooling: Option<usize>,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "on-demand allocator, no epochs",
        epochs: false,
        pooling: None,
    },
    Variant {
        name: "on-demand allocator, epochs",
        epochs: true,
        pooling: None,
    },
    Variant {
        name: "pooling (16 MiB kept resident), epochs",
        epochs: true,
        pooling: Some(16 << 20),
    },
    Variant {
        name: "pooling (nothing kept resident), epochs",
        epochs: true,
        pooling: Some(0),
    },
];

pub fn report(out: &mut Report, inputs: &[Input], runs: usize) -> Result<()> {
    out.section("1d. What the engine's settings cost (same plugin, same run)");
    let wasm = cdn_plugin_bundle::THUMBNAIL;
    let mut rows = Vec::new();
    let argv: Vec<&str> = std::iter::once("thumbnail").chain(ARGS).collect();
    for variant in &VARIANTS {
        let mut row = vec![variant.name.to_string()];
        let engine = engine(variant)?;
        let module = Module::new(&engine, wasm)?;
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |t| t)?;
        let pre = linker.instantiate_pre(&module)?;
        for input in inputs {
            let deadline = variant.epochs.then_some(1 << 40);
            let t = try_median(runs, || {
                run_start(&engine, &pre, &argv, &input.bytes, deadline)
            })?;
            row.push(ms(t));
        }
        rows.push(row);
    }
    let runtime = cdn_runtime::Runtime::with_cache_dir(cdn_runtime::Limits::default(), None)?;
    let plugin = runtime.load(wasm)?;
    let mut row = vec!["cdn_runtime (as the per-image table)".to_string()];
    for input in inputs {
        let t = try_median(runs, || {
            plugin.run(&ARGS, &input.bytes)?;
            Ok(())
        })?;
        row.push(ms(t));
    }
    rows.push(row);
    let mut header = vec!["engine"];
    header.extend(inputs.iter().map(|i| i.label.as_str()));
    out.table(&header, &rows);
    out.para(&format!(
        "Median ms of {runs} calls each (after one warm-up), a fresh instance per call, cranelift \
         at its default (speed) optimisation with simd on."
    ));
    Ok(())
}

fn engine(variant: &Variant) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_simd(true);
    config.epoch_interruption(variant.epochs);
    if let Some(keep) = variant.pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_memories(8)
            .total_tables(8)
            .total_core_instances(8)
            .max_memory_size(512 << 20)
            .linear_memory_keep_resident(keep);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(Engine::new(&config)?)
}
