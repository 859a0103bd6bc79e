//! `kpreload sim`: serve a simulated cluster on loopback until stopped.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::sim::faults::FaultSettings;
use crate::sim::kubeconfig::kubeconfig;
use crate::sim::scenario::{self, Scenario};
use crate::sim::store::Store;
use crate::sim::{HISTORY, Sim, start};

pub fn load(path: &Path) -> Result<Scenario> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the scenario {}: {}",
            path.display(),
            crate::core::pools::io_reason(&e)
        )
    })?;
    Ok(scenario::parse(&text, &path.display().to_string())?)
}

/// Builds a simulator's state from a scenario.
pub fn build(scenario: Scenario, seed: u64) -> Result<Arc<Sim>> {
    let store = Store::new(HISTORY, seed);
    scenario::load_into(&store, scenario.objects)
        .map_err(|e| anyhow::anyhow!("the scenario could not be loaded: {e}"))?;
    Ok(Arc::new(Sim::new(store, scenario.simulation)))
}

pub async fn run(
    scenario: &Path,
    listen: SocketAddr,
    write_kubeconfig: Option<&Path>,
    faults: Option<&str>,
) -> Result<()> {
    let sim = build(load(scenario)?, crate::cluster::DEMO_SEED)?;
    if let Some(json) = faults {
        let settings: FaultSettings = serde_json::from_str(json).map_err(|e| {
            anyhow::anyhow!("--faults is not valid: {e}; see `POST /sim/faults` in the README")
        })?;
        settings
            .check()
            .map_err(|e| anyhow::anyhow!("--faults is not valid: {e}"))?;
        sim.faults.set(settings);
    }
    let running = start(sim, listen).await?;
    let url = running.url();
    if let Some(path) = write_kubeconfig {
        std::fs::write(path, kubeconfig(&url))
            .with_context(|| format!("cannot write the kubeconfig to {}", path.display()))?;
    }
    let mut out = std::io::stdout();
    writeln!(out, "serving on {url}")?;
    out.flush()?;
    shutdown_signal().await;
    running.stop();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
