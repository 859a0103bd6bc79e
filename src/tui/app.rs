//! The TUI's state and its one update step. Keys, ticks and cluster updates all become
//! [`Action`]s; `update` changes the state and may ask the loop for something (a follow-up).
//! No terminal here: tests drive it with actions and read the state.

use crossterm::event::{KeyCode, KeyEvent};
use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;
use jiff::Timestamp;

use super::cleanup::{Cleanup, Phase, Scope};
use super::config::{Command, Config, Key};
use crate::cluster::cleanup::{NodeReport, Step};
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
    Edit(super::edit::Done),
    /// A kubelet's settings and disk, read (or why not).
    Kubelet(String, crate::cluster::kubelet::Answer),
    /// The insight, derived off the UI thread (None: the derivation failed), for the job
    /// of this number.
    Insight(u64, Option<Box<super::insight::Insight>>),
    Quit,
}

/// Work the loop does for the app, outside the update step.
#[derive(Debug)]
pub enum Effect {
    /// Run this plan's removals on the cluster.
    RunCleanup(ClusterPlan),
    /// The editor's: preview, apply, delete (see [`super::edit::Work`]).
    Edit(super::edit::Work),
}

/// Which screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Pools,
    Pool(String),
    Node(String),
    /// The cleanup plan (its scope and state are in `App::cleanup`).
    Plan,
    /// The pool editor (its state is in `App::edit`).
    Edit,
    /// Disk and kubelet findings: will preloading hold?
    Findings,
}

/// One entry of the navigation stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub screen: Screen,
    pub selected: usize,
    pub filter: String,
    /// First image column shown (the pool matrix scrolls sideways).
    pub column: usize,
}

impl View {
    pub fn new(screen: Screen) -> View {
        View {
            screen,
            selected: 0,
            filter: String::new(),
            column: 0,
        }
    }
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

/// A row of the current list: what Enter opens, and the text the filter matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub opens: Option<Screen>,
}

/// Nodes per pool whose kubelet the pools list reads (its disk column), and the findings.
const SAMPLE_PER_POOL: usize = 3;
const FINDINGS_PER_POOL: usize = 10;

pub struct App {
    pub config: Config,
    pub header: Header,
    pub read_only: bool,
    pub snapshot: Snapshot,
    pub links: Links,
    pub overview: Overview,
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
    /// Work for the loop (a cleanup run), taken by it after each update.
    pub effect: Option<Effect>,
    /// The pool editor, while it is open.
    pub edit: Option<super::edit::Editor>,
    /// GitOps mode: edits go to this pools file instead of the cluster.
    pub gitops: Option<std::path::PathBuf>,
    /// The kubelets read so far, and those to read next (taken by the loop).
    pub kubelets: super::kubelets::Kubelets,
    /// Findings, disks and sizing, derived from the snapshot and the kubelets.
    pub insight: Option<super::insight::Insight>,
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
            links: Links::expecting(&watch::watches(watch::PodScope::AllNamespaces)),
            overview: Overview::default(),
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
            effect: None,
            edit: None,
            gitops: None,
            kubelets: Default::default(),
            insight: None,
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

    fn view_mut(&mut self) -> &mut View {
        self.stack.last_mut().expect("the stack is never empty")
    }

