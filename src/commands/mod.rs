//! The non-interactive commands, each a thin shell around the core.

pub mod apply;
pub mod check;
pub mod cleanup;
pub mod plan;
pub mod rbac;
pub mod render;
pub mod sim;
pub mod status;

/// `-o table|json`, for `status`, `plan`, `cleanup` and `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}
