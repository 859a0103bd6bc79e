//! The non-interactive commands, each a thin shell around the core.

pub mod apply;
pub mod check;
pub mod cleanup;
pub mod plan;
pub mod rbac;
pub mod render;
pub mod sim;
pub mod status;
