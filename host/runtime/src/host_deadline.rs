//! The time cap over host calls.
//!
//! The epoch deadline interrupts wasm code only: a plugin blocked inside a WASI call is out of
//! its reach. In our sandbox (stdin from memory, stdout and stderr into memory pipes, no files,
//! no sockets, `allow_blocking_current_thread` off) every WASI call returns at once except one:
//! `poll_oneoff`, which waits for a clock (`std::thread::sleep`, or a subscription list of far
//! clocks) for as long as the plugin asks. Reads of stdin and writes to stdout/stderr never wait
//! (memory pipes), `sched_yield` returns at once, and a loop of short calls is ended by the epoch
//! deadline at its next back-edge.
//!
//! So `poll_oneoff` is replaced (the linker shadows WASI's definition) by the same WASI code run
//! under a timeout: the time left before the call's deadline. When that runs out, or when the
//! deadline has already passed on entry, the call traps with [`Trap::Interrupt`], exactly as a
//! spinning plugin does, and becomes [`crate::RunError::TimeLimit`]. A poll that ends in time is
//! untouched: same events, same errors.
//!
//! Cost: nothing per instantiation (the linker is built once per plugin); one clock read per
//! call to record its deadline, and a timer per `poll_oneoff`, which a thumbnail never calls.

use std::time::Instant;
use wasmtime::{AsContextMut, Caller, Extern, Linker, Trap};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wasmtime_wasi::p1::WasiP1Ctx;

/// What the bounded host calls need from a call's store data.
pub(crate) trait CallDeadline: Send + 'static {
    /// When the call must end.
    fn deadline(&self) -> Instant;
    /// The call's WASI context.
    fn wasi(&mut self) -> &mut WasiP1Ctx;
}

/// Replaces WASI's `poll_oneoff` in `linker` (which must already hold WASI preview 1) with one
/// that never outlives the call's deadline.
pub(crate) fn bound_blocking_calls<T: CallDeadline>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        |caller: Caller<'_, T>, subs: i32, events: i32, nsubs: i32, nevents: i32| {
            poll_oneoff_until_deadline(caller, subs, events, nsubs, nevents)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// WASI's own `poll_oneoff` (the code `add_to_linker_sync` links), bounded by the deadline.
fn poll_oneoff_until_deadline<T: CallDeadline>(
    mut caller: Caller<'_, T>,
    subs: i32,
    events: i32,
    nsubs: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(left) = caller
        .data()
        .deadline()
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
    else {
        return Err(Trap::Interrupt.into());
    };
    // As the generated WASI glue does: the guest's memory, and the host-call fuel that bounds
    // how much of it one call may copy.
    let fuel = caller.as_context_mut().hostcall_fuel();
    let export = caller.get_export("memory");
    let (mut memory, state) = match &export {
        Some(Extern::Memory(m)) => {
            let (bytes, state) = m.data_and_store_mut(&mut caller);
            (wiggle::GuestMemory::Unshared(bytes), state)
        }
        Some(Extern::SharedMemory(m)) => (wiggle::GuestMemory::Shared(m.data()), caller.data_mut()),
        _ => return Err(wasmtime::Error::msg("missing required memory export")),
    };
    let wasi = state.wasi();
    wasi.set_hostcall_fuel(fuel);
    // The timer is made inside the future, where `in_tokio` has entered a runtime with a time
    // driver. `allow_blocking_current_thread` is off, so WASI's sleep is a tokio timer too and
    // the timeout can cut it.
    let bounded = async move {
        tokio::time::timeout(
            left,
            p1::poll_oneoff(wasi, &mut memory, subs, events, nsubs, nevents),
        )
        .await
    };
    match wasmtime_wasi::runtime::in_tokio(bounded) {
        Ok(result) => result,
        Err(_elapsed) => Err(Trap::Interrupt.into()),
    }
}
