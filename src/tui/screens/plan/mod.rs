//! The cleanup plan's screen: the plan of the cluster, a pool or a node (its state in
//! [`state`]), keep-N and excluded nodes, the typed confirmation, the run's per-node progress
//! and results (drawn in [`view`]).

mod state;
mod view;

use crossterm::event::{KeyCode, KeyEvent};
use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;

pub use state::Line;
pub use state::{Cleanup, Phase, Scope};

use super::{Component, Row, Screen, View};
use crate::cluster::watch::{self, Link};
use crate::tui::app::{Action, App, Effect};
use crate::tui::config::{Command, Key};

/// The plan on screen (see `App::cleanup`).
pub(crate) struct PlanScreen;

impl Component for PlanScreen {
    fn crumb(&self, _app: &App) -> String {
        "cleanup plan".into()
    }

    fn rows(&self, app: &App) -> Vec<Row> {
        match &app.cleanup {
            Some(c) if matches!(c.phase, Phase::Preview | Phase::Confirm { .. }) => c
                .lines()
                .iter()
                .map(|l| Row {
                    key: c.line_key(l),
                    opens: None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn hints(&self, read_only: bool) -> &'static [Command] {
        if read_only {
            &[Command::Back, Command::Filter, Command::Help]
        } else {
            &[
                Command::Cleanup,
                Command::Exclude,
                Command::Back,
                Command::Help,
            ]
        }
    }

    fn help_section(&self) -> &'static str {
        "plan"
    }

    /// The confirmation dialog takes every key.
    fn key(&self, app: &mut App, key: KeyEvent) -> Option<Option<Action>> {
        matches!(
            app.cleanup,
            Some(Cleanup {
                phase: Phase::Confirm { .. },
                ..
            })
        )
        .then(|| {
            confirm_key(app, key);
            None
        })
    }

    fn command(&self, app: &mut App, command: Command) -> bool {
        match command {
            Command::Back => plan_back(app),
            Command::Cleanup => ask_to_confirm(app),
            Command::KeepMore | Command::KeepLess => keep_key(app, command),
            Command::Exclude => {
                let node = selected_plan_line(app).map(|l| l.node);
                if let (Some(c), Some(node)) = (
                    app.cleanup.as_mut().filter(|c| c.phase == Phase::Preview),
                    node,
                ) && !c.excluded.remove(&node)
                {
                    c.excluded.insert(node);
                }
            }
            _ => return false,
        }
        true
    }

    fn draw(&self, frame: &mut ratatui::Frame, area: ratatui::layout::Rect, app: &App) {
        view::draw(frame, area, app);
    }
}

/// `cleanup` on a list: the plan of what it shows.
pub fn open(app: &mut App, scope: Scope) {
    if let Some(why) = cleanup_blocked(app) {
        app.notice = Some(why);
        return;
    }
    app.cleanup = Some(Cleanup::new(scope, &app.snapshot, app.now.as_second()));
    app.stack.push(View::new(Screen::Plan));
}

/// Why no plan can be made now: what is in use must be known first.
fn cleanup_blocked(app: &App) -> Option<String> {
    let needed = [
        watch::Watch::Nodes,
        watch::Watch::DaemonSets,
        watch::Watch::Workloads,
    ];
    let waiting: Vec<&str> = needed
        .iter()
        .filter(|w| app.links.get(**w) != Link::Live)
        .map(|w| w.resource())
        .collect();
    (!waiting.is_empty()).then(|| {
        format!(
            "the cleanup plan waits for {} to load: what is in use must be known first",
            waiting.join(", ")
        )
    })
}

fn ask_to_confirm(app: &mut App) {
    if app.read_only {
        app.notice = Some("read-only: the plan is a preview; cleanup is off".into());
        return;
    }
    if let Some(why) = cleanup_blocked(app) {
        app.notice = Some(why);
        return;
    }
    let Some(c) = app.cleanup.as_mut().filter(|c| c.phase == Phase::Preview) else {
        return;
    };
    if let Some(why) = crate::core::cleanup::blocked_run(&c.plan) {
        app.notice = Some(why);
        return;
    }
    if c.effective().remove_images() == 0 {
        app.notice = Some("nothing to remove".into());
        return;
    }
    let plan = c.runnable_plan();
    let (ok, blocked) = c.runnable();
    if ok.is_empty() {
        app.notice = Some(format!(
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
fn confirm_key(app: &mut App, k: KeyEvent) {
    let now = app.now.as_second();
    // A watch that dropped since the dialog opened: what is in use is not known now.
    let unknown = cleanup_blocked(app);
    let Some(c) = app.cleanup.as_mut() else {
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
            c.recompute(&app.snapshot, now);
            // What blocks a cleanup can appear while the dialog is open (a shard deleted,
            // a preloader that cannot be read): then nothing runs.
            if let Some(why) = unknown.or_else(|| crate::core::cleanup::blocked_run(&c.plan)) {
                c.phase = Phase::Preview;
                app.notice = Some(why);
                return;
            }
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
            app.effects.push(Effect::RunCleanup(plan));
        }
        KeyCode::Enter => {
            // The dialog stays as it was (what became removable included): only the
            // typing starts over.
            let word = c.scope.word().to_string();
            typed.clear();
            app.notice = Some(format!("type {word} to confirm, or Esc to go back"));
        }
        _ => {}
    }
}

/// Back from the plan: from the results to the refreshed plan, else out of it.
fn plan_back(app: &mut App) {
    let now = app.now.as_second();
    match app.cleanup.as_mut().map(|c| &c.phase) {
        Some(Phase::Running { .. }) => {
            app.notice = Some("a cleanup is running; its results follow".into());
        }
        Some(Phase::Done { .. } | Phase::Confirm { .. }) => {
            if let Some(c) = app.cleanup.as_mut() {
                c.phase = Phase::Preview;
                c.recompute(&app.snapshot, now);
            }
        }
        _ => {
            app.cleanup = None;
            if app.stack.len() > 1 {
                app.stack.pop();
            }
        }
    }
}

/// The plan line under the selection.
pub(crate) fn selected_plan_line(app: &App) -> Option<Line> {
    let c = app.cleanup.as_ref()?;
    let filter = &app.view().filter;
    let m = SkimMatcherV2::default();
    c.lines()
        .into_iter()
        .filter(|l| filter.is_empty() || m.fuzzy_match(&c.line_key(l), filter).is_some())
        .nth(app.view().selected)
}

/// `+`/`-` in the cleanup plan's preview: keep one version more or fewer, and plan again.
fn keep_key(app: &mut App, command: Command) {
    let now = app.now.as_second();
    let Some(c) = app.cleanup.as_mut().filter(|c| c.phase == Phase::Preview) else {
        return;
    };
    let current = c.keep.unwrap_or(crate::core::planner::DEFAULT_KEEP);
    c.keep = Some(if command == Command::KeepMore {
        current + 1
    } else {
        current.saturating_sub(1).max(1)
    });
    c.recompute(&app.snapshot, now);
    let n = app.rows().len();
    let v = app.view_mut();
    v.selected = v.selected.min(n.saturating_sub(1));
}
