//! The kubectl plugin `kubectl csplease`: hold, release and inspect OpenEBS cStor pool leases on
//! a live cluster, from the command line.
//!
//! The lease itself is the [`csp_lease`] library ([`csp_lease::CspLease`]); every decision comes
//! from [`lease_logic`]. This crate adds what a command line needs: kubectl's connection flags
//! ([`connect`]), the request log of `-v` and `--request-timeout` ([`trace`]), the subcommands and
//! exit codes ([`cli`]), what is printed ([`render`]), the offline `decide` ([`decide`]), the
//! inspector's page server ([`inspect`]) and completion through kubectl ([`complete`]).
//!
//! `kubectl csplease status|hold|release|inspect|decide|completion`: see [`cli`] and the crate
//! README. Its binary's `main` only calls [`cli::run`].

pub mod cli;
pub mod complete;
pub mod connect;
pub mod decide;
pub mod inspect;
pub mod render;
pub mod trace;

pub use connect::{Connected, Connection};
