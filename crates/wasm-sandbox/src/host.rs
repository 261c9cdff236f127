//! The host: one wasmtime engine, modules loaded into it, evaluations in fresh or warm instances.

use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{
    Engine, Instance, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module, ModuleExport,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, TypedFunc,
};

use crate::cache::{self, CacheStatus};
use crate::{ABI_VERSION, Config, EMBEDDED_MODULE, Error, EvalError, invalid_decision};

/// The most table elements an instance may grow to (the embedded module has a few dozen).
const MAX_TABLE_ELEMENTS: usize = 10_000;

/// Memory the pool keeps resident per slot between instances, reset by copying only the pages an
/// instance dirtied (Linux's `PAGEMAP_SCAN`) instead of unmapping them: a decision touches far
/// less, so the next instance in that slot starts without page faults.
const KEEP_RESIDENT: usize = 1 << 20;

/// A wasmtime engine set up to run lease modules: the pooling instance allocator with
/// copy-on-write memory images, a deadline ticker thread, memory and concurrency limits.
///
/// Create one per process and load modules into it; it is cheap to clone (a reference count)
/// and can be shared between threads.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    linker: Linker<Limits>,
    config: Config,
    slots: Slots,
    /// Epoch ticks from the start of an evaluation to its deadline.
    deadline_ticks: u64,
    /// Dropped last, with the host: stops the epoch ticker.
    _ticker: Ticker,
}

impl Host {
    /// Creates the engine, its instance pool and its deadline ticker.
    ///
    /// # Errors
    /// [`Error::Config`] for a limit out of range, [`Error::Engine`] when wasmtime refuses the
    /// configuration (for example when the pool cannot reserve its virtual memory).
    pub fn new(config: Config) -> Result<Host, Error> {
        config.validate()?;
        let slots = u32::try_from(config.max_concurrency).map_err(|e| Error::Config(e.to_string()))?;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memory_size(config.memory_limit)
            .linear_memory_keep_resident(KEEP_RESIDENT.min(config.memory_limit))
            // The module's table fits in one page, which is then reset with a plain `memset`
            // (no `PAGEMAP_SCAN` ioctl, no `madvise`).
            .table_keep_resident(4096)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut wasmtime_config = wasmtime::Config::new();
        wasmtime_config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&wasmtime_config).map_err(|e| Error::Engine(format!("{e:#}")))?;

