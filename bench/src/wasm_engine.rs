//! Section 1d (`--profile-wasm`): what the engine's settings cost. The same plugin on the same
//! inputs in engines that differ by one setting at a time (the on-demand allocator without
//! epochs; with epoch interruption; the pooling allocator with some of each memory kept
//! resident and reset by memset, all of it or only the pages the call dirtied, or none), and
//! through `cdn_runtime` itself (what the per-image table measures): where the wasm tax comes
//! from, measured, not guessed. The variants take turns call by call, so a slow spell of the
//! machine falls on all of them alike.
use crate::inputs::Input;
use crate::measure::{median_time, ms};
use crate::report::Report;
use crate::wasm_profile::run_start;
use anyhow::Result;
use std::time::Instant;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig,
};
use wasmtime_wasi::p1::WasiP1Ctx;

const ARGS: [&str; 6] = ["--width", "256", "--height", "256", "--quality", "80"];

/// One engine to try.
struct Variant {
    name: &'static str,
    epochs: bool,
    /// `Some(bytes kept resident)`: the pooling allocator.
    pooling: Option<usize>,
    /// Reset only the pages a call dirtied (Linux's `PAGEMAP_SCAN`, where the kernel has it).
    pagemap: bool,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "on-demand allocator, no epochs",
        epochs: false,
        pooling: None,
        pagemap: false,
    },
    Variant {
        name: "on-demand allocator, epochs",
        epochs: true,
        pooling: None,
        pagemap: false,
    },
    Variant {
        name: "pooling (16 MiB kept resident), epochs",
        epochs: true,
        pooling: Some(16 << 20),
        pagemap: false,
    },
    Variant {
        name: "pooling (64 MiB kept resident), epochs",
        epochs: true,
        pooling: Some(64 << 20),
        pagemap: false,
    },
    Variant {
        name: "pooling (64 MiB kept resident, dirty pages reset), epochs",
        epochs: true,
        pooling: Some(64 << 20),
        pagemap: true,
    },
    Variant {
        name: "pooling (nothing kept resident), epochs",
        epochs: true,
        pooling: Some(0),
        pagemap: false,
    },
];

/// One way to call the plugin on an input.
type Call<'a> = Box<dyn Fn(&[u8]) -> Result<()> + 'a>;

pub fn report(out: &mut Report, inputs: &[Input], runs: usize) -> Result<()> {
    out.section("1d. What the engine's settings cost (same plugin, same run)");
    let wasm = cdn_plugin_bundle::THUMBNAIL;
    let argv: Vec<&str> = std::iter::once("thumbnail").chain(ARGS).collect();
    let mut calls: Vec<(String, Call)> = Vec::new();
    for variant in &VARIANTS {
        let engine = engine(variant)?;
        let module = Module::new(&engine, wasm)?;
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |t| t)?;
        let pre = linker.instantiate_pre(&module)?;
        let deadline = variant.epochs.then_some(1 << 40);
        let argv = argv.clone();
        let call: Call = Box::new(move |input| run_start(&engine, &pre, &argv, input, deadline));
        calls.push((variant.name.to_string(), call));
    }
    let runtime = cdn_runtime::Runtime::with_cache_dir(cdn_runtime::Limits::default(), None)?;
    let plugin = runtime.load(wasm)?;
    let call: Call = Box::new(move |input| {
        plugin.run(&ARGS, input)?;
        Ok(())
    });
    calls.push(("cdn_runtime (as the per-image table)".to_string(), call));
    // times[variant][input]: one call per variant in turn, round after round
    let mut times = vec![vec![Vec::with_capacity(runs); inputs.len()]; calls.len()];
    for round in 0..=runs.max(1) {
        for (i, input) in inputs.iter().enumerate() {
            for (v, (_, call)) in calls.iter().enumerate() {
                let start = Instant::now();
                call(&input.bytes)?;
                if round > 0 {
                    times[v][i].push(start.elapsed());
                }
            }
        }
    }
    let rows: Vec<Vec<String>> = calls
        .iter()
        .zip(times)
        .map(|((name, _), per_input)| {
            std::iter::once(name.clone())
                .chain(per_input.into_iter().map(|t| ms(median_time(t))))
                .collect()
        })
        .collect();
    let mut header = vec!["engine"];
    header.extend(inputs.iter().map(|i| i.label.as_str()));
    out.table(&header, &rows);
    out.para(&format!(
        "Median ms of {runs} calls each (after one warm-up round), a fresh instance per call, the \
         variants taking turns call by call; cranelift at its default (speed) optimisation with \
         simd on. The runtime uses the pooling allocator with {} MiB kept resident, resetting \
         only the pages a call dirtied where the kernel can say which.",
        cdn_runtime::KEEP_RESIDENT >> 20,
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
        if variant.pagemap {
            pool.pagemap_scan(Enabled::Auto);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(Engine::new(&config)?)
}
