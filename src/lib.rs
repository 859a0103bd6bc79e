//! kpreload keeps container images warm on Kubernetes node pools and keeps their disks clean.
//!
//! The library holds everything; the `kpreload` binary is a thin shell over [`cli`].

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod core;
pub mod runtime;
pub mod sim;
pub mod tui;
