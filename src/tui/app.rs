//! The TUI's state and its one update step. Keys, ticks and cluster updates all become
//! [`Action`]s; `update` changes the state and may ask the loop for something (a follow-up).
//! No terminal here: tests drive it with actions and read the state. Keys and the command
//! line are in `keys`, the cleanup plan's confirmation in `plan`, the lists' rows in `rows`.

use crossterm::event::{KeyCode, KeyEvent};
use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;
use jiff::Timestamp;

mod keys;
mod rows;

use super::config::{Command, Config, Key};
use super::screens::plan::{Cleanup, Phase};
use super::screens::{Row, Screen, View};
use crate::cluster::removal::{NodeReport, Step};
use crate::cluster::watch::{self, Link, Links, Update};
use crate::core::cleanup::ClusterPlan;
use crate::core::progress::{self, Overview, Snapshot};

/// What happens next.
#[derive(Debug)]
pub enum Action {
    Key(KeyEvent),
    Cluster(Update),
    /// The slow clock: elapsed times and estimates move on.
    Tick(Timestamp),
    Resize,
    /// Watch another namespace's preloaders (the loop restarts the watches).
    SwitchNamespace(String),
    /// A cleanup run's progress, and its end.
    CleanupStep(Step),
    CleanupDone(Vec<NodeReport>),
    /// The editor's work, done.
    Edit(super::screens::edit::Done),
    /// A kubelet's settings and disk, read (or why not).
    Kubelet(String, crate::cluster::kubelet::Answer),
    /// The insight, derived off the UI thread (None: the derivation failed), for the job
    /// of this number.
    Insight(u64, Option<Box<super::insight::Insight>>),
    /// What a node's runtime said of its pull (`ctr content active`), read at that time.
    Pulls(
        crate::core::progress::bytes::LiveTarget,
        Timestamp,
        Result<Vec<crate::runtime::ActivePull>, String>,
    ),
    /// What an image's registry answered, for nodes of those platforms.
    Checked(
        crate::core::reference::ImageRef,
        Vec<crate::core::registry::Platform>,
        crate::core::registry::Answer,
    ),
    Quit,
}

/// Work the loop does for the app, outside the update step: [`App::update`] and
/// [`App::background`] return them, and the loop performs every one, in order, in one place.
#[derive(Debug)]
pub enum Effect {
    /// Run this plan's removals on the cluster.
    RunCleanup(ClusterPlan),
    /// The editor's: preview, apply, delete (see [`super::screens::edit::Work`]).
    Edit(super::screens::edit::Work),
    /// Watch the preloaders of this namespace instead; whatever was under way stops.
    Watch(String),
    /// Read these nodes' kubelets (settings, image disk) through the node proxy.
    ReadKubelets(Vec<String>),
    /// Read how far these nodes' pulls have come, from their runtimes.
    ReadPulls(Vec<crate::core::progress::bytes::LiveTarget>),
    /// Ask these images' registries (each for the platforms given).
    CheckImages(
        Vec<(
            crate::core::reference::ImageRef,
            Vec<crate::core::registry::Platform>,
        )>,
    ),
    /// Derive the findings and disks from this copy of the cluster, off the UI thread;
    /// `job` tells its answer from a stale one.
    Derive {
        job: u64,
        snapshot: crate::core::progress::Snapshot,
        kubelets: super::kubelets::Kubelets,
        /// What the registries name the pools' tags now.
        registry: super::registry::Digests,
        /// What the workloads' starts say, per pool.
        payoff: Vec<crate::core::payoff::Figures>,
        generation: u64,
    },
}

/// A line being typed at the bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Filter,
    Palette(String),
}

/// What the header shows about the connection.
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub context: String,
    pub cluster: String,
    pub server: String,
    pub namespace: String,
}

/// Nodes per pool whose kubelet the pools list reads (its disk column), and the findings.
pub(crate) const SAMPLE_PER_POOL: usize = 3;
pub(crate) const FINDINGS_PER_POOL: usize = 10;

