//! Command-line parsing and the binary's edge: errors become one plain sentence on stderr.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;

/// kpreload keeps container images warm on Kubernetes node pools and keeps their disks clean.
///
/// With no command it opens the terminal UI on the current kubeconfig context.
#[derive(Debug, Parser)]
#[command(name = "kpreload", version, about)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// GitOps mode: the TUI writes pool edits to this pools file instead of the cluster.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// kubectl's global flags.
#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the preloader DaemonSets.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Use the built-in simulated cluster instead of a kubeconfig.
    #[arg(long, global = true)]
    pub demo: bool,
    /// The demo cluster's seed: the same seed gives the same pulls in the same order
    /// (with `demo` or --demo).
    #[arg(long, global = true, value_name = "S")]
    pub seed: Option<u64>,
    /// Hide every action that writes to the cluster.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Do not ask the images' registries (an air-gapped machine, say): images are not
    /// checked before apply, render or an edit, and sizes come from what the nodes report.
    #[arg(long, global = true, env = "KPRELOAD_NO_REGISTRY", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_registry: bool,
}

impl ClusterArgs {
    /// The registries, unless `--no-registry`.
    pub fn registry(&self) -> Option<crate::registry::Registry> {
        (!self.no_registry).then(crate::registry::Registry::default)
    }

    pub fn target(&self) -> crate::cluster::Target {
        crate::cluster::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            demo: self.demo,
            seed: self.seed,
        }
    }
}

/// What `plan` and `cleanup` plan with.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Versions kept per line (repository and flavour); default: each pool's own, else 2.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Only the nodes of this pool.
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// Only this node.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Read every node's images from its runtime (exec), not only status.images.
    #[arg(long)]
    pub deep: bool,
    /// Never remove images matching this pattern (repeatable; replaces the pools' own and
    /// the default registry.k8s.io/*; sandbox images are always kept).
    #[arg(long, value_name = "PATTERN")]
    pub protect: Vec<String>,
    /// Order `-slim`, `-alpine` and plain tags as one line instead of one line each.
    #[arg(long)]
    pub flavours_together: bool,
    /// How many nodes are scanned and cleaned at once.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub concurrency: usize,
}

impl PlanArgs {
    fn args(&self) -> commands::plan::Args {
        commands::plan::Args {
            keep: self.keep,
            pool: self.pool.clone(),
            node: self.node.clone(),
            protect: (!self.protect.is_empty()).then(|| self.protect.clone()),
            min_age_secs: None,
            flavours_together: self.flavours_together,
            deep: self.deep,
            concurrency: self.concurrency,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The terminal UI on a built-in simulated cluster: no cluster needed.
    Demo {
        /// GitOps mode: pool edits go to this pools file instead of the simulated cluster.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Pull progress per pool and node, without the terminal UI.
    Status {
        /// Only this pool.
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: commands::status::Format,
        /// Wait until every preloader is complete (exit 0), or something fails (exit 1).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (90s, 5m, 1h30m), with exit 1.
        #[arg(long, value_name = "DURATION", requires = "wait", value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Read how far each pull under way has come from its node's runtime (one exec per
        /// pulling node, up to 100; needs pods/exec). Without it, bytes are estimated.
        #[arg(long)]
        progress: bool,
    },
    /// The cleanup dry run: what a cleanup would remove and keep on each node, and why.
    Plan {
        #[command(flatten)]
        filters: PlanArgs,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: commands::plan::Format,
    },
    /// Will preloading hold? Image GC, headroom, pull settings and evictions, per pool.
    ///
    /// Reads the kubelet's settings (configz) and image disk (stats/summary) of up to
    /// --max-nodes of the pools' nodes. Exit 1 when any finding is a warning or worse.
    Check {
        /// Only this pool.
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: commands::check::Format,
        /// Kubelets asked at most, spread over the pools.
        #[arg(long, value_name = "N", default_value_t = 200)]
        max_nodes: usize,
    },
    /// Remove old image versions from nodes, after showing the plan and a confirmation.
    Cleanup {
        #[command(flatten)]
        filters: PlanArgs,
        /// Go ahead without asking (for pipelines and CronJobs).
        #[arg(long)]
        yes: bool,
    },
    /// Print the least-privilege RBAC kpreload needs, for `kubectl apply -f -`.
    Rbac {
        /// Bind it to this user (default: kpreload).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Bind it to this service account instead, as NAMESPACE:NAME.
        #[arg(long, value_name = "NAMESPACE:NAME")]
        service_account: Option<String>,
    },
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
        /// Split each pool over K DaemonSets, its images balanced by the sizes the cluster
        /// reports, so they pull in parallel where the kubelet allows it
        /// (serializeImagePulls: false). Overrides the file's `shards`.
        #[arg(long, value_name = "K", conflicts_with = "cronjob")]
        shards: Option<usize>,
        /// Print the scheduled cleanup instead: a CronJob running `kpreload cleanup --yes`
        /// in the pools file's namespace (only --pool's nodes, with --pool), its
        /// ServiceAccount and exactly the RBAC cleanup needs. The file's `cleanup:` section
        /// gives the image, schedule and pool the flags do not.
        #[arg(long)]
        cronjob: bool,
        /// With --cronjob: the image holding the kpreload binary (the Containerfile builds it).
        #[arg(long, value_name = "IMAGE", requires = "cronjob")]
        image: Option<String>,
        /// With --cronjob: when it runs, in cron's five fields or as @daily, @hourly, …
        /// (default: the file's cleanup.schedule, else "0 3 * * *").
        #[arg(long, value_name = "CRON", requires = "cronjob")]
        schedule: Option<String>,
    },
    /// Apply every pool's preloader DaemonSet server-side (field manager kpreload).
    ///
    /// Each DaemonSet is dry-run on the server first; if any would conflict or fail, none
    /// is applied. Prints created, configured or unchanged for each.
    Apply {
        /// The pools file.
        #[arg(
            short = 'f',
            long = "filename",
            value_name = "FILE",
            default_value = "pools.yaml"
        )]
        file: PathBuf,
        /// Apply only this pool.
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        /// Ask the server what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Convert the hand-written preloaders of the file's pools (the article's
        /// DaemonSets) into kpreload's: the change is shown and asked for first.
        #[arg(long)]
        adopt: bool,
        /// With --adopt: convert without asking.
        #[arg(long, requires = "adopt")]
        yes: bool,
    },
    /// Print a shell completion script: `kpreload completions bash > /etc/bash_completion.d/kpreload`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `kpreload man > kpreload.1; man ./kpreload.1`.
    Man,
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

/// The command line as clap sees it: `kpreload`, or `kubectl preload` when the binary runs
/// as kubectl's plugin (installed as `kubectl-preload` on the PATH).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let invoked = std::env::args_os().next().unwrap_or_default();
    let name = std::path::Path::new(&invoked)
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cmd = Cli::command();
    if name.starts_with("kubectl-") {
        cmd.bin_name("kubectl preload")
            .display_name("kubectl preload")
    } else {
        cmd
    }
}

