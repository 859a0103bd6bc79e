//! The terminal UI. Background tasks own the watches and send owned updates; the loop turns
//! keys, ticks and updates into actions, runs one update step each, and draws only when
//! something changed, at most once per frame interval.

pub mod app;
pub mod config;
pub mod insight;
pub mod kubelets;
pub mod payoff;
pub mod pulls;
pub mod registry;
pub mod screens;
pub mod views;

use std::time::Duration;

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::cluster::watch::{self, PodScope};
use crate::cluster::{Target, connect};
use app::{Action, App, Effect, Header};
use config::Config;

/// At most this often a frame is drawn.
const FRAME: Duration = Duration::from_millis(16);
/// Nodes a cleanup run cleans at once.
const CLEANUP_CONCURRENCY: usize = 10;
/// The slow tick for elapsed times and estimates.
const CLOCK: Duration = Duration::from_secs(1);
/// Kubelets read at once (each through the API server's node proxy, 5 s at most).
const KUBELET_CONCURRENCY: usize = 4;

/// The TUI on `target`. With `gitops`, edits are written to that pools file (checked
/// before anything starts) instead of the cluster.
/// `registry` is asked about images before they are added (None: `--no-registry`).
pub async fn run(
    target: &Target,
    read_only: bool,
    gitops: Option<&std::path::Path>,
    registry: Option<crate::registry::Registry>,
) -> Result<()> {
    // Everything that can fail plainly fails before the terminal changes.
    let config = Config::load().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(path) = gitops {
        crate::core::pools::PoolsFile::load(path)?;
    }
    let connection = connect(target).await?;
    connection.demo_registry(registry.as_ref());
    let log_path = start_log();
    let header = Header {
        context: connection.context.clone(),
        cluster: connection.cluster.clone(),
        server: connection.server.clone(),
        namespace: connection.namespace.clone(),
    };
    let mut app = App::new(config, header, read_only, jiff::Timestamp::now());
    app.log_path = log_path;
    app.gitops = gitops.map(std::path::Path::to_path_buf);
    // Findings and disks are derived off this thread (hundreds of ms on 5,000 nodes).
    app.insight_in_background = true;

    app.registries = match registry {
        Some(_) => registry::Registries::on(),
        None => registry::Registries::off(
            "--no-registry: images are not checked against their registries",
        ),
    };
    let registry = registry.map(std::sync::Arc::new);
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Work the app asked for (a cleanup run, an edit, kubelet reads, findings) reports here.
    let (work_tx, mut work_rx) = mpsc::unbounded_channel::<Action>();
    let mut worker = Worker {
        client: connection.client.clone(),
        watches: watch::spawn_all(
            &connection.client,
            &connection.namespace,
            PodScope::AllNamespaces,
            &tx,
        ),
        tasks: Vec::new(),
        updates: tx,
        report: work_tx,
        kubelet_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(KUBELET_CONCURRENCY)),
        registry,
    };
    if read_only {
        app.pulls.off = Some("read-only: kpreload does not exec into pods".into());
    }
    // ratatui::init restores the terminal before a panic is printed.
    let mut terminal = ratatui::init();
    let mut keys = EventStream::new();
    let mut clock = tokio::time::interval(CLOCK);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_draw = tokio::time::Instant::now() - FRAME;
    let result: Result<()> = async {
        loop {
            if app.dirty {
                let wait = (last_draw + FRAME).saturating_duration_since(tokio::time::Instant::now());
                if wait.is_zero() {
                    app.refresh();
                    app.before_draw(terminal.size()?.into());
                    terminal.draw(|f| views::draw(f, &app))?;
                    app.dirty = false;
                    last_draw = tokio::time::Instant::now();
                }
            }
            for effect in app.background(KUBELET_CONCURRENCY * 2) {
                worker.perform(effect);
            }
            let next_frame = last_draw + FRAME;
            let action = tokio::select! {
                key = keys.next() => match key {
                    Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => Some(Action::Key(k)),
                    Some(Ok(TermEvent::Resize(..))) => Some(Action::Resize),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(anyhow::anyhow!("cannot read the terminal: {e}")),
                    None => Some(Action::Quit),
                },
                Some(u) = rx.recv() => Some(Action::Cluster(u)),
                Some(a) = work_rx.recv() => Some(a),
                _ = clock.tick() => Some(Action::Tick(jiff::Timestamp::now())),
                () = tokio::time::sleep_until(next_frame), if app.dirty => None,
            };
            for effect in action.map(|a| app.update(a)).unwrap_or_default() {
                worker.perform(effect);
            }
            // Take in the rest of a burst of updates before drawing.
            while let Ok(u) = rx.try_recv() {
                for effect in app.update(Action::Cluster(u)) {
                    worker.perform(effect);
                }
            }
            if app.quit {
                return Ok(());
            }
        }
    }
    .await;
    ratatui::restore();
    worker.stop();
    result
}

