//! [`Plugin`]: one compiled, pre-linked plugin, and the sandboxed call that runs it.

use crate::error::RunError;
use crate::hash::PluginHash;
use crate::runtime::{Shared, EPOCH_TICK};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// The data of one call's `Store`: the WASI context (pipes only) and its resource limits.
struct CallState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// A compiled plugin, ready to instantiate. Cheap to share across threads.
pub struct Plugin {
    shared: Arc<Shared>,
    hash: PluginHash,
    pre: InstancePre<CallState>,
}

/// The outcome of a successful call, with its timing.
#[derive(Debug, Clone)]
pub struct Run {
    /// What the plugin wrote to stdout.
    pub output: Vec<u8>,
    /// Whatever it wrote to stderr even though it succeeded (usually empty).
    pub stderr: String,
    /// Wall time from instantiation to exit.
    pub elapsed: Duration,
}

impl Plugin {
    pub(crate) fn new(
        shared: Arc<Shared>,
        hash: PluginHash,
        module: Module,
    ) -> Result<Self, RunError> {
        if module.get_export("_start").is_none() {
            return Err(RunError::InvalidModule(
                "no `_start` export: a plugin must be a wasm32-wasip1 command (a binary with `fn main`)"
                    .into(),
            ));
        }
        let mut linker: Linker<CallState> = Linker::new(&shared.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut CallState| &mut state.wasi)
            .map_err(|e| RunError::Host(format!("cannot link WASI: {e:#}")))?;
        // Imports beyond WASI preview 1 cannot be satisfied: say so now, not at the first call.
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| RunError::InvalidModule(format!("{e:#}")))?;
        Ok(Plugin { shared, hash, pre })
    }

    /// The SHA-256 of the plugin's bytes: its identity.
    pub fn hash(&self) -> PluginHash {
        self.hash
    }

    /// Runs the plugin once on `input` with `args` (without argv\[0\]) and returns its stdout.
    pub fn run<S: AsRef<str>>(&self, args: &[S], input: &[u8]) -> Result<Vec<u8>, RunError> {
        self.run_detailed(args, input).map(|run| run.output)
    }

    /// Like [`Plugin::run`], with the stderr of a successful run and the elapsed time.
    pub fn run_detailed<S: AsRef<str>>(&self, args: &[S], input: &[u8]) -> Result<Run, RunError> {
        let limits = self.shared.limits;
        if input.len() > limits.input_bytes {
            return Err(RunError::InputTooLarge {
                size: input.len(),
                limit: limits.input_bytes,
            });
        }
        let started = Instant::now();
        // One byte of headroom over each cap: a pipe holding more than its cap proves the plugin
        // tried to write too much, however it then ended (trap, EPIPE loop, exit).
        let stdout = MemoryOutputPipe::new(limits.output_bytes + 1);
        let stderr = MemoryOutputPipe::new(limits.stderr_bytes + 1);
        let mut argv: Vec<&str> = Vec::with_capacity(args.len() + 1);
        argv.push("plugin");
        argv.extend(args.iter().map(AsRef::as_ref));
        // A fresh context per call: arguments and pipes only. No environment, no preopened
        // directories, no inherited stdio, no sockets.
        let wasi = WasiCtxBuilder::new()
            .args(&argv)
            .stdin(MemoryInputPipe::new(input.to_vec()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(true)
            .instances(1)
            .memories(1)
            .tables(4)
            .build();
        let mut store = Store::new(
            &self.shared.engine,
            CallState {
                wasi,
                limits: store_limits,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(limits.time));
        store.epoch_deadline_trap();

        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| instantiate_failure(&e, &limits))?;
        let outcome = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .and_then(|start| start.call(&mut store, ()));
        drop(store);
        let elapsed = started.elapsed();
        if stdout.contents().len() > limits.output_bytes {
            return Err(RunError::OutputTooLarge {
                stream: "stdout",
                limit: limits.output_bytes,
            });
        }
        if stderr.contents().len() > limits.stderr_bytes {
            return Err(RunError::OutputTooLarge {
                stream: "stderr",
                limit: limits.stderr_bytes,
            });
        }
        let stderr_text = String::from_utf8_lossy(&stderr.contents()).into_owned();
        match outcome {
            Ok(()) => Ok(self.finish(stdout, stderr_text, elapsed)),
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => Ok(self.finish(stdout, stderr_text, elapsed)),
                Some(I32Exit(code)) => Err(RunError::Plugin {
                    exit_code: *code,
                    message: one_line(&stderr_text)
                        .unwrap_or_else(|| "the plugin failed without a message".into()),
                }),
                None => Err(classify_failure(&error, &limits, stderr_text)),
            },
        }
    }

    fn finish(&self, stdout: MemoryOutputPipe, stderr: String, elapsed: Duration) -> Run {
        Run {
            output: stdout.contents().to_vec(),
            stderr,
            elapsed,
        }
    }
}

/// Turns a failed call that was not an `exit(n)` (and did not overflow a pipe) into the error
/// that says which limit or fault.
fn classify_failure(error: &wasmtime::Error, limits: &crate::Limits, stderr: String) -> RunError {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => RunError::TimeLimit { limit: limits.time },
            other => RunError::Trap {
                trap: other.to_string(),
                stderr,
            },
        };
    }
    // A memory.grow refused by `StoreLimits` (with trap_on_grow_failure) is a plain error, not
    // a `Trap` variant: recognise it by its message.
    let chain = format!("{error:#}");
    if chain.contains("forcing trap when growing memory") {
        return RunError::MemoryLimit {
            limit: limits.memory_bytes,
        };
    }
    RunError::Trap {
        trap: chain,
        stderr,
    }
}

/// Instantiation failed before the plugin ran: its declared memory is over the limit, or the
/// host is out of instance slots or memory (not the plugin's fault: retryable).
fn instantiate_failure(error: &wasmtime::Error, limits: &crate::Limits) -> RunError {
    let chain = format!("{error:#}");
    if chain.contains("forcing trap when growing memory") || chain.contains("memory minimum size") {
        return RunError::MemoryLimit {
            limit: limits.memory_bytes,
        };
    }
    RunError::Host(format!("cannot instantiate the plugin: {chain}"))
}

/// The first non-empty line of a plugin's stderr, trimmed and bounded.
fn one_line(stderr: &str) -> Option<String> {
    let line = stderr.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(500).collect())
}

/// Epoch ticks until the deadline, rounding up and allowing for the tick in progress.
fn deadline_ticks(limit: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    (limit.as_nanos().div_ceil(tick) as u64).saturating_add(1)
}