    /// Derives the overview again if the snapshot changed.
    pub fn refresh(&mut self) {
        if self.stale {
            self.overview = progress::derive(&self.snapshot, self.now);
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
    pub fn prepare(&mut self) {
        let wanted = self.kubelets_on_screen();
        self.kubelets
            .want(wanted.iter().map(String::as_str), self.now);
        if matches!(
            self.view().screen,
            Screen::Pools | Screen::Pool(_) | Screen::Node(_) | Screen::Findings
        ) {
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
                        self.generation,
                    ));
                }
            }
        }
        self.prepare_uses();
    }

    /// What the loop derives the insight from, off the UI thread, when it is due: the
    /// snapshot (shared, not copied), the kubelets read, and the generation they make.
    pub fn insight_job(
        &mut self,
    ) -> Option<(
        u64,
        crate::core::progress::Snapshot,
        super::kubelets::Kubelets,
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
            self.generation,
        ))
    }

    /// The nodes whose kubelet the current screen shows: a few per pool on the pools list,
    /// the rows in view of a pool, the node, or up to ten per pool for the findings.
    pub fn kubelets_on_screen(&self) -> Vec<String> {
        let per_pool = |n: usize| -> Vec<String> {
            self.overview
                .pools
                .iter()
                .flat_map(|p| p.nodes.iter().take(n).map(|x| x.node.clone()))
                .collect()
        };
        match &self.view().screen {
            Screen::Pools => per_pool(SAMPLE_PER_POOL),
            Screen::Findings => per_pool(FINDINGS_PER_POOL),
            Screen::Pool(_) => {
                let rows = self.rows();
                let (first, count) =
                    super::views::window(self.view().selected, rows.len(), self.page as u16 + 2);
                rows[first..first + count]
                    .iter()
                    .map(|r| r.key.clone())
                    .collect()
            }
            Screen::Node(n) => vec![n.clone()],
            _ => Vec::new(),
        }
    }

    fn prepare_uses(&mut self) {
        if let Screen::Node(name) = &self.view().screen {
            let fresh = self
                .uses
                .as_ref()
                .is_some_and(|(n, v, _)| n == name && *v == self.pods_version);
            if !fresh {
                let name = name.clone();
                let uses = used_by(&self.snapshot, &name);
                self.uses = Some((name, self.pods_version, uses));
            }
        }
    }

    /// Whether anything on screen moves with the clock.
    fn clock_matters(&self) -> bool {
        !self.links.all_live()
            || (matches!(
                self.view().screen,
                Screen::Pools | Screen::Pool(_) | Screen::Node(_) | Screen::Findings
            ) && self
                .insight
                .as_ref()
                .is_some_and(|i| i.generation != self.generation))
            || self
                .overview
                .pools
                .iter()
                .any(|p| p.nodes.iter().any(|n| n.pulling() || n.failures() > 0))
    }

    pub fn update(&mut self, action: Action) -> Option<Action> {
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
            Action::Kubelet(node, answer) => {
                self.kubelets.answer(node, answer, self.now);
                self.generation += 1;
                self.dirty = true;
            }
            Action::Cluster(u) => {
                self.generation += 1;
                let link_change = matches!(u, Update::Link(..));
                if matches!(u, Update::Workloads(_)) {
                    self.pods_version += 1;
                }
                watch::absorb(&mut self.snapshot, &mut self.links, u);
                if !link_change {
                    self.stale = true;
                }
                self.dirty = true;
            }
            Action::Tick(now) => {
                self.now = now;
                if self.clock_matters() {
                    self.stale = true;
                    self.dirty = true;
                }
            }
            Action::Resize => self.dirty = true,
            Action::SwitchNamespace(ns) => {
                // The loop stops its tasks (kubelet reads and the insight among them): what
                // they would have answered is asked again.
                self.kubelets.forget_pending();
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
            Action::Edit(done) => self.edit_done(done),
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
            .is_some_and(|e| matches!(e.step, super::edit::Step::Applying))
    }

    fn key(&mut self, k: KeyEvent) -> Option<Action> {
        self.dirty = true;
        match self.input.clone() {
            Some(Input::Filter) => {
                self.filter_key(k);
                return None;
            }
            Some(Input::Palette(text)) => return self.palette_key(k, text),
            None => {}
        }
        if self.view().screen == Screen::Edit && !self.help {
            return self.edit_key(k);
        }
        if let Some(Cleanup {
            phase: Phase::Confirm { .. },
            ..
        }) = &self.cleanup
            && self.view().screen == Screen::Plan
        {
            self.confirm_key(k);
            return None;
        }
        let key = Key::of(&k);
        if self.help {
            // Any key closes the help; quit still quits.
            self.help = false;
            return (self.config.command(&key) == Some(Command::Quit)).then_some(Action::Quit);
        }
        self.notice = None;
        let command = self.config.command(&key)?;
        let rows = self.rows().len();
        let page = self.page.max(1);
        match command {
            Command::Up => self.move_by(-1, rows),
            Command::Down => self.move_by(1, rows),
            Command::PageUp => self.move_by(-(page as isize), rows),
            Command::PageDown => self.move_by(page as isize, rows),
            Command::Top => self.view_mut().selected = 0,
            Command::Bottom => self.view_mut().selected = rows.saturating_sub(1),
            Command::Left => {
                let v = self.view_mut();
                v.column = v.column.saturating_sub(1);
            }
            Command::Right => {
                let max = self.columns().saturating_sub(1);
                let v = self.view_mut();
                v.column = (v.column + 1).min(max);
            }
            Command::Open => {
                if let Some(screen) = self.selected_row().and_then(|r| r.opens) {
                    self.stack.push(View::new(screen));
                }
            }
            Command::Back => {
                if !self.view().filter.is_empty() {
                    self.view_mut().filter.clear();
                } else if self.view().screen == Screen::Plan {
                    self.plan_back();
                } else if self.stack.len() > 1 {
                    self.stack.pop();
                }
            }
            Command::Cleanup => self.cleanup_key(),
            Command::KeepMore | Command::KeepLess => {
                let now = self.now.as_second();
                let c = self
                    .cleanup
                    .as_mut()
                    .filter(|c| c.phase == Phase::Preview)?;
                let current = c.keep.unwrap_or(crate::core::planner::DEFAULT_KEEP);
                c.keep = Some(if command == Command::KeepMore {
                    current + 1
                } else {
                    current.saturating_sub(1).max(1)
                });
                c.recompute(&self.snapshot, now);
                let n = self.rows().len();
                let v = self.view_mut();
                v.selected = v.selected.min(n.saturating_sub(1));
            }
            Command::Exclude => {
                let node = self.selected_plan_line().map(|l| l.node);
                if let (Some(c), Some(node)) = (
                    self.cleanup.as_mut().filter(|c| c.phase == Phase::Preview),
                    node,
                ) && !c.excluded.remove(&node)
                {
                    c.excluded.insert(node);
                }
            }
            Command::Findings => {
                if self.view().screen != Screen::Findings {
                    self.stack.push(View::new(Screen::Findings));
                }
            }
            Command::Refresh => {
                let nodes = match &self.view().screen {
                    Screen::Findings | Screen::Pools => self
                        .overview
                        .pools
                        .iter()
                        .flat_map(|p| p.nodes.iter().take(FINDINGS_PER_POOL))
                        .map(|n| n.node.clone())
                        .collect(),
                    _ => self.kubelets_on_screen(),
                };
                let asked = self.kubelets.reread(nodes.iter().map(String::as_str));
                self.notice = Some(format!(
                    "reading {asked} kubelet{} again",
                    if asked == 1 { "" } else { "s" }
                ));
            }
            Command::Edit => self.open_editor(),
            Command::NewPool => {
                if self.view().screen == Screen::Pools {
                    self.open_new_pool();
                }
            }
            Command::DeletePool => self.open_delete(),
            Command::Add
            | Command::Remove
            | Command::Tag
            | Command::MoveUp
            | Command::MoveDown
            | Command::Undo
            | Command::Preview
            | Command::Apply => {}
            Command::Filter => self.input = Some(Input::Filter),
            Command::Palette => self.input = Some(Input::Palette(String::new())),
            Command::Help => self.help = true,
            Command::Quit => return Some(Action::Quit),
        }
        None
    }

    /// `cleanup`: on a list, open the plan of what it shows; in the plan, ask to confirm.
    fn cleanup_key(&mut self) {
        let scope = match &self.view().screen {
            Screen::Pools => Scope::Cluster,
            Screen::Pool(p) => Scope::Pool(p.clone()),
            Screen::Node(n) => Scope::Node(n.clone()),
            Screen::Plan => {
                self.ask_to_confirm();
                return;
            }
            Screen::Edit | Screen::Findings => return,
        };
        if let Some(why) = self.cleanup_blocked() {
            self.notice = Some(why);
            return;
        }
        self.cleanup = Some(Cleanup::new(scope, &self.snapshot, self.now.as_second()));
        self.stack.push(View::new(Screen::Plan));
    }

    /// Why no plan can be made now: what is in use must be known first.
    fn cleanup_blocked(&self) -> Option<String> {
        let needed = [
            watch::Watch::Nodes,
            watch::Watch::DaemonSets,
            watch::Watch::Workloads,
        ];
        let waiting: Vec<&str> = needed
            .iter()
            .filter(|w| self.links.get(**w) != Link::Live)
            .map(|w| w.resource())
            .collect();
        (!waiting.is_empty()).then(|| {
            format!(
                "the cleanup plan waits for {} to load: what is in use must be known first",
                waiting.join(", ")
            )
        })
    }

    fn ask_to_confirm(&mut self) {
        if self.read_only {
            self.notice = Some("read-only: the plan is a preview; cleanup is off".into());
            return;
        }
        if let Some(why) = self.cleanup_blocked() {
            self.notice = Some(why);
            return;
        }
        let Some(c) = self.cleanup.as_mut().filter(|c| c.phase == Phase::Preview) else {
            return;
        };
        if let Some(why) = crate::core::cleanup::blocked_run(&c.plan) {
            self.notice = Some(why);
            return;
        }
        if c.effective().remove_images() == 0 {
            self.notice = Some("nothing to remove".into());
            return;
        }
        let plan = c.runnable_plan();
        let (ok, blocked) = c.runnable();
        if ok.is_empty() {
            self.notice = Some(format!(
                "cleanup cannot run on {} (see each node's line); nothing to confirm",
                blocked.join(", ")
            ));
            return;
        }
        c.phase = Phase::Confirm {
            typed: String::new(),
            keys: plan.removal_keys(),
            grew: Vec::new(),
        };
    }

    /// Keys in the confirmation dialog: the word, Enter, Esc.
    fn confirm_key(&mut self, k: KeyEvent) {
        let now = self.now.as_second();
        let Some(c) = self.cleanup.as_mut() else {
            return;
        };
        let Phase::Confirm { typed, keys, .. } = &mut c.phase else {
            return;
        };
        match k.code {
            KeyCode::Esc => c.phase = Phase::Preview,
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Char(ch) if !Key::of(&k).ctrl => typed.push(ch),
            KeyCode::Enter if typed.as_str() == c.scope.word() => {
                // Plan again right before removing: anything new needs its own yes.
                let keys = keys.clone();
                c.recompute(&self.snapshot, now);
                let mut plan = c.runnable_plan();
                let new = c.describe_new(&plan, &keys);
                if !new.is_empty() {
                    c.phase = Phase::Confirm {
                        typed: String::new(),
                        keys: plan.removal_keys(),
                        grew: new,
                    };
                    return;
                }
                plan.restrict_to(&keys);
                plan.nodes
                    .retain(|n| n.plan.removals().next().is_some() && n.facts.blocked().is_none());
                let total = plan.nodes.len();
                c.phase = Phase::Running {
                    total,
                    running: Default::default(),
                    reports: Vec::new(),
                };
                self.effect = Some(Effect::RunCleanup(plan));
            }
            KeyCode::Enter => {
                // The dialog stays as it was (what became removable included): only the
                // typing starts over.
                let word = c.scope.word().to_string();
                typed.clear();
                self.notice = Some(format!("type {word} to confirm, or Esc to go back"));
            }
            _ => {}
        }
    }

    /// Back from the plan: from the results to the refreshed plan, else out of it.
    fn plan_back(&mut self) {
        let now = self.now.as_second();
        match self.cleanup.as_mut().map(|c| &c.phase) {
            Some(Phase::Running { .. }) => {
                self.notice = Some("a cleanup is running; its results follow".into());
            }
            Some(Phase::Done { .. } | Phase::Confirm { .. }) => {
                if let Some(c) = self.cleanup.as_mut() {
                    c.phase = Phase::Preview;
                    c.recompute(&self.snapshot, now);
                }
            }
            _ => {
                self.cleanup = None;
                if self.stack.len() > 1 {
                    self.stack.pop();
                }
            }
        }
    }

    /// The plan line under the selection.
    pub fn selected_plan_line(&self) -> Option<super::cleanup::Line> {
        let c = self.cleanup.as_ref()?;
        let filter = &self.view().filter;
        let m = SkimMatcherV2::default();
        c.lines()
            .into_iter()
            .filter(|l| filter.is_empty() || m.fuzzy_match(&c.line_key(l), filter).is_some())
            .nth(self.view().selected)
    }

    fn move_by(&mut self, delta: isize, rows: usize) {
        let v = self.view_mut();
        let max = rows.saturating_sub(1) as isize;
        v.selected = (v.selected as isize + delta).clamp(0, max.max(0)) as usize;
    }

    fn filter_key(&mut self, k: KeyEvent) {
        match k.code {
            KeyCode::Enter => self.input = None,
            KeyCode::Esc => {
                self.input = None;
                self.view_mut().filter.clear();
            }
            KeyCode::Backspace => {
                self.view_mut().filter.pop();
            }
            KeyCode::Char(c) if !Key::of(&k).ctrl => {
                self.view_mut().filter.push(c);
                self.view_mut().selected = 0;
            }
            _ => {}
        }
        let n = self.rows().len();
        let v = self.view_mut();
        v.selected = v.selected.min(n.saturating_sub(1));
    }

    fn palette_key(&mut self, k: KeyEvent, mut text: String) -> Option<Action> {
        match k.code {
            KeyCode::Esc => self.input = None,
            KeyCode::Backspace => {
                if text.pop().is_none() {
                    self.input = None;
                } else {
                    self.input = Some(Input::Palette(text));
                }
            }
            KeyCode::Enter => {
                self.input = None;
                return self.run_command(text.trim());
            }
            KeyCode::Char(c) if !Key::of(&k).ctrl => {
                text.push(c);
                self.input = Some(Input::Palette(text));
            }
            _ => {}
        }
        None
    }

    /// `:pool ml`, `:node web-2`, `:ns kube-system`, `:q`.
    pub fn run_command(&mut self, line: &str) -> Option<Action> {
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or_default();
        let arg = words.next();
        match (verb, arg) {
            ("q" | "quit", None) => return Some(Action::Quit),
            ("pool" | "p", Some(name)) => {
                if self.overview.pools.iter().any(|p| p.pool == name) {
                    self.open(Screen::Pool(name.to_string()));
                } else {
                    let known: Vec<&str> = self
                        .overview
                        .pools
                        .iter()
                        .map(|p| p.pool.as_str())
                        .collect();
                    self.notice = Some(format!(
                        "no pool named {name:?}; the pools are {}",
                        if known.is_empty() {
                            "none yet".to_string()
                        } else {
                            known.join(", ")
                        }
                    ));
                }
            }
            ("edit" | "e", Some(name)) => {
                self.open(Screen::Pools);
                self.open_editor_for(name);
            }
            ("node" | "no", Some(name)) => {
                if self
                    .snapshot
                    .nodes
                    .iter()
                    .any(|n| n.metadata.name.as_deref() == Some(name))
                {
                    self.open(Screen::Node(name.to_string()));
                } else {
                    self.notice = Some(format!("no node named {name:?}"));
                }
            }
            ("ns" | "namespace", Some(_)) if self.running() => {
                self.notice =
                    Some("a cleanup is running; switch namespaces when it has finished".into());
            }
            ("ns" | "namespace", Some(ns)) => {
                if let Some(problem) = crate::core::pools::dns_label_problem(ns, 63) {
                    self.notice = Some(format!("{ns:?} is not a namespace name: {problem}"));
                } else if ns != self.header.namespace {
                    return Some(Action::SwitchNamespace(ns.to_string()));
                }
            }
            ("findings" | "f", None) => self.open(Screen::Findings),
            ("", None) => {}
            _ => {
                self.notice = Some(format!(
                    "unknown command {line:?}; try pool NAME, node NAME, edit POOL, findings, ns NAMESPACE or q"
                ));
            }
        }
        None
    }

    pub fn open(&mut self, screen: Screen) {
        self.stack.truncate(1);
        if screen != Screen::Pools {
            self.stack.push(View::new(screen));
        }
    }

    /// The current list's rows, after the filter.
    pub fn rows(&self) -> Vec<Row> {
        let all = self.all_rows();
        let filter = &self.view().filter;
        if filter.is_empty() {
            return all;
        }
        let m = SkimMatcherV2::default();
        all.into_iter()
            .filter(|r| m.fuzzy_match(&r.key, filter).is_some())
            .collect()
    }

    fn all_rows(&self) -> Vec<Row> {
        match &self.view().screen {
            Screen::Pools => {
                let mut rows: Vec<Row> = self
                    .overview
                    .pools
                    .iter()
                    .map(|p| Row {
                        key: p.pool.clone(),
                        opens: Some(Screen::Pool(p.pool.clone())),
                    })
                    .collect();
                rows.extend(self.overview.unpooled.iter().map(|n| Row {
                    key: n.clone(),
                    opens: Some(Screen::Node(n.clone())),
                }));
                rows
            }
            Screen::Pool(name) => self
                .overview
                .pools
                .iter()
                .find(|p| &p.pool == name)
                .map(|p| {
                    p.nodes
                        .iter()
                        .map(|n| Row {
                            key: n.node.clone(),
                            opens: Some(Screen::Node(n.node.clone())),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Screen::Node(name) => self
                .snapshot
                .nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(name))
                .and_then(|n| n.status.as_ref()?.images.clone())
                .unwrap_or_default()
                .iter()
                .map(|i| Row {
                    key: super::views::node::display_name(i),
                    opens: None,
                })
                .collect(),
            Screen::Edit => Vec::new(),
            Screen::Findings => self
                .insight
                .as_ref()
                .map(|i| {
                    i.findings
                        .iter()
                        .map(|f| Row {
                            key: format!(
                                "{} {} {}",
                                f.severity.word(),
                                f.code,
                                f.pool.as_deref().unwrap_or("-")
                            ),
                            opens: f.pool.clone().map(Screen::Pool),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Screen::Plan => match &self.cleanup {
                Some(c) if matches!(c.phase, Phase::Preview | Phase::Confirm { .. }) => c
                    .lines()
                    .iter()
                    .map(|l| Row {
                        key: c.line_key(l),
                        opens: None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }

    pub fn selected_row(&self) -> Option<Row> {
        self.rows().into_iter().nth(self.view().selected)
    }

    /// Image columns of the pool matrix.
    fn columns(&self) -> usize {
        match &self.view().screen {
            Screen::Pool(name) => self
                .overview
                .pools
                .iter()
                .find(|p| &p.pool == name)
                .map_or(0, |p| p.images.len()),
            _ => 0,
        }
    }

    /// Positions of the filter's matched characters in `text`, for highlighting.
    pub fn matches(&self, text: &str) -> Vec<usize> {
        let filter = &self.view().filter;
        if filter.is_empty() {
            return Vec::new();
        }
        SkimMatcherV2::default()
            .fuzzy_indices(text, filter)
            .map(|(_, i)| i)
            .unwrap_or_default()
    }
}

/// Pods on a node by the images their containers run (normalized names).
fn used_by(snapshot: &Snapshot, node: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in &snapshot.workloads {
        let Some(spec) = &p.spec else { continue };
        if spec.node_name.as_deref() != Some(node) {
            continue;
        }
        let pod = p.metadata.name.clone().unwrap_or_default();
        for c in &spec.containers {
            let normalized = c
                .image
                .as_deref()
                .and_then(|i| crate::core::reference::ImageRef::parse(i).ok())
                .map(|r| r.normalized());
            if let Some(n) = normalized {
                let list = out.entry(n).or_default();
                if !list.contains(&pod) {
                    list.push(pod.clone());
                }
            }
        }
    }
    out
}