/// Where the app's work is done, off the UI loop: the watches, and every task the app asks
/// for. Each task reports back on `report` as an [`Action`].
struct Worker {
    client: kube::Client,
    watches: Vec<tokio::task::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    updates: mpsc::UnboundedSender<watch::Update>,
    report: mpsc::UnboundedSender<Action>,
    kubelet_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// The images' registries (None: `--no-registry`).
    registry: Option<std::sync::Arc<crate::registry::Registry>>,
}

impl Worker {
    /// Watches the preloaders of another namespace; everything under way is stopped (the
    /// app forgets it too).
    fn switch_namespace(&mut self, namespace: &str) {
        for t in self.watches.drain(..).chain(self.tasks.drain(..)) {
            t.abort();
        }
        self.watches = watch::spawn_all(
            &self.client,
            namespace,
            PodScope::AllNamespaces,
            &self.updates,
        );
    }

    /// Every effect the app asks for: a confirmed cleanup run, an edit's cluster or file
    /// work, a namespace switch, kubelet reads (a few at once), the findings' derivation (on
    /// a blocking thread: hundreds of ms on 5,000 nodes).
    fn perform(&mut self, effect: Effect) {
        self.tasks.retain(|t| !t.is_finished());
        let client = self.client.clone();
        let report = self.report.clone();
        let task = match effect {
            Effect::Watch(namespace) => {
                self.switch_namespace(&namespace);
                return;
            }
            Effect::RunCleanup(plan) => tokio::spawn(async move {
                let (steps_tx, mut steps) = mpsc::unbounded_channel();
                let forward = report.clone();
                let relay = tokio::spawn(async move {
                    while let Some(step) = steps.recv().await {
                        let _ = forward.send(Action::CleanupStep(step));
                    }
                });
                let reports = crate::cluster::removal::execute(
                    &client,
                    &plan,
                    CLEANUP_CONCURRENCY,
                    Some(steps_tx),
                )
                .await;
                let _ = relay.await;
                let _ = report.send(Action::CleanupDone(reports));
            }),
            Effect::Edit(work) => tokio::spawn(async move {
                let done = screens::edit::perform(&client, work).await;
                let _ = report.send(Action::Edit(done));
            }),
            Effect::ReadKubelets(nodes) => {
                for node in nodes {
                    let client = client.clone();
                    let report = report.clone();
                    let slots = self.kubelet_slots.clone();
                    self.tasks.push(tokio::spawn(async move {
                        let _slot = slots.acquire_owned().await;
                        let answer = crate::cluster::kubelet::read(&client, &node).await;
                        let _ = report.send(Action::Kubelet(node, answer));
                    }));
                }
                return;
            }
            Effect::ReadPulls(targets) => {
                for target in targets {
                    let client = client.clone();
                    let report = report.clone();
                    self.tasks.push(tokio::spawn(async move {
                        let answer = crate::cluster::pulls::read(&client, &target).await;
                        let _ = report.send(Action::Pulls(target, jiff::Timestamp::now(), answer));
                    }));
                }
                return;
            }
            Effect::CheckImages(images) => {
                let Some(registry) = self.registry.clone() else {
                    return;
                };
                for (image, platforms) in images {
                    let registry = registry.clone();
                    let report = report.clone();
                    // The client keeps to a few at once, and answers each image once.
                    self.tasks.push(tokio::spawn(async move {
                        let answer = registry.check(&image, &platforms).await;
                        let _ = report.send(Action::Checked(image, platforms, answer));
                    }));
                }
                return;
            }
            Effect::Derive {
                job,
                snapshot,
                kubelets,
                registry,
                payoff,
                generation,
            } => tokio::task::spawn_blocking(move || {
                // A failed derivation is reported too, or no other would ever start.
                let insight = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    insight::Insight::compute(&snapshot, &kubelets, &registry, &payoff, generation)
                }))
                .ok()
                .map(Box::new);
                let _ = report.send(Action::Insight(job, insight));
            }),
        };
        self.tasks.push(task);
    }

    fn stop(self) {
        for t in self.watches.into_iter().chain(self.tasks) {
            t.abort();
        }
    }
}

/// Logs go to a file, never to the terminal the UI draws on. The level comes from
/// `KPRELOAD_LOG` (an env filter, default `info`).
fn start_log() -> Option<String> {
    let dir = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kpreload");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("kpreload.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KPRELOAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The registry client's requests carry credentials: its debug lines stay out of the
    // log whatever KPRELOAD_LOG says.
    let filter = ["oci_client=info", "reqwest=info"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, |f, d| f.add_directive(d));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path.display().to_string())
}
