//! The simulated cluster: a Kubernetes API server on loopback that kubectl and kube-rs use
//! unchanged. `kpreload sim` serves it; tests and the demo start it in-process and reach it
//! over HTTP like any cluster.

mod discovery;
mod events;
mod exec;
pub mod faults;
mod fields;
mod generate;
pub mod kubeconfig;
mod list;
mod node_proxy;
mod objects;
mod openapi;
mod patch;
mod pod_index;
mod pod_log;
pub mod rbac;
pub mod registry;
pub mod resources;
mod rules;
pub mod scenario;
mod selectors;
mod server;
mod status;
mod store;
mod table;
pub mod tls;
mod watch;
pub mod world;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use server::Sim;

/// Watch history kept for resuming watches, per kind (as the API server keeps a watch cache
/// per resource); older versions get 410 Gone.
pub const HISTORY: usize = 50_000;
/// ... and at most this many bytes of each kind's.
pub const HISTORY_BYTES: usize = 64 << 20;

/// A running simulator.
pub struct Running {
    pub sim: Arc<Sim>,
    pub addr: SocketAddr,
    /// The certificate authority clients trust, PEM, where the simulator serves HTTPS (a
    /// scenario with `users`).
    pub ca_pem: Option<String>,
    task: tokio::task::JoinHandle<()>,
    world: Option<world::Machinery>,
}

impl Running {
    /// Where the API is: `https://` for a scenario with users, `http://` otherwise.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Plain HTTP to the same port: the registry (`/v2`) and the control endpoint (`/sim`),
    /// which answer it even where the API is HTTPS only.
    pub fn plain_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for this simulator: its users' contexts and its certificate authority.
    pub fn kubeconfig(&self) -> String {
        kubeconfig::kubeconfig_for(
            &self.url(),
            &self.sim.simulation.users,
            self.ca_pem.as_deref(),
        )
    }

    pub fn stop(self) {
        self.task.abort();
        if let Some(w) = self.world {
            w.stop();
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the simulator listens on loopback only; {0} is not a loopback address (use 127.0.0.1:PORT)"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("{0}")]
    Tls(String),
    #[error("cannot start the simulated cluster's kubelets and controllers: {0}")]
    World(std::io::Error),
}

/// Reads a scenario file, or says in a sentence why it cannot be read.
pub fn load(path: &std::path::Path) -> Result<scenario::Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the scenario {}: {}",
            path.display(),
            kpreload_core::pools::io_reason(&e)
        )
    })?;
    scenario::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

/// Builds a simulator's state from a scenario; `seed` makes its names and pull times.
pub fn build(scenario: scenario::Scenario, seed: u64) -> Result<Arc<Sim>, String> {
    let store = store::Store::new(HISTORY, seed).with_history_bytes(HISTORY_BYTES);
    let scenario::Scenario {
        simulation,
        objects,
    } = scenario;
    // RBAC's bootstrap roles, where requests are authorized.
    let policy = if simulation.users.is_empty() {
        Vec::new()
    } else {
        rbac::bootstrap_policy()
    };
    scenario::load_into(
        &store,
        policy
            .into_iter()
            .chain(objects)
            .chain(scenario::generated(&simulation)),
    )
    .map_err(|e| format!("the scenario could not be loaded: {e}"))?;
    Ok(Arc::new(Sim::new(store, simulation)))
}

/// Binds `listen` (loopback only) and serves `sim` in a background task.
pub async fn start(sim: Arc<Sim>, listen: SocketAddr) -> Result<Running, StartError> {
    if !listen.ip().is_loopback() {
        return Err(StartError::NotLoopback(listen));
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Bind(listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(listen, e))?;
    let _ = sim.address.set(addr.to_string());
    let app = server::router(sim.clone());
    let world = if sim.simulation.controllers {
        Some(world::spawn(sim.clone()).map_err(StartError::World)?)
    } else {
        None
    };
    // Bearer tokens need TLS: kubectl sends none over plain HTTP.
    let tls = if sim.simulation.users.is_empty() {
        None
    } else {
        Some(Arc::new(tls::Tls::generate().map_err(StartError::Tls)?))
    };
    let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
    let task = match tls {
        Some(tls) => tokio::spawn(tls::serve(listener, app, tls)),
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the simulator stopped: {e}");
            }
        }),
    };
    Ok(Running {
        sim,
        addr,
        ca_pem,
        task,
        world,
    })
}
