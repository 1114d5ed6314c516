//! [`Plugin`]: one compiled, pre-linked plugin, and the sandboxed call that runs it.

use crate::error::RunError;
use crate::host_deadline::{bound_blocking_calls, CallDeadline};
use crate::limits::Limits;
use crate::runtime::{Ticker, EPOCH_TICK};
use cdn_common::ContentHash;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// The data of one call's `Store`: the WASI context (pipes only), its resource limits, and when
/// it must end (for host calls, which the epoch deadline does not reach).
struct CallState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    deadline: Instant,
}

impl CallDeadline for CallState {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
}

/// A compiled plugin, ready to instantiate. Cheap to share across threads.
///
/// It holds what a call needs — the engine, the limits, and the epoch ticker that enforces the
/// time limit — but not the [`crate::Runtime`] that made it: the runtime's cache holds plugins,
/// so a plugin holding the runtime would keep both alive for ever. The ticker stops when the
/// runtime and every plugin it made are gone.
pub struct Plugin {
    engine: Engine,
    limits: Limits,
    _ticker: Arc<Ticker>,
    hash: ContentHash,
    pre: InstancePre<CallState>,
}

impl Plugin {
    pub(crate) fn new(
        engine: &Engine,
        limits: Limits,
        ticker: Arc<Ticker>,
        hash: ContentHash,
        module: Module,
    ) -> Result<Self, RunError> {
        if module.get_export("_start").is_none() {
            return Err(RunError::InvalidModule(
                "no `_start` export: a plugin must be a wasm32-wasip1 command (a binary with `fn main`)"
                    .into(),
            ));
        }
        let mut linker: Linker<CallState> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut CallState| &mut state.wasi)
            .map_err(|e| RunError::Host(format!("cannot link WASI: {e:#}")))?;
        // A plugin blocked in a WASI call must end by its time cap too.
        bound_blocking_calls(&mut linker)
            .map_err(|e| RunError::Host(format!("cannot bound WASI's blocking calls: {e:#}")))?;
        // Imports beyond WASI preview 1 cannot be satisfied: say so now, not at the first call.
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| RunError::InvalidModule(format!("{e:#}")))?;
        Ok(Plugin {
            engine: engine.clone(),
            limits,
            _ticker: ticker,
            hash,
            pre,
        })
    }

    /// The SHA-256 of the plugin's bytes: its identity.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// Runs the plugin once on `input` with `args` (without argv\[0\]) and returns its stdout.
    pub fn run<S: AsRef<str>>(&self, args: &[S], input: &[u8]) -> Result<Vec<u8>, RunError> {
        let limits = self.limits;
        let deadline = deadline_after(limits.time);
        if input.len() > limits.input_bytes {
            return Err(RunError::InputTooLarge {
                size: input.len(),
                limit: limits.input_bytes,
            });
        }
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
            // WASI must not block this thread itself (its sleep would then be out of reach of
            // the deadline on host calls): it waits on tokio timers, which the deadline cuts.
            .allow_blocking_current_thread(false)
            .build_p1();
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(true)
            .instances(1)
            .memories(1)
            .tables(4)
            .build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                limits: store_limits,
                deadline,
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
            Ok(()) => Ok(stdout.contents().to_vec()),
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => Ok(stdout.contents().to_vec()),
                Some(I32Exit(code)) => Err(RunError::Plugin {
                    exit_code: *code,
                    message: one_line(&stderr_text)
                        .unwrap_or_else(|| "the plugin failed without a message".into()),
                }),
                None => Err(classify_failure(&error, &limits, stderr_text)),
            },
        }
    }
}

/// Turns a failed call that was not an `exit(n)` (and did not overflow a pipe) into the error
/// that says which limit or fault.
fn classify_failure(error: &wasmtime::Error, limits: &Limits, stderr: String) -> RunError {
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
fn instantiate_failure(error: &wasmtime::Error, limits: &Limits) -> RunError {
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

/// When a call started now must end (for a cap too large to represent: in a year, which no
/// call reaches either).
fn deadline_after(limit: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(limit)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Epoch ticks until the deadline, rounding up and allowing for the tick in progress.
fn deadline_ticks(limit: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    (limit.as_nanos().div_ceil(tick) as u64).saturating_add(1)
}
