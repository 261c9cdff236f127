//! What can go wrong: loading a module ([`Error`]) and running one evaluation ([`EvalError`]).

use std::time::Duration;

/// A module could not be loaded, or the host could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host's configuration is unusable.
    #[error("invalid host configuration: {0}")]
    Config(String),
    /// wasmtime refused the engine configuration.
    #[error("cannot create the wasmtime engine: {0}")]
    Engine(String),
    /// The bytes are not a valid module, or wasmtime could not compile them.
    #[error("cannot compile the lease module: {0}")]
    Compile(String),
    /// The module imports something; the lease module must be self-contained.
    #[error("the lease module must import nothing, but it imports {}", .0.join(", "))]
    Imports(Vec<String>),
    /// An export of the ABI is missing or has the wrong type.
    #[error("the lease module does not speak the ABI: {0}")]
    Abi(String),
    /// The module's `abi_version` is not the one this host speaks.
    #[error("the lease module speaks ABI version {found}, this host speaks version {expected}")]
    AbiVersion {
        /// What the module's `abi_version` returned.
        found: u32,
        /// [`crate::ABI_VERSION`].
        expected: u32,
    },
    /// The module could not be instantiated, or its `abi_version` failed.
    #[error("cannot instantiate the lease module: {0}")]
    Instantiate(String),
    /// Reading the module file failed.
    #[error("cannot read the lease module {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why (in the message, so it is not also a `source`).
        cause: std::io::Error,
    },
}

/// One evaluation failed inside the sandbox. [`crate::LeaseModule::evaluate`] turns each into an
/// `invalid` decision whose reason is this error's message; the host goes on serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The evaluation ran past the deadline and was interrupted.
    #[error("the lease module ran past its deadline of {} ms and was stopped", .0.as_millis())]
    Timeout(Duration),
    /// The module tried to grow its memory beyond the limit.
    #[error("the lease module needed more memory than its limit of {} bytes and was stopped", .0)]
    MemoryLimit(usize),
    /// The module trapped.
    #[error("the lease module trapped: {0}")]
    Trap(String),
    /// A fresh instance could not be created.
    #[error("cannot instantiate the lease module: {0}")]
    Instantiate(String),
    /// The request does not fit the module's memory limit.
    #[error("the request is {len} bytes, more than the memory limit of {limit} bytes")]
    RequestTooLarge {
        /// The request's length.
        len: usize,
        /// The memory limit.
        limit: usize,
    },
    /// `alloc` returned null or a buffer outside memory.
    #[error("the lease module could not give a buffer for the {len}-byte request (alloc returned {ptr:#x})")]
    Alloc {
        /// The request's length.
        len: usize,
        /// What `alloc` returned.
        ptr: u32,
    },
    /// `evaluate` returned a buffer outside the module's memory.
    #[error("the lease module returned a decision at {ptr:#x}+{len}, outside its {memory}-byte memory")]
    OutOfBounds {
        /// The returned pointer.
        ptr: u32,
        /// The returned length.
        len: u32,
        /// The size of memory then.
        memory: usize,
    },
    /// `evaluate` returned bytes that are not a JSON object.
    #[error("the lease module returned a decision that is not a JSON object: {0}")]
    Garbage(String),
}
