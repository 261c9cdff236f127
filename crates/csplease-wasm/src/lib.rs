//! `csplease-wasm`: the sandboxed lease module ([`wasm_sandbox`]) for policy engines.
//!
//! The binary has three subcommands: `eval`, a JSON Lines evaluator
//! ([`wasm_sandbox::eval_lines`]); `module`, which writes out the embedded module for other
//! engines; and `serve`, a ValidatingAdmissionWebhook ([`serve`], with its pure envelope handling
//! in the `csplease-admission` crate) that puts the module's `review` in front of every write to a
//! CStorPool.
//!
//! Every decision comes from the module, through its ABI. This crate adds the HTTPS server,
//! the pod lookups (kube-rs) and the metrics; an embedder that only wants to run the module uses
//! [`wasm_sandbox`] and compiles none of them.

pub mod serve;