        let tick = (config.deadline / 10).clamp(Duration::from_millis(1), Duration::from_millis(100));
        // The deadline trips on the n-th tick after the call starts; the first tick can come at
        // once, so one more tick makes sure at least the whole deadline passes.
        let deadline_ticks = config.deadline.as_nanos().div_ceil(tick.as_nanos()) as u64 + 1;
        let ticker = Ticker::start(engine.clone(), tick)?;
        let slots = Slots { free: Mutex::new(config.max_concurrency), freed: Condvar::new() };
        let linker = Linker::new(&engine);
        Ok(Host { inner: Arc::new(HostInner { engine, linker, config, slots, deadline_ticks, _ticker: ticker }) })
    }

    /// The configuration this host was created with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Loads the module this binary was built with ([`EMBEDDED_MODULE`]).
    ///
    /// # Errors
    /// As [`Host::load`].
    pub fn load_embedded(&self) -> Result<LeaseModule, Error> {
        self.load(EMBEDDED_MODULE)
    }

    /// Reads a module file (binary, or text when it ends in `.wat`) and loads it.
    ///
    /// # Errors
    /// [`Error::Read`] when the file cannot be read, else as [`Host::load`].
    pub fn load_file(&self, path: &std::path::Path) -> Result<LeaseModule, Error> {
        let bytes = std::fs::read(path).map_err(|cause| Error::Read { path: path.display().to_string(), cause })?;
        self.load(&bytes)
    }

    /// Compiles a module (or maps it from the compiled-module cache), checks that it imports
    /// nothing and speaks this host's ABI, and gets it ready to instantiate.
    ///
    /// The check instantiates the module once and calls `abi_version`, so a module that cannot
    /// even be instantiated under the limits is refused here rather than on every request. It
    /// takes one instance slot for that moment, so it waits while [`WarmInstance`]s hold them all.
    ///
    /// # Errors
    /// [`Error::Compile`], [`Error::Imports`], [`Error::Abi`], [`Error::AbiVersion`],
    /// [`Error::Instantiate`].
    pub fn load(&self, wasm: &[u8]) -> Result<LeaseModule, Error> {
        let host = &self.inner;
        let sha256: [u8; 32] = Sha256::digest(wasm).into();
        let (module, cache) = cache::load(&host.engine, wasm, &sha256, host.config.cache_dir.as_deref())?;
        let imports: Vec<String> = module.imports().map(|i| format!("{}.{}", i.module(), i.name())).collect();
        if !imports.is_empty() {
            return Err(Error::Imports(imports));
        }
        let exports = Exports::find(&module)?;
        let pre = host.linker.instantiate_pre(&module).map_err(|e| Error::Instantiate(format!("{e:#}")))?;
        let module = LeaseModule {
            inner: Arc::new(ModuleInner { host: self.inner.clone(), pre, exports, sha256, size: wasm.len(), cache }),
        };
        module.check_abi()?;
        Ok(module)
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// A lease module loaded into a [`Host`], ready to evaluate requests.
///
/// [`LeaseModule::evaluate`] runs each request in a fresh instance, so nothing one request does
/// can be seen by the next; [`LeaseModule::warm`] gives an instance that is kept between requests,
/// for throughput. Cheap to clone and shareable between threads.
#[derive(Clone)]
pub struct LeaseModule {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    host: Arc<HostInner>,
    pre: InstancePre<Limits>,
    exports: Exports,
    sha256: [u8; 32],
    size: usize,
    cache: CacheStatus,
}

impl LeaseModule {
    /// Evaluates one request document in a fresh instance and returns the decision document.
    ///
    /// Never fails: when the module traps, times out, exceeds its memory limit or answers
    /// garbage, the decision has outcome `invalid` and the failure as its reason (see
    /// [`LeaseModule::try_evaluate`]). Waits for a free instance slot when the concurrency limit
    /// is reached.
    pub fn evaluate(&self, request: &[u8]) -> Vec<u8> {
        self.try_evaluate(request).unwrap_or_else(|e| invalid_decision(&e.to_string()))
    }

    /// Evaluates one request document in a fresh instance; the decision document, or what went
    /// wrong in the sandbox.
    ///
    /// # Errors
    /// Any [`EvalError`]; the host is unaffected and goes on serving.
    pub fn try_evaluate(&self, request: &[u8]) -> Result<Vec<u8>, EvalError> {
        self.check_size(request)?;
        let _slot = self.inner.host.slots.acquire();
        let (mut store, _, guest) = self.instantiate()?;
        guest.run(&mut store, request, false).map_err(|f| self.explain(f, &store))
    }

    /// An instance kept between evaluations, for throughput: it skips instantiation, and gives
    /// back the request and decision buffers after each call. It holds one of the host's
    /// instance slots until it is dropped (waiting for one if none is free). After a failed
    /// evaluation its instance is thrown away and the next call starts a fresh one.
    pub fn warm(&self) -> WarmInstance {
        self.inner.host.slots.acquire().forget();
        WarmInstance { module: self.clone(), live: None }
    }

    /// The module's SHA-256, in hex.
    pub fn sha256(&self) -> String {
        cache::hex(&self.inner.sha256)
    }

    /// The module's size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Whether the compiled module came from the cache.
    pub fn cache_status(&self) -> &CacheStatus {
        &self.inner.cache
    }

    fn check_size(&self, request: &[u8]) -> Result<(), EvalError> {
        let limit = self.inner.host.config.memory_limit;
        if request.len() > limit {
            return Err(EvalError::RequestTooLarge { len: request.len(), limit });
        }
        Ok(())
    }

    /// A new store and instance, under the host's limits, with the ABI's exports bound.
    fn instantiate(&self) -> Result<(Store<Limits>, Instance, Guest), EvalError> {
        let host = &self.inner.host;
        let mut store = Store::new(&host.engine, Limits { memory_limit: host.config.memory_limit, denied: false });
        store.limiter(|limits| limits);
        store.set_epoch_deadline(host.deadline_ticks);
        let instance = match self.inner.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => {
                return Err(match self.explain(Failure::Wasm(e), &store) {
                    EvalError::Trap(message) => EvalError::Instantiate(message),
                    other => other,
                });
            }
        };
        let guest = self.inner.exports.bind(&mut store, &instance).map_err(EvalError::Instantiate)?;
        Ok((store, instance, guest))
    }

    /// Instantiates the module once and checks its `abi_version`.
    fn check_abi(&self) -> Result<(), Error> {
        let _slot = self.inner.host.slots.acquire();
        let (mut store, instance, _) = self.instantiate().map_err(|e| match e {
            EvalError::Instantiate(message) if message.starts_with("export") => Error::Abi(message),
            other => Error::Instantiate(other.to_string()),
        })?;
        let version = self.inner.exports.abi_version(&mut store, &instance).map_err(Error::Abi)?;
        let found = version.call(&mut store, ()).map_err(|e| {
            Error::Instantiate(format!("`abi_version` failed: {}", self.explain(Failure::Wasm(e), &store)))
        })?;
        if found != ABI_VERSION {
            return Err(Error::AbiVersion { found, expected: ABI_VERSION });
        }
        Ok(())
    }

    /// Names what went wrong inside the sandbox.
    fn explain(&self, failure: Failure, store: &Store<Limits>) -> EvalError {
        let config = &self.inner.host.config;
        let err = match failure {
            Failure::Eval(e) => return e,
            Failure::Wasm(err) => err,
        };
        if store.data().denied {
            return EvalError::MemoryLimit(config.memory_limit);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => EvalError::Timeout(config.deadline),
            Some(trap) => EvalError::Trap(trap.to_string()),
            None => EvalError::Trap(format!("{err:#}")),
        }
    }
}

