//! `kpreload sim`: serve a simulated cluster on loopback until stopped.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};

use kpreload_sim::faults::FaultSettings;
use kpreload_sim::kubeconfig::kubeconfig;
use kpreload_sim::{build, load, start};

pub async fn run(
    scenario: &Path,
    listen: SocketAddr,
    write_kubeconfig: Option<&Path>,
    faults: Option<&str>,
) -> Result<()> {
    let sim = build(
        load(scenario).map_err(anyhow::Error::msg)?,
        crate::cluster::DEMO_SEED,
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(json) = faults {
        let settings: FaultSettings = serde_json::from_str(json).map_err(|e| {
            anyhow::anyhow!(
                "--faults is not valid: {e}; see `POST /sim/faults` in docs/simulator.md"
            )
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
