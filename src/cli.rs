//! Command-line parsing and the binary's edge: errors become one plain sentence on stderr.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;

/// kpreload keeps container images warm on Kubernetes node pools and keeps their disks clean.
#[derive(Debug, Parser)]
#[command(name = "kpreload", version, about, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's global flags.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the preloader DaemonSets.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every pool's preloader DaemonSet as YAML, ready for `kubectl apply -f -`.
    Render {
        /// The pools file.
        #[arg(
            short = 'f',
            long = "filename",
            value_name = "FILE",
            default_value = "pools.yaml"
        )]
        file: PathBuf,
        /// Render only this pool.
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
    },
    /// Serve a simulated cluster (a Kubernetes API server on loopback) until stopped.
    Sim {
        /// The scenario: Kubernetes objects and an optional Simulation document.
        #[arg(long, value_name = "FILE")]
        scenario: PathBuf,
        /// Address to listen on; loopback only. Port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Write a kubeconfig for the simulator (context kpreload-sim) to this file.
        #[arg(long, value_name = "FILE")]
        write_kubeconfig: Option<PathBuf>,
        /// Faults to inject from the start, as JSON (the body of `POST /sim/faults`),
        /// e.g. '{"watchSeconds": 5, "errors": 3}'.
        #[arg(long, value_name = "JSON")]
        faults: Option<String>,
    },
}

/// Runs the binary: parse, dispatch, and turn an error into a plain message and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Render { file, pool } => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            commands::render::run(file, pool.as_deref(), &mut out)
                .and_then(|()| out.flush().map_err(Into::into))
        }
        Command::Sim {
            scenario,
            listen,
            write_kubeconfig,
            faults,
        } => runtime().and_then(|rt| {
            rt.block_on(commands::sim::run(
                scenario,
                *listen,
                write_kubeconfig.as_deref(),
                faults.as_deref(),
            ))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`kpreload render | head`) is not an error worth reporting.
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() == io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("kpreload: {}", sentence(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

fn sentence(message: &str) -> String {
    let m = message.trim_end();
    if m.ends_with(['.', '?', '!']) {
        m.to_string()
    } else {
        format!("{m}.")
    }
}
