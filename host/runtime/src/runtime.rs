//! [`Runtime`]: the process's one wasmtime `Engine`, its epoch ticker, and the plugin caches.

use crate::disk_cache::DiskCache;
use crate::limits::Limits;
use crate::plugin::Plugin;
use crate::RunError;
use cdn_common::ContentHash;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, Module};

/// How often the ticker thread advances the engine's epoch: the granularity of the time limit.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Where one plugin's compiled form is kept once loaded.
type Slot = Arc<Mutex<Option<Arc<Plugin>>>>;

/// Counters that show what the caches did (for tests, logs and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Plugins compiled by cranelift in this process.
    pub compiled: u64,
    /// Plugins loaded from the on-disk cache of compiled code instead.
    pub loaded_from_disk: u64,
    /// `load` calls answered from memory.
    pub memory_hits: u64,
}

/// Runs plugins. Create one per process and share it (`Runtime` is cheap to clone).
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    disk: Option<DiskCache>,
    /// One slot per plugin hash; the slot's own lock makes concurrent loads of the same bytes
    /// compile once, without blocking loads of other plugins.
    plugins: Mutex<HashMap<ContentHash, Slot>>,
    compiled: AtomicU64,
    loaded_from_disk: AtomicU64,
    memory_hits: AtomicU64,
    /// Shared with every [`Plugin`] made here, so the time limit holds while any of them lives.
    ticker: Arc<Ticker>,
}

impl Runtime {
    /// A runtime with the given limits and the default on-disk cache of compiled plugins
    /// (`$IMAGECDN_CACHE_DIR`, else `$XDG_CACHE_HOME/imagecdn/modules`, else
    /// `~/.cache/imagecdn/modules`; no disk cache if none can be found).
    pub fn new(limits: Limits) -> Result<Self, RunError> {
        Self::with_cache_dir(limits, default_cache_dir())
    }

    /// A runtime that caches compiled plugins in `cache_dir` (or only in memory with `None`).
    ///
    /// The folder is made 0700 if missing. It is refused ([`RunError::Cache`]) when another user
    /// owns it or its group or others may write in it, since compiled code read from it runs
    /// outside the sandbox; a folder of ours that others can only read (0755) is made 0700.
    pub fn with_cache_dir(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, RunError> {
        let engine = new_engine(&limits)?;
        let disk = cache_dir
            .map(|dir| DiskCache::open(dir, &engine))
            .transpose()?;
        let ticker = Arc::new(Ticker::start(engine.clone())?);
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                limits,
                disk,
                plugins: Mutex::new(HashMap::new()),
                compiled: AtomicU64::new(0),
                loaded_from_disk: AtomicU64::new(0),
                memory_hits: AtomicU64::new(0),
                ticker,
            }),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// The on-disk cache folder, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.shared.disk.as_ref().map(DiskCache::dir)
    }

    /// Loads a plugin from its bytes: from memory if this process has seen the same bytes, else
    /// from the disk cache, else by compiling it (and then writing the disk cache).
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<Plugin>, RunError> {
        self.load_hashed(ContentHash::of(wasm), wasm)
    }

    /// As [`Runtime::load`], for bytes the caller has already hashed (and checked against the
    /// hash it expected), so they are not hashed twice. `hash` must be `ContentHash::of(wasm)`:
    /// it names the compiled code in memory and on disk.
    pub fn load_hashed(&self, hash: ContentHash, wasm: &[u8]) -> Result<Arc<Plugin>, RunError> {
        debug_assert_eq!(hash, ContentHash::of(wasm));
        let slot = {
            let mut plugins = lock(&self.shared.plugins);
            plugins.entry(hash).or_default().clone()
        };
        let mut slot = lock(&slot);
        if let Some(plugin) = slot.as_ref() {
            self.shared.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(plugin.clone());
        }
        let module = self.module_for(hash, wasm)?;
        let plugin = Arc::new(Plugin::new(
            &self.shared.engine,
            self.shared.limits,
            self.shared.ticker.clone(),
            hash,
            module,
        )?);
        *slot = Some(plugin.clone());
        Ok(plugin)
    }

    /// Reads a `.wasm` file and loads it (see [`Runtime::load`]).
    pub fn load_file(&self, path: &Path) -> Result<Arc<Plugin>, RunError> {
        let wasm = std::fs::read(path).map_err(|e| {
            RunError::InvalidModule(format!("cannot read plugin {}: {e}", path.display()))
        })?;
        self.load(&wasm)
    }

    /// What the caches have done so far.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            compiled: self.shared.compiled.load(Ordering::Relaxed),
            loaded_from_disk: self.shared.loaded_from_disk.load(Ordering::Relaxed),
            memory_hits: self.shared.memory_hits.load(Ordering::Relaxed),
        }
    }

    fn module_for(&self, hash: ContentHash, wasm: &[u8]) -> Result<Module, RunError> {
        let engine = &self.shared.engine;
        if let Some(module) = self.shared.disk.as_ref().and_then(|d| d.get(engine, &hash)) {
            self.shared.loaded_from_disk.fetch_add(1, Ordering::Relaxed);
            return Ok(module);
        }
        // Only binary modules: a plugin is a `.wasm` file, and the text format would make every
        // text file "a plugin" that fails later with a stranger message.
        if !wasm.starts_with(cdn_common::WASM_MAGIC) {
            return Err(RunError::InvalidModule(
                "not a WebAssembly binary (missing the \\0asm header)".into(),
            ));
        }
        let module = Module::from_binary(engine, wasm)
            .map_err(|e| RunError::InvalidModule(format!("{e:#}")))?;
        self.shared.compiled.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(plugin = %hash, "compiled plugin");
        if let Some(disk) = &self.shared.disk {
            disk.put(&hash, &module);
        }
        Ok(module)
    }
}

