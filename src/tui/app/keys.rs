//! Keys: the key map's commands, the filter and the command line (`:`).

use super::*;
use crate::tui::screens;

impl App {
    pub(super) fn key(&mut self, k: KeyEvent) -> Option<Action> {
        self.dirty = true;
        match self.input.clone() {
            Some(Input::Filter) => {
                self.filter_key(k);
                return None;
            }
            Some(Input::Palette(text)) => return self.palette_key(k, text),
            None => {}
        }
        let screen = self.view().screen.component();
        if let Some(next) = screen.key(self, k) {
            return next;
        }
        let key = Key::of(&k);
        if self.help {
            return screens::help::key(self, &key);
        }
        self.notice = None;
        let command = self.config.command(&key)?;
        if command == Command::Back && !self.view().filter.is_empty() {
            self.view_mut().filter.clear();
            return None;
        }
        if screen.command(self, command) {
            return None;
        }
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
                if self.stack.len() > 1 {
                    self.stack.pop();
                }
            }
            Command::Findings => self.stack.push(View::new(Screen::Findings)),
            Command::Refresh => self.refresh_key(),
            Command::Edit => screens::edit::open(self),
            Command::DeletePool => screens::edit::open_delete(self),
            // On the pools list too: the selected pool's.
            Command::Suggested => match self.view().screen.component().pool(self) {
                Some(pool) => screens::pool::suggested(self, &pool),
                _ => {
                    self.notice = Some("select a pool to add what its workloads pulled most".into())
                }
            },
            // The screens' own: where a screen does not take them, they do nothing.
            Command::Cleanup
            | Command::KeepMore
            | Command::KeepLess
            | Command::Exclude
            | Command::NewPool
            | Command::Add
            | Command::Remove
            | Command::Tag
            | Command::Pin
            | Command::PullSecrets
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

    /// `r`: read the kubelets on screen again (on the lists: a few of every pool's).
    fn refresh_key(&mut self) {
        let nodes = self.view().screen.component().refresh(self);
        let asked = self.kubelets.reread(nodes.iter().map(String::as_str));
        self.notice = Some(format!(
            "reading {asked} kubelet{} again",
            if asked == 1 { "" } else { "s" }
        ));
    }

    pub(super) fn move_by(&mut self, delta: isize, rows: usize) {
        let v = self.view_mut();
        let max = rows.saturating_sub(1) as isize;
        v.selected = (v.selected as isize + delta).clamp(0, max.max(0)) as usize;
    }

    pub(super) fn filter_key(&mut self, k: KeyEvent) {
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

    pub(super) fn palette_key(&mut self, k: KeyEvent, mut text: String) -> Option<Action> {
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
    pub(crate) fn run_command(&mut self, line: &str) -> Option<Action> {
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
                screens::edit::open_for(self, name);
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
}
