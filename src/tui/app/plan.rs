//! The cleanup plan from the app's side: open it for what the list shows, confirm, run, back.

use super::*;

impl App {
    /// `cleanup`: on a list, open the plan of what it shows; in the plan, ask to confirm.
    pub(super) fn cleanup_key(&mut self) {
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
    pub(super) fn cleanup_blocked(&self) -> Option<String> {
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

    pub(super) fn ask_to_confirm(&mut self) {
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
    pub(super) fn confirm_key(&mut self, k: KeyEvent) {
        let now = self.now.as_second();
        // A watch that dropped since the dialog opened: what is in use is not known now.
        let unknown = self.cleanup_blocked();
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
                // What blocks a cleanup can appear while the dialog is open (a shard deleted,
                // a preloader that cannot be read): then nothing runs.
                if let Some(why) = unknown.or_else(|| crate::core::cleanup::blocked_run(&c.plan)) {
                    c.phase = Phase::Preview;
                    self.notice = Some(why);
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
                self.effects.push(Effect::RunCleanup(plan));
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
    pub(super) fn plan_back(&mut self) {
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
    pub fn selected_plan_line(&self) -> Option<crate::tui::cleanup::Line> {
        let c = self.cleanup.as_ref()?;
        let filter = &self.view().filter;
        let m = SkimMatcherV2::default();
        c.lines()
            .into_iter()
            .filter(|l| filter.is_empty() || m.fuzzy_match(&c.line_key(l), filter).is_some())
            .nth(self.view().selected)
    }
}
