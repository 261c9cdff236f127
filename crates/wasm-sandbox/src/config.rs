//! The host's limits and where it caches compiled modules.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// How a [`crate::Host`] runs modules. [`Config::default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long one evaluation may run before it is interrupted (default 100 ms).
    pub deadline: Duration,
    /// The most linear memory one instance may have, in bytes (default 16 MiB). It must hold the
    /// module's initial memory (2 MiB for the embedded module).
    pub memory_limit: usize,
    /// How many instances may exist at once: evaluations running at the same time plus live
    /// [`crate::WarmInstance`]s (default: the number of CPUs). More callers wait for a slot.
    pub max_concurrency: usize,
    /// Where compiled modules are cached, keyed by the module's SHA-256 and the engine's
    /// compatibility hash; `None` compiles every time (default `None`; the binary uses
    /// [`default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            deadline: Duration::from_millis(100),
            memory_limit: 16 << 20,
            max_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cache_dir: None,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.deadline.is_zero() {
            return Err(Error::Config("the deadline must be longer than zero".into()));
        }
        if self.memory_limit < 65536 || self.memory_limit > 1 << 31 {
            return Err(Error::Config(format!(
                "the memory limit must be between 64 KiB and 2 GiB, not {} bytes",
                self.memory_limit
            )));
        }
        if self.max_concurrency == 0 || self.max_concurrency > 10_000 {
            return Err(Error::Config(format!(
                "the concurrency limit must be between 1 and 10000, not {}",
                self.max_concurrency
            )));
        }
        Ok(())
    }
}

/// The compiled-module cache the binary uses: `wasmtime/` in the project's cache directory
/// ([`csplease_tool_cache::cache_root`]: `$CSPLEASE_CACHE`, else `$XDG_CACHE_HOME/csplease`,
/// else `$HOME/.cache/csplease`).
pub fn default_cache_dir() -> Option<PathBuf> {
    csplease_tool_cache::cache_root().map(|root| root.join("wasmtime"))
}