impl std::fmt::Debug for LeaseModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseModule")
            .field("sha256", &self.sha256())
            .field("size", &self.inner.size)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// An instance of a [`LeaseModule`] kept between evaluations (opt-in, for throughput); see
/// [`LeaseModule::warm`]. Not shareable: use one per thread.
pub struct WarmInstance {
    module: LeaseModule,
    live: Option<(Store<Limits>, Guest)>,
}

impl WarmInstance {
    /// Evaluates one request document in this instance; never fails, like
    /// [`LeaseModule::evaluate`].
    pub fn evaluate(&mut self, request: &[u8]) -> Vec<u8> {
        self.try_evaluate(request).unwrap_or_else(|e| invalid_decision(&e.to_string()))
    }

    /// Evaluates one request document in this instance, instantiating it first if it is new or
    /// its previous call failed.
    ///
    /// # Errors
    /// Any [`EvalError`]; the instance is then discarded and the next call gets a fresh one.
    pub fn try_evaluate(&mut self, request: &[u8]) -> Result<Vec<u8>, EvalError> {
        self.module.check_size(request)?;
        let (mut store, guest) = match self.live.take() {
            Some(live) => live,
            None => {
                let (store, _, guest) = self.module.instantiate()?;
                (store, guest)
            }
        };
        store.set_epoch_deadline(self.module.inner.host.deadline_ticks);
        match guest.run(&mut store, request, true) {
            Ok(decision) => {
                self.live = Some((store, guest));
                Ok(decision)
            }
            Err(failure) => Err(self.module.explain(failure, &store)),
        }
    }
}

impl Drop for WarmInstance {
    fn drop(&mut self) {
        self.live = None;
        self.module.inner.host.slots.release();
    }
}

impl std::fmt::Debug for WarmInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmInstance").field("module", &self.module).field("live", &self.live.is_some()).finish()
    }
}

/// The store's data: the memory limit, and whether a growth was refused.
struct Limits {
    memory_limit: usize,
    denied: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The ABI's exports, found once per module so each instance binds them without name lookups.
struct Exports {
    memory: ModuleExport,
    abi_version: ModuleExport,
    alloc: ModuleExport,
    dealloc: ModuleExport,
    evaluate: ModuleExport,
}

impl Exports {
    fn find(module: &Module) -> Result<Exports, Error> {
        let find = |name: &str| {
            module.get_export_index(name).ok_or_else(|| Error::Abi(format!("the module has no export `{name}`")))
        };
        Ok(Exports {
            memory: find("memory")?,
            abi_version: find("abi_version")?,
            alloc: find("alloc")?,
            dealloc: find("dealloc")?,
            evaluate: find("evaluate")?,
        })
    }