pub struct App {
    pub config: Config,
    pub header: Header,
    pub read_only: bool,
    pub snapshot: Snapshot,
    pub links: Links,
    pub overview: Overview,
    /// Derives the overview again, reusing the pools nothing changed for.
    deriver: progress::Deriver,
    /// Each pool's row figures, by pool name, as of the last derivation.
    pub(crate) totals: std::collections::HashMap<String, super::screens::pools::Totals>,
    /// The node pools by the providers' labels (the config's), and the nodes in neither a
    /// node pool nor a preloader's pool; derived with the overview.
    pub node_pools: Vec<crate::core::nodepools::NodePool>,
    /// Groups the node pools again only when that can change them.
    grouping: crate::core::nodepools::Grouping,
    pub loose: Vec<String>,
    pub now: Timestamp,
    pub stack: Vec<View>,
    pub input: Option<Input>,
    pub help: bool,
    /// A sentence for the footer (a bad command, a missing pool).
    pub notice: Option<String>,
    pub log_path: Option<String>,
    /// The screen needs drawing.
    pub dirty: bool,
    /// The overview needs deriving again.
    pub stale: bool,
    pub quit: bool,
    /// Rows a page moves; set by the last draw.
    pub page: usize,
    /// Counts pod updates, so caches of pod-derived data know when they are stale.
    pub pods_version: u64,
    /// For the node view: which pods use which image on the node, for (node, pods version).
    pub uses: Option<(String, u64, std::collections::BTreeMap<String, Vec<String>>)>,
    /// The cleanup plan on screen, while it is open.
    pub cleanup: Option<Cleanup>,
    /// The effects the current update asked for; [`App::update`] hands them out.
    pub effects: Vec<Effect>,
    /// The pool editor, while it is open.
    pub edit: Option<super::screens::edit::Editor>,
    /// GitOps mode: edits go to this pools file instead of the cluster.
    pub gitops: Option<std::path::PathBuf>,
    /// The kubelets read so far, and those to read next (taken by the loop).
    pub kubelets: super::kubelets::Kubelets,
    /// Findings, disks and sizing, derived from the snapshot and the kubelets.
    pub insight: Option<super::insight::Insight>,
    /// The bytes of the pulls on screen, read from the nodes' runtimes.
    pub pulls: super::pulls::PullReads,
    /// What the images' registries answered.
    pub registries: super::registry::Registries,
    /// The workloads' container starts, per pool: the hit rate and what is worth preloading.
    pub payoff: super::payoff::Payoff,
    /// The pool the last frame's matrix drew, and its rows in view, exactly.
    pub drawn_rows: std::cell::RefCell<(String, Vec<String>)>,
    /// Moves with every change the insight depends on.
    pub generation: u64,
    /// When the insight was last derived (it is derived at most once a second).
    insight_at: Timestamp,
    /// Derive the insight off the UI thread (the loop does, through `insight_job`); when
    /// false (tests, tools), it is derived in `prepare`.
    pub insight_in_background: bool,
    /// Due, waiting for the loop to take it; taken and not delivered yet.
    insight_asked: bool,
    insight_running: bool,
    /// The number of the latest background job; older answers are dropped.
    insight_job_id: u64,
}

impl App {
    pub fn new(config: Config, header: Header, read_only: bool, now: Timestamp) -> App {
        App {
            config,
            header,
            read_only,
            snapshot: Snapshot::default(),
            // The starts watch is not awaited: without it (RBAC from before it) the rest works,
            // and the pool screen says why its figures are missing.
            links: Links::expecting(
                &watch::watches(watch::PodScope::AllNamespaces)
                    .into_iter()
                    .filter(|w| *w != watch::Watch::Starts)
                    .collect::<Vec<_>>(),
            ),
            overview: Overview::default(),
            deriver: Default::default(),
            totals: Default::default(),
            node_pools: Vec::new(),
            grouping: Default::default(),
            loose: Vec::new(),
            now,
            stack: vec![View::new(Screen::Pools)],
            input: None,
            help: false,
            notice: None,
            log_path: None,
            dirty: true,
            stale: false,
            quit: false,
            page: 10,
            pods_version: 0,
            uses: None,
            cleanup: None,
            effects: Vec::new(),
            edit: None,
            gitops: None,
            kubelets: Default::default(),
            insight: None,
            pulls: Default::default(),
            registries: Default::default(),
            payoff: Default::default(),
            drawn_rows: Default::default(),
            generation: 0,
            insight_at: now,
            insight_in_background: false,
            insight_asked: false,
            insight_running: false,
            insight_job_id: 0,
        }
    }