/// How many plugin calls may hold an instance at once with the pooling allocator.
pub(crate) const POOL_SLOTS: u32 = 128;
/// Linear-memory pages kept mapped between calls in a pool slot, so the next call does not
/// page-fault them in again (a 12 MP JPEG's thumbnail touches about 20 MiB: its input, read
/// into a growing buffer, and the decoder's planes). A slot is reset by zeroing only the pages
/// the call dirtied (Linux's `PAGEMAP_SCAN`, kernel 6.7 and later), not all of these bytes
/// (where the kernel cannot say, wasmtime falls back to that). Section 1d of the bench
/// measures both.
pub const KEEP_RESIDENT: usize = 64 << 20;

/// The engine: the pooling allocator (reused memory slots, fewer page faults per call), or the
/// on-demand allocator where the pool's address-space reservation cannot be made.
fn new_engine(limits: &Limits) -> Result<Engine, RunError> {
    let mut pooled = engine_config();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_memories(POOL_SLOTS)
        .total_tables(POOL_SLOTS)
        .total_core_instances(POOL_SLOTS)
        .max_memory_size(limits.memory_bytes)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::info!("pooling allocator unavailable ({e:#}); using on-demand instances");
            Engine::new(&engine_config())
                .map_err(|e| RunError::Host(format!("cannot create the wasm engine: {e:#}")))
        }
    }
}

/// The engine settings both allocators share. Deserialised modules need the identical
/// configuration, so the disk cache key includes the engine's compatibility hash.
fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_simd(true);
    // The default memory reservation (4 GiB of address space, not of RAM) lets cranelift drop
    // bounds checks; the memory limit itself is enforced by `StoreLimits` in each call.
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("IMAGECDN_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    Some(default_cache_root()?.join("modules"))
}

/// imagecdn's folder in the user's cache (`$XDG_CACHE_HOME/imagecdn`, else
/// `~/.cache/imagecdn`), if there is a home to find it in.
pub fn default_cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("imagecdn"))
}

/// Locks a mutex, ignoring poisoning: the data behind our locks stays consistent even if a
/// thread panicked while holding one (we only insert complete values).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`], so that a call whose
/// deadline has passed traps with `Interrupt` at its next loop back-edge or function entry.
/// Dropping it stops and joins the thread.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Self, RunError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| RunError::Host(format!("cannot start the epoch thread: {e}")))?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin that returns at once.
    fn noop_plugin() -> Vec<u8> {
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
            .expect("valid wat")
    }

    #[test]
    fn dropping_the_last_runtime_stops_the_ticker() {
        let runtime = Runtime::with_cache_dir(Limits::default(), None).expect("runtime");
        let plugin = runtime.load(&noop_plugin()).expect("load");
        plugin.run::<&str>(&[], b"").expect("run");
        let ticker = Arc::downgrade(&runtime.shared.ticker);
        let shared = Arc::downgrade(&runtime.shared);
        drop(plugin);
        drop(runtime);
        // Before the fix, the loaded plugin held the runtime's shared state and the state held
        // the plugin: neither was ever freed and the thread ran for ever.
        assert!(
            shared.upgrade().is_none(),
            "the runtime's state is still alive"
        );
        assert!(
            ticker.upgrade().is_none(),
            "the epoch ticker is still running"
        );
    }

    #[test]
    fn a_plugin_outliving_its_runtime_keeps_the_time_limit() {
        let limits = Limits {
            time: Duration::from_millis(100),
            ..Limits::default()
        };
        let runtime = Runtime::with_cache_dir(limits, None).expect("runtime");
        let endless = wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#,
        )
        .expect("valid wat");
        let plugin = runtime.load(&endless).expect("load");
        let ticker = Arc::downgrade(&runtime.shared.ticker);
        drop(runtime);
        assert!(ticker.upgrade().is_some(), "the plugin keeps the ticker");
        assert!(matches!(
            plugin.run::<&str>(&[], b""),
            Err(RunError::TimeLimit { .. })
        ));
        drop(plugin);
        assert!(ticker.upgrade().is_none());
    }
}
