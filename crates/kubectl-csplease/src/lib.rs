//! The kubectl plugin `kubectl csplease`: hold, release and inspect OpenEBS cStor pool leases.
//!
//! Every decision comes from [`lease_logic`]; this crate only reads the cluster, asks the core,
//! and sends the core's guarded patch.

pub mod decide;
