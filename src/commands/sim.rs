//! `kpreload sim`: serve a simulated cluster on loopback until stopped.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};

use kpreload_sim::faults::FaultSettings;
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
        std::fs::write(path, running.kubeconfig())
            .with_context(|| format!("cannot write the kubeconfig to {}", path.display()))?;
    }
    // The handlers are in place before anyone is told where to connect: a SIGTERM sent
    // right after "serving on" stops the simulator cleanly, not by the default action.
    let stop = Shutdown::install();
    let mut out = std::io::stdout();
    writeln!(out, "serving on {url}")?;
    out.flush()?;
    stop.wait().await;
    running.stop();
    Ok(())
}

/// SIGINT and SIGTERM, listened for from the moment this is made.
struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(i), Ok(t)) => Some((i, t)),
                _ => None,
            };
            Shutdown { signals }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
