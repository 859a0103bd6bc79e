//! The non-interactive commands, each a thin shell around the core.

pub mod apply;
pub mod check;
pub mod cleanup;
pub mod cronjob;
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

/// A pool's payoff in the contracts' shape (docs/contracts.md): `hit_rate`, `pull_seconds`,
/// `waiting_seconds`, the starts, `workload_images` (what workloads started with, most seconds
/// lost first), and `suggestions`; with no figures (the events not read), the counts null
/// and the lists empty.
pub(crate) fn payoff_json(f: Option<&crate::core::payoff::Figures>) -> serde_json::Value {
    let Some(f) = f else {
        return serde_json::json!({"hit_rate": null, "starts": null, "present": null,
            "pulled": null, "failed": null, "pulling": null, "pull_seconds": null,
            "waiting_seconds": null, "since": null, "workload_images": [], "suggestions": []});
    };
    let when = |t: i64| jiff::Timestamp::from_second(t).ok().map(|t| t.to_string());
    serde_json::json!({
        "hit_rate": f.hit_rate,
        "starts": f.starts,
        "present": f.present,
        "pulled": f.pulled,
        "failed": f.failed,
        "pulling": f.pulling,
        "pull_seconds": f.pull_seconds,
        "waiting_seconds": f.waiting_seconds,
        "since": f.since.and_then(when),
        "workload_images": f.images.iter().map(|c| serde_json::json!({
            "image": c.image,
            "mark": c.mark,
            "starts": c.starts,
            "present": c.present,
            "pulled": c.pulled,
            "failed": c.failed,
            "pulling": c.pulling,
            "pull_seconds": c.pull_seconds,
            "waiting_seconds": c.waiting_seconds,
            "bytes": c.bytes,
            "hit_rate_preloaded": c.hit_rate_preloaded,
        })).collect::<Vec<_>>(),
        "suggestions": f.suggestions.iter().map(|s| serde_json::json!({
            "image": s.image,
            "mark": s.mark,
            "starts": s.starts,
            "pulled": s.pulled,
            "pull_seconds": s.pull_seconds,
            "waiting_seconds": s.waiting_seconds,
            "bytes": s.bytes,
            "headroom": s.headroom,
            "fits": s.fits(),
        })).collect::<Vec<_>>(),
    })
}
