//! kpreload keeps container images warm on Kubernetes node pools and keeps their disks clean.
//!
//! This package is the shell: cluster access ([`cluster`]), the commands run on nodes
//! ([`runtime`]), the terminal UI ([`tui`]), the commands ([`commands`]) and the CLI ([`cli`]).
//! The rules live in the `kpreload-core` crate (re-exported as [`core`]), and the simulated
//! cluster in `kpreload-sim` (as [`sim`], with the default feature `demo`).

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod registry;
pub mod runtime;
pub mod tui;

pub use kpreload_core as core;
#[cfg(feature = "demo")]
pub use kpreload_sim as sim;
