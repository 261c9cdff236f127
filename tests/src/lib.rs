//! Shared fixtures for the cross-crate tests: the conformance vectors and the live control plane.

pub mod cluster;
pub mod plugin;
pub mod proxy;
pub mod records;
pub mod vectors;