/// Runs the binary: parse, dispatch, and turn an error into a plain message and exit 1.
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let target = cli.cluster.target();
    let result = match &cli.command {
        _ if cli.cluster.seed.is_some()
            && !cli.cluster.demo
            && !matches!(cli.command, Some(Command::Demo { .. })) =>
        {
            Err(anyhow::anyhow!(
                "--seed sets the demo cluster's seed; use it with `kpreload demo` or --demo"
            ))
        }
        Some(Command::Completions { shell }) => {
            // Completions are for the `kpreload` command (a plugin's would need kubectl's own
            // completion hook; `kubectl preload` is not a name a shell completes).
            let mut cmd = {
                use clap::CommandFactory;
                Cli::command()
            };
            let name = "kpreload".to_string();
            let stdout = io::stdout();
            let mut out = stdout.lock();
            clap_complete::generate(*shell, &mut cmd, name, &mut out);
            out.flush().map_err(Into::into)
        }
        Some(Command::Man) => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            clap_mangen::Man::new(command())
                .render(&mut out)
                .and_then(|()| out.flush())
                .map_err(Into::into)
        }
        None => {
            one_malloc_arena();
            runtime().and_then(|rt| {
                rt.block_on(crate::tui::run(
                    &target,
                    cli.cluster.read_only,
                    cli.file.as_deref(),
                    cli.cluster.registry(),
                ))
            })
        }
        Some(_) if cli.file.is_some() => Err(anyhow::anyhow!(
            "-f before a command is the TUI's GitOps mode; put it after the command (kpreload apply -f pools.yaml)"
        )),
        Some(Command::Demo { file }) => {
            one_malloc_arena();
            let target = crate::cluster::Target {
                demo: true,
                ..target
            };
            runtime().and_then(|rt| {
                rt.block_on(crate::tui::run(
                    &target,
                    cli.cluster.read_only,
                    file.as_deref(),
                    cli.cluster.registry(),
                ))
            })
        }
        Some(Command::Status { progress: true, .. }) if cli.cluster.read_only => {
            Err(anyhow::anyhow!(
                "--progress reads the pulls' bytes by exec into the preloader pods, which \
                 --read-only rules out; without --progress the bytes are estimated"
            ))
        }
        Some(Command::Status {
            pool,
            output,
            wait,
            timeout,
            progress,
        }) => runtime().and_then(|rt| {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let options = commands::status::StatusOptions {
                pool: pool.as_deref(),
                format: *output,
                wait: *wait,
                timeout: *timeout,
                progress: *progress,
            };
            rt.block_on(commands::status::run(&target, &options, &mut out))
                .and_then(|()| out.flush().map_err(Into::into))
        }),
        Some(Command::Plan { filters, output }) => runtime().and_then(|rt| {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            rt.block_on(commands::plan::run(
                &target,
                &filters.args(),
                *output,
                &mut out,
            ))
            .and_then(|()| out.flush().map_err(Into::into))
        }),
        Some(Command::Check {
            pool,
            output,
            max_nodes,
        }) => runtime().and_then(|rt| {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let registry = cli.cluster.registry();
            let options = commands::check::CheckOptions {
                pool: pool.as_deref(),
                format: *output,
                max_nodes: *max_nodes,
                registry: registry.as_ref(),
            };
            let result = rt.block_on(commands::check::run(&target, &options, &mut out));
            out.flush()?;
            result
        }),
        Some(Command::Cleanup { .. }) if cli.cluster.read_only => Err(anyhow::anyhow!(
            "cleanup removes images and --read-only was given; `kpreload plan` shows the same \
             plan without changing anything"
        )),
        Some(Command::Cleanup { filters, yes }) => runtime().and_then(|rt| {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let mut ask = commands::cleanup::Terminal;
            rt.block_on(commands::cleanup::run(
                &target,
                &filters.args(),
                *yes,
                &mut ask,
                &mut out,
            ))
            .and_then(|()| out.flush().map_err(Into::into))
        }),
        Some(Command::Rbac {
            user,
            service_account,
        }) => commands::rbac::parse_subject(user.as_deref(), service_account.as_deref()).and_then(
            |subject| {
                let stdout = io::stdout();
                let mut out = stdout.lock();
                let ns = cli
                    .cluster
                    .namespace
                    .as_deref()
                    .unwrap_or(crate::cluster::DEFAULT_NAMESPACE);
                commands::rbac::run(ns, &subject, cli.cluster.read_only, &mut out)
            },
        ),
        Some(Command::Render {
            file,
            pool,
            cronjob: true,
            image,
            schedule,
            ..
        }) => (|| -> anyhow::Result<()> {
            let pools = crate::core::pools::PoolsFile::load(file)?;
            if let Some(p) = pool.as_deref() {
                pools
                    .select(Some(p), &file.display().to_string())
                    .map_err(|e| anyhow::anyhow!(e))?;
            }
            let Some(options) = commands::cronjob::of_file(
                &pools,
                image.as_deref(),
                schedule.as_deref(),
                pool.as_deref(),
            ) else {
                anyhow::bail!(
                    "render --cronjob needs the image holding the kpreload binary: give --image IMAGE, or image: in the cleanup: section of {}",
                    file.display()
                );
            };
            let text = commands::cronjob::render(&options)?;
            let stdout = io::stdout();
            let mut out = stdout.lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        })(),
        Some(Command::Render {
            file, pool, shards, ..
        }) => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let registry = cli.cluster.registry();
            let options = commands::render::RenderOptions {
                file,
                pool: pool.as_deref(),
                shards: *shards,
                registry: registry.as_ref(),
            };
            commands::render::run(&target, &options, &mut out)
                .and_then(|()| out.flush().map_err(Into::into))
        }
        Some(Command::Apply { dry_run: false, .. }) if cli.cluster.read_only => {
            Err(anyhow::anyhow!(
                "apply writes to the cluster and --read-only was given; add --dry-run to see what it would change"
            ))
        }
        Some(Command::Apply {
            file,
            pool,
            dry_run,
            adopt,
            yes,
        }) => runtime().and_then(|rt| {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let registry = cli.cluster.registry();
            rt.block_on(commands::apply::run(
                &target,
                file,
                commands::apply::ApplyOptions {
                    only: pool.as_deref(),
                    dry_run: *dry_run,
                    adopt: commands::apply::Adopt {
                        adopt: *adopt,
                        yes: *yes,
                    },
                    registry: registry.as_ref(),
                },
                &mut commands::cleanup::Terminal,
                &mut out,
            ))
            .and_then(|()| out.flush().map_err(Into::into))
        }),
        Some(Command::Sim {
            scenario,
            listen,
            write_kubeconfig,
            faults,
        }) => {
            one_malloc_arena();
            runtime().and_then(|rt| {
                rt.block_on(commands::sim::run(
                    scenario,
                    *listen,
                    write_kubeconfig.as_deref(),
                    faults.as_deref(),
                ))
            })
        }
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

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::core::units::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration; write 90s, 5m or 1h30m"))
}

/// The simulator and the TUI hold a cluster for their whole run and replace its objects from
/// the runtime's worker threads. With glibc's arena per thread, what one thread allocated
/// and another freed stays in arenas that no longer serve it: on 5,000 nodes the simulator's
/// first heartbeats alone leave about 250 MB that no arena can return, and the TUI with
/// 150,000 pods holds 147 MiB against 133 MiB in one arena. Neither is bound by allocation.
/// Called before the runtime's threads exist (the TUI's benchmark calls it too).
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one of the allocator's tunables; it is called before any thread
    // but the main one exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
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