    fn func<P, R>(
        &self,
        store: &mut Store<Limits>,
        instance: &Instance,
        export: &ModuleExport,
        name: &str,
    ) -> Result<TypedFunc<P, R>, String>
    where
        P: wasmtime::WasmParams,
        R: wasmtime::WasmResults,
    {
        let func = instance
            .get_module_export(&mut *store, export)
            .and_then(|e| e.into_func())
            .ok_or_else(|| format!("export `{name}` is not a function"))?;
        func.typed::<P, R>(&*store).map_err(|e| format!("export `{name}` has the wrong type: {e}"))
    }

    fn bind(&self, store: &mut Store<Limits>, instance: &Instance) -> Result<Guest, String> {
        let memory = instance
            .get_module_export(&mut *store, &self.memory)
            .and_then(|e| e.into_memory())
            .ok_or("export `memory` is not a memory")?;
        Ok(Guest {
            memory,
            alloc: self.func(store, instance, &self.alloc, "alloc")?,
            dealloc: self.func(store, instance, &self.dealloc, "dealloc")?,
            evaluate: self.func(store, instance, &self.evaluate, "evaluate")?,
        })
    }

    fn abi_version(&self, store: &mut Store<Limits>, instance: &Instance) -> Result<TypedFunc<(), u32>, String> {
        self.func(store, instance, &self.abi_version, "abi_version")
    }
}

/// Why a call into the guest failed: a wasmtime error (trap, interrupt, refused growth) or a
/// broken ABI contract.
enum Failure {
    Wasm(wasmtime::Error),
    Eval(EvalError),
}

impl From<wasmtime::Error> for Failure {
    fn from(e: wasmtime::Error) -> Self {
        Failure::Wasm(e)
    }
}

/// One instance's ABI exports, bound.
struct Guest {
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    dealloc: TypedFunc<(u32, u32), ()>,
    evaluate: TypedFunc<(u32, u32), u64>,
}

impl Guest {
    /// The ABI's call sequence: `alloc`, write the request, `evaluate`, read the decision, and
    /// (for an instance that is kept) `dealloc` both buffers.
    fn run(&self, store: &mut Store<Limits>, request: &[u8], give_back: bool) -> Result<Vec<u8>, Failure> {
        // `check_size` bounds the request by the memory limit, at most 2 GiB.
        let len = u32::try_from(request.len()).unwrap_or(u32::MAX);
        let ptr = self.alloc.call(&mut *store, len)?;
        if ptr == 0 || self.memory.write(&mut *store, ptr as usize, request).is_err() {
            return Err(Failure::Eval(EvalError::Alloc { len: request.len(), ptr }));
        }
        let packed = self.evaluate.call(&mut *store, (ptr, len))?;
        let (at, size) = ((packed >> 32) as u32, packed as u32);
        let memory = self.memory.data(&*store);
        let decision = (at as usize)
            .checked_add(size as usize)
            .and_then(|end| memory.get(at as usize..end))
            .filter(|_| at != 0)
            .ok_or(Failure::Eval(EvalError::OutOfBounds { ptr: at, len: size, memory: memory.len() }))?;
        check_decision(decision).map_err(Failure::Eval)?;
        let decision = decision.to_vec();
        if give_back {
            self.dealloc.call(&mut *store, (at, size))?;
            self.dealloc.call(&mut *store, (ptr, len))?;
        }
        Ok(decision)
    }
}

/// A decision must at least be one JSON object in UTF-8; the module is trusted for the rest.
fn check_decision(bytes: &[u8]) -> Result<(), EvalError> {
    let garbage = |why: String| {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
        EvalError::Garbage(format!("{why} (it starts {start:?})"))
    };
    let text = std::str::from_utf8(bytes).map_err(|e| garbage(e.to_string()))?;
    if !text.starts_with('{') {
        return Err(garbage("it does not start with `{`".into()));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| garbage(e.to_string()))?;
    Ok(())
}

/// The host's instance slots: a counting semaphore over the pool's capacity.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A taken slot, given back when dropped.
struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SlotGuard(self)
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.freed.notify_one();
    }
}

impl SlotGuard<'_> {
    /// Keeps the slot taken past this guard; the owner calls [`Slots::release`] itself.
    fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The thread that advances the engine's epoch, which is what enforces deadlines.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, period: Duration) -> Result<Ticker, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("csplease-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Engine(format!("cannot start the deadline ticker thread: {e}")))?;
        Ok(Ticker { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