    pub fn view(&self) -> &View {
        self.stack.last().expect("the stack is never empty")
    }

    pub(crate) fn view_mut(&mut self) -> &mut View {
        self.stack.last_mut().expect("the stack is never empty")
    }

    /// Of the last derivation: the pools derived and those taken as they were, and the
    /// preloader pods read anew.
    pub fn derived(&self) -> (usize, usize, usize) {
        let (derived, reused) = self.deriver.last();
        (derived, reused, self.deriver.pods_read())
    }

    /// Derives the overview again if the snapshot changed.
    pub fn refresh(&mut self) {
        if self.stale {
            self.overview = self
                .deriver
                .derive(&self.snapshot, self.now, &self.pulls.tracker);
            self.pulls.settle(&mut self.overview);
            self.totals = self
                .overview
                .pools
                .iter()
                .map(|p| (p.pool.clone(), super::screens::pools::Totals::of(p)))
                .collect();
            if let Some((node_pools, _)) = self.grouping.regroup(
                &self.snapshot.nodes,
                &self.config.node_pool_labels,
                &self.overview,
            ) {
                self.node_pools = node_pools;
            }
            self.loose = if self.overview.unpooled.is_empty() {
                Vec::new()
            } else {
                let grouped: std::collections::HashSet<&str> = self
                    .node_pools
                    .iter()
                    .flat_map(|p| p.nodes.iter().map(String::as_str))
                    .collect();
                self.overview
                    .unpooled
                    .iter()
                    .filter(|n| !grouped.contains(n.as_str()))
                    .cloned()
                    .collect()
            };
            self.stale = false;
            // A previewed plan follows the cluster; a confirmed or running one does not.
            if let Some(c) = &mut self.cleanup
                && c.phase == Phase::Preview
            {
                c.recompute(&self.snapshot, self.now.as_second());
            }
            let n = self.rows().len();
            let v = self.view_mut();
            v.selected = v.selected.min(n.saturating_sub(1));
        }
    }

    /// Computes what the current view needs from all pods, once per change of pods; asks
    /// for the kubelets of the nodes on screen; derives the insight again (at most once a
    /// second) when the screen shows it.
    pub(crate) fn prepare(&mut self) {
        let wanted = self.kubelets_on_screen();
        self.kubelets
            .want(wanted.iter().map(String::as_str), self.now);
        if self.view().screen.component().shows_insight() {
            let idle = !self.insight_asked && !self.insight_running;
            let due = idle
                && match &self.insight {
                    None => true,
                    Some(i) => {
                        i.generation != self.generation
                            && self.now.as_second() > self.insight_at.as_second()
                    }
                };
            if due {
                self.insight_at = self.now;
                if self.insight_in_background {
                    self.insight_asked = true;
                } else {
                    self.insight = Some(super::insight::Insight::compute(
                        &self.snapshot,
                        &self.kubelets,
                        &self.registries.digests(),
                        &self.payoff.all(),
                        self.generation,
                    ));
                }
            }
        }
        self.view().screen.component().prepare(self);
    }

    /// What the loop derives the insight from, off the UI thread, when it is due: the
    /// snapshot (shared, not copied), the kubelets read, and the generation they make.
    pub(crate) fn insight_job(
        &mut self,
    ) -> Option<(
        u64,
        crate::core::progress::Snapshot,
        super::kubelets::Kubelets,
        super::registry::Digests,
        Vec<crate::core::payoff::Figures>,
        u64,
    )> {
        if !self.insight_asked {
            return None;
        }
        self.insight_asked = false;
        self.insight_running = true;
        self.insight_job_id += 1;
        Some((
            self.insight_job_id,
            self.snapshot.clone(),
            self.kubelets.clone(),
            self.registries.digests(),
            self.payoff.all(),
            self.generation,
        ))
    }

