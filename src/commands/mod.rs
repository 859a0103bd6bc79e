//! The non-interactive commands, each a thin shell around the core.

pub mod apply;
pub mod check;
pub mod cleanup;
pub mod images;
pub mod plan;
pub mod rbac;
pub mod render;
#[cfg(feature = "demo")]
pub mod sim;
/// Without the `demo` feature there is no simulator to serve.
#[cfg(not(feature = "demo"))]
pub mod sim {
    pub async fn run(
        _scenario: &std::path::Path,
        _listen: std::net::SocketAddr,
        _write_kubeconfig: Option<&std::path::Path>,
        _faults: Option<&str>,
    ) -> anyhow::Result<()> {
        anyhow::bail!(
            "this kpreload was built without its simulator (the cargo feature `demo`); build it \
             with the default features to use `kpreload sim`"
        )
    }
}
pub mod status;

/// `-o table|json`, for `status`, `plan`, `cleanup` and `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}
