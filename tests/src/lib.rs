//! Shared fixtures for the cross-crate tests: the conformance vectors, the live control plane, the
//! binaries and the admission webhook.

pub mod cluster;
pub mod deploy;
pub mod fixture;
pub mod plugin;
pub mod proxy;
pub mod records;
pub mod running;
pub mod vectors;
pub mod webhook;
