//! Runs the csplease lease module in wasmtime: sandboxed, isolated per call, and answering
//! exactly as the native core does.
//!
//! `lease-logic` is compiled to a plain `wasm32-unknown-unknown` module that imports nothing
//! (see "Embedding the module" in the README for its ABI). This crate builds that module in its
//! `build.rs`, embeds it ([`EMBEDDED_MODULE`]), and runs it. Every decision it gives comes from the
//! module, through the module's ABI, so what it runs is exactly what a browser or any other engine
//! runs. It does not link `lease-logic` natively, and carries no HTTP server, Kubernetes client or
//! metrics: an embedder compiles wasmtime and the module, nothing else. The admission webhook
//! (`csplease-wasm serve`) lives in the `csplease-wasm` crate, on top of this one.
//!
//! # Host, module, instance
//!
//! A [`Host`] is one wasmtime engine with everything that makes running untrusted-ish code
//! cheap and safe: a pooling instance allocator whose linear memories start as copy-on-write
//! images of the module's data, a ticker thread that enforces a deadline on every call (default
//! 100 ms), a memory limit per instance (default 16 MiB) and a limit on how many instances
//! exist at once. Create one per process.
//!
//! [`Host::load`] turns module bytes into a [`LeaseModule`]: compiled once (or mapped from the
//! compiled-module cache on disk, keyed by the module's hash and the engine's compatibility
//! hash), checked to import nothing and to speak [`ABI_VERSION`], and pre-linked.
//!
//! [`LeaseModule::evaluate`] then runs each request document in a fresh instance, so no state
//! can pass from one request to the next, and returns the decision document. Whatever the
//! module does, a trap, an endless loop, a memory bomb, a pointer out of bounds or bytes that
//! are not JSON, the answer is a decision with outcome `invalid` and a reason, and the host goes
//! on serving. [`LeaseModule::warm`] keeps one instance between requests for throughput.
//!
//! # JSON Lines
//!
//! [`eval_lines`] evaluates a stream of requests, one a line, on several threads, writing the
//! decisions in input order (`csplease-wasm eval`).
//!
//! # Example
//!
//! ```
//! use wasm_sandbox::{Config, Host};
//!
//! let host = Host::new(Config::default())?;
//! let module = host.load_embedded()?;
//!
//! let request = br#"{"action":"hold","claimant":"openebs/pool-a",
//!     "object":{"metadata":{"name":"csp-1","resourceVersion":"7"}}}"#;
//! let decision: serde_json::Value = serde_json::from_slice(&module.evaluate(request))?;
//! assert_eq!(decision["action"], "hold");
//! assert!(decision["outcome"].is_string());
//!
//! // Not a request at all: the module answers `invalid`, it does not trap.
//! let decision: serde_json::Value = serde_json::from_slice(&module.evaluate(b"{oops"))?;
//! assert_eq!(decision["outcome"], "invalid");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod config;
mod decision;
mod error;
mod eval;
mod host;

pub use cache::CacheStatus;
pub use config::{Config, default_cache_dir};
pub use decision::invalid_decision;
pub use error::{Error, EvalError};
pub use eval::{EvalOptions, eval_lines};
pub use host::{Host, LeaseModule, WarmInstance};

/// The lease module this crate was built with: `lease-logic` for `wasm32-unknown-unknown`,
/// optimised with `wasm-opt` when it was available at build time.
pub const EMBEDDED_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lease_logic.wasm"));

/// The module ABI version this host speaks; a module whose `abi_version` export returns anything
/// else is refused.
pub const ABI_VERSION: u32 = 1;