    /// On the findings: the tags of every pool, asked of their registries once a session
    /// (the findings compare the digests the nodes hold with the one the tag names now).
    fn registry_asks(&mut self) -> Option<Effect> {
        if self.registries.off.is_some() || self.view().screen != Screen::Findings {
            return None;
        }
        let mut asks = Vec::new();
        for pool in &self.overview.pools {
            let images: Vec<crate::core::reference::ImageRef> = pool
                .images
                .iter()
                .filter_map(|i| crate::core::reference::ImageRef::parse(i).ok())
                .filter(|i| i.digest().is_none())
                .collect();
            if images
                .iter()
                .all(|i| self.registries.answer_any(i).is_some())
            {
                continue;
            }
            let names: Vec<&str> = pool.nodes.iter().map(|n| n.node.as_str()).collect();
            let platforms = crate::core::registry::Platform::of_nodes(
                self.snapshot
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.metadata
                            .name
                            .as_deref()
                            .is_some_and(|m| names.contains(&m))
                    })
                    .map(|n| n.as_ref()),
            );
            let unanswered: Vec<_> = images
                .into_iter()
                .filter(|i| self.registries.answer_any(i).is_none())
                .collect();
            asks.extend(self.registries.to_ask(&unanswered, &platforms));
        }
        (!asks.is_empty()).then_some(Effect::CheckImages(asks))
    }

    /// The nodes whose kubelet the current screen shows.
    pub(crate) fn kubelets_on_screen(&self) -> Vec<String> {
        self.view().screen.component().kubelets(self)
    }

    /// The first `n` nodes of every pool.
    pub(crate) fn nodes_per_pool(&self, n: usize) -> Vec<String> {
        self.overview
            .pools
            .iter()
            .flat_map(|p| p.nodes.iter().take(n).map(|x| x.node.clone()))
            .collect()
    }

    /// Whether anything on screen moves with the clock.
    fn clock_matters(&self) -> bool {
        !self.links.all_live()
            || (self.view().screen.component().shows_insight()
                && self
                    .insight
                    .as_ref()
                    .is_some_and(|i| i.generation != self.generation))
            || self
                .overview
                .pools
                .iter()
                .any(|p| p.nodes.iter().any(|n| n.pulling() || n.failures() > 0))
    }

    /// Takes an action, and the actions it leads to, and returns the work they ask for:
    /// the one way work leaves the update step.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let mut next = Some(action);
        while let Some(a) = next {
            next = self.step(a);
        }
        std::mem::take(&mut self.effects)
    }

    /// What the screen waits for, asked after a frame is prepared: the kubelets on screen
    /// (at most `reads` at once) and the findings' derivation.
    pub fn background(&mut self, reads: usize) -> Vec<Effect> {
        let mut out = Vec::new();
        let nodes = self.kubelets.take(reads);
        if !nodes.is_empty() {
            out.push(Effect::ReadKubelets(nodes));
        }
        if !self.read_only {
            let nodes = self.view().screen.component().pulls_on_screen(self);
            let due = self
                .pulls
                .due(&self.snapshot, &self.overview, &nodes, self.now);
            if !due.is_empty() {
                out.push(Effect::ReadPulls(due));
            }
        }
        if let Some(asks) = self.registry_asks() {
            out.push(asks);
        }
        if let Some((job, snapshot, kubelets, registry, payoff, generation)) = self.insight_job() {
            out.push(Effect::Derive {
                job,
                snapshot,
                kubelets,
                registry,
                payoff,
                generation,
            });
        }
        out
    }

    /// One action: the state changes it makes, and the action it leads to.
    fn step(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Key(k) => return self.key(k),
            Action::Insight(job, insight) => {
                // A job from before a namespace switch is not this one's.
                if job == self.insight_job_id {
                    if let Some(i) = insight {
                        self.insight = Some(*i);
                    }
                    self.insight_running = false;
                    self.dirty = true;
                }
            }
            // A read asked before a namespace switch is of the namespace left: dropped.
            Action::Pulls(target, _, _) if target.exec.namespace != self.header.namespace => {}
            Action::Pulls(target, at, answer) => {
                self.pulls.answer(&target, at, answer);
                self.stale = true;
                self.dirty = true;
            }
            Action::Checked(image, platforms, answer) => {
                self.registries.answered(&image, &platforms, answer);
                // The findings compare the nodes' digests with the registry's.
                self.generation += 1;
                super::screens::edit::checked(self, &image);
                self.dirty = true;
            }
            Action::Kubelet(node, answer) => {
                self.kubelets.answer(node, answer, self.now);
                self.generation += 1;
                self.dirty = true;
            }
            Action::Cluster(Update::Starts(starts)) => {
                self.payoff.seen(starts, self.now);
                self.generation += 1;
                self.dirty = true;
            }
            Action::Cluster(u) => {
                self.generation += 1;
                let link_change = matches!(u, Update::Link(..));
                if matches!(u, Update::Workloads(_)) {
                    self.pods_version += 1;
                }
                // Which pools a node is in, and what each preloader has pulled where.
                if matches!(
                    u,
                    Update::Nodes(_) | Update::DaemonSets(_) | Update::Pods(_)
                ) {
                    self.payoff.changed();
                }
                watch::absorb(&mut self.snapshot, &mut self.links, u);
                self.payoff.maintain(&self.snapshot, &self.links, self.now);
                if !link_change {
                    self.stale = true;
                }
                self.dirty = true;
            }
            Action::Tick(now) => {
                self.now = now;
                let version = self.payoff.version;
                self.payoff.tick(self.now);
                self.payoff.maintain(&self.snapshot, &self.links, self.now);
                if self.payoff.version != version {
                    self.generation += 1;
                    self.dirty = true;
                }
                self.pulls.sample(&self.overview);
                if self.clock_matters() {
                    self.stale = true;
                    self.dirty = true;
                }
            }
            Action::Resize => self.dirty = true,
            Action::SwitchNamespace(ns) => {
                self.effects.push(Effect::Watch(ns.clone()));
                // The loop stops its tasks (kubelet reads and the insight among them): what
                // they would have answered is asked again.
                self.kubelets.forget_pending();
                self.pulls.forget_pending();
                self.registries.forget_pending();
                self.payoff.clear();
                self.drawn_rows.borrow_mut().1.clear();
                self.insight_running = false;
                self.insight_job_id += 1;
                self.insight = None;
                self.generation += 1;
                self.header.namespace = ns;
                self.snapshot.daemonsets.clear();
                self.snapshot.events.clear();
                self.snapshot.pods.clear();
                for w in [
                    watch::Watch::Pods,
                    watch::Watch::DaemonSets,
                    watch::Watch::Events,
                ] {
                    self.links.set(w, Link::Connecting);
                }
                self.stack.truncate(1);
                self.stale = true;
                self.dirty = true;
            }
            Action::CleanupStep(step) => {
                if let Some(Cleanup {
                    phase:
                        Phase::Running {
                            running, reports, ..
                        },
                    ..
                }) = &mut self.cleanup
                {
                    match step {
                        Step::Started(node) => {
                            running.insert(node);
                        }
                        Step::Finished(report) => {
                            running.remove(&report.node);
                            reports.push(report);
                        }
                    }
                }
                self.dirty = true;
            }
            Action::CleanupDone(reports) => {
                if let Some(c) = &mut self.cleanup {
                    c.phase = Phase::Done { reports };
                }
                self.stale = true;
                self.dirty = true;
            }
            Action::Edit(done) => super::screens::edit::finished(self, done),
            Action::Quit => {
                if self.running() {
                    self.notice =
                        Some("a cleanup or an apply is running; quit when it has finished".into());
                    self.dirty = true;
                } else {
                    self.quit = true;
                }
            }
        }
        None
    }

    /// Whether a cleanup run, or an edit's write, is under way.
    pub fn running(&self) -> bool {
        matches!(
            self.cleanup,
            Some(Cleanup {
                phase: Phase::Running { .. },
                ..
            })
        ) || self
            .edit
            .as_ref()
            .is_some_and(|e| matches!(e.step, super::screens::edit::Step::Applying))
    }

    pub fn open(&mut self, screen: Screen) {
        self.stack.truncate(1);
        if screen != Screen::Pools {
            self.stack.push(View::new(screen));
        }
    }
}
