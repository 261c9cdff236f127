//! The on-disk cache of compiled modules.
//!
//! A module is compiled once per (module bytes, engine) pair: the file name is the module's
//! SHA-256 and a hash of [`Engine::precompile_compatibility_hash`], which covers the wasmtime
//! version, the target and every setting that changes the compiled code. A later load maps the
//! file instead of compiling, which is what makes a cold start cheap.

// `Module::deserialize_file` is `unsafe` because wasmtime runs the machine code in the file as
// it is. It is sound here because this module only ever deserializes files that it wrote itself
// from `Module::serialize` (written to a temporary name and renamed into place, so a reader never
// sees a partial file), under a name that pins both the source module's hash and the engine's
// compatibility hash; wasmtime also checks the file's header against the engine before using
// it. The cache directory must be as trusted as the binary itself: whoever can write there can
// run code as this process.
#![allow(unsafe_code)]

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::Error;

/// How a module was obtained, as [`crate::LeaseModule::cache_status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache directory is configured: the module was compiled.
    Disabled,
    /// The compiled module was loaded from this file.
    Hit(PathBuf),
    /// The module was compiled and stored in this file.
    Stored(PathBuf),
    /// The module was compiled but could not be stored (the reason is given).
    NotStored(String),
}

/// A [`Hasher`] that feeds SHA-256, so that the engine's compatibility hash is stable across runs
/// and builds (std's default hasher promises neither).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file name for `module_sha256` under `engine`.
fn file_name(engine: &Engine, module_sha256: &[u8]) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hasher.0.finalize();
    format!("{}-{}.cwasm", hex(module_sha256), hex(&engine_hash[..8]))
}

/// Loads the compiled module from `dir` when it is there, else compiles `wasm` and stores it.
pub(crate) fn load(
    engine: &Engine,
    wasm: &[u8],
    module_sha256: &[u8],
    dir: Option<&Path>,
) -> Result<(Module, CacheStatus), Error> {
    let compile = || Module::new(engine, wasm).map_err(|e| Error::Compile(format!("{e:#}")));
    let Some(dir) = dir else {
        return Ok((compile()?, CacheStatus::Disabled));
    };
    let path = dir.join(file_name(engine, module_sha256));
    if path.is_file() {
        // SAFETY: see the note at the top of this file: only files this code wrote, named by
        // the module and engine hashes, are ever deserialized.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
            return Ok((module, CacheStatus::Hit(path)));
        }
        // A stale or damaged entry: compile again and overwrite it below.
    }
    let module = compile()?;
    let status = match store(&module, dir, &path) {
        Ok(()) => CacheStatus::Stored(path),
        Err(reason) => CacheStatus::NotStored(reason),
    };
    Ok((module, status))
}

/// Writes the compiled module to `path` atomically (a temporary file renamed into place).
fn store(module: &Module, dir: &Path, path: &Path) -> Result<(), String> {
    let bytes = module.serialize().map_err(|e| format!("cannot serialize the compiled module: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{unique}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rename {} to {}: {e}", tmp.display(), path.display())
    })
}
