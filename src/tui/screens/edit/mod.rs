//! The pool editor: a pool's image list edited in place (add with completion, remove,
//! retag, reorder, undo), a preview of what the change does (the DaemonSet's or the pools
//! file's diff, what each node will pull, whether it fits), then server-side apply (or a
//! write of the pools file in GitOps mode), a conflict explained, and the rollout followed
//! in the pool view. Also a new pool (name, node selector, tolerations, images) and the
//! deletion of a preloader, confirmed by typing its pool's name.
//!
//! The state lives here, the keys in `keys`, opening and answers in `open`, drawing in
//! `view`; the cluster and file work is in [`perform`], which the loop runs in a task (and
//! tests call directly).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};
use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;
use k8s_openapi::api::apps::v1::DaemonSet;

use super::{Component, Screen, View};
use crate::cluster::apply::{ApplyError, Conflict};
use crate::core::adopt::{Origin, read_preloader};
use crate::core::edit::{self, Catalog, DiffLine, Draft, NodePull};
use crate::core::pools::{POOL_NAME_MAX, Pool, PoolsFile, dns_label_problem};
use crate::core::reference::ImageRef;
use crate::core::selector::{NodeSelector, Requirement, Taint, TaintEffect, Toleration};
use crate::tui::app::{Action, App, Effect};
use crate::tui::config::{Command, Key};

/// Nodes whose free image-filesystem space the preview reads, at most.
pub(crate) const FREE_SPACE_NODES: usize = 50;
/// Completion entries shown.
pub(crate) const CHOICES: usize = 8;

/// Where an edit goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Server-side apply to the cluster.
    Cluster,
    /// GitOps: the pools file, rewritten in place.
    File(PathBuf),
}

/// A line being typed with a completion list under it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Picker {
    pub text: String,
    /// The completion moved to with ↑↓; None: the best one (see [`Picker::highlight`]).
    pub selected: Option<usize>,
    /// ↑ past the first completion: Enter takes the text as typed.
    pub typed: bool,
    pub error: Option<String>,
    /// The image (normalised) whose registry is being asked before it is taken.
    pub checking: Option<String>,
}

impl Picker {
    /// The completion Enter takes, by its place in `choices`; None: the text as typed.
    /// Once something is typed, the completion equal to it, else the best one, is
    /// highlighted; ↑ past the first goes to the typed text.
    pub fn highlight(&self, choices: &[(String, String)]) -> Option<usize> {
        if self.typed || choices.is_empty() {
            return None;
        }
        if let Some(i) = self.selected {
            return Some(i.min(choices.len() - 1));
        }
        let typed = self.text.trim();
        if typed.is_empty() {
            return None;
        }
        Some(choices.iter().position(|(c, _)| c == typed).unwrap_or(0))
    }

    /// The text changed: the highlight goes back to the best completion.
    pub(crate) fn edited(&mut self) {
        self.selected = None;
        self.typed = false;
        self.error = None;
        self.checking = None;
    }
}

#[derive(Clone, Debug)]
pub enum Step {
    /// The list, with the selection.
    List,
    /// Adding an image after the selection.
    Add(Picker),
    /// Choosing another tag for the selected image.
    Tag(Picker),
    /// The pool's pull secrets, typed as names separated by commas or spaces.
    Secrets(Picker),
    /// New pool: its name.
    NewName(Picker),
    /// New pool: label requirements, one at a time.
    NewSelector(Picker),
    /// New pool: tolerations proposed from the matching nodes' taints (on/off each).
    NewTolerations {
        proposed: Vec<(Toleration, bool)>,
        selected: usize,
    },
    /// The server (or the file) is being asked what the change does.
    Waiting(String),
    Preview(Box<Preview>),
    Applying,
    Conflict(Conflict),
    Failed(String),
    /// Deleting the preloader: the pool's name typed to confirm.
    Delete {
        typed: String,
    },
}

/// What the preview shows, and what applying it does.
#[derive(Clone, Debug)]
pub struct Preview {
    pub summary: Vec<String>,
    /// Of the DaemonSet (live → after a server-side dry run), or of the pools file.
    pub diff: Vec<DiffLine>,
    pub diff_of: String,
    pub pulls: Vec<NodePull>,
    /// Why some free-space figures are missing, if they are.
    pub free_note: Option<String>,
    /// The hand-written preloader this converts, if it does.
    pub converts: Option<String>,
    pub work: Work,
    /// First diff line shown.
    pub scroll: usize,
    /// Free image-filesystem bytes per node, as read for this preview.
    pub free: HashMap<String, u64>,
    /// Images the registry says cannot be pulled, a sentence each: applying is refused.
    pub refusals: Vec<String>,
    /// Registries that could not say, a sentence each.
    pub unchecked: Vec<String>,
    /// Images whose registry has not answered yet.
    pub checking: usize,
}

#[derive(Clone, Debug)]
pub struct Editor {
    /// The pool as read (selector, tolerations, keep, protect); its images are the original.
    pub pool: Pool,
    pub draft: Draft,
    pub namespace: String,
    /// The preloader's DaemonSet (to be created for a new pool).
    pub daemonset: String,
    pub uid: Option<String>,
    /// The preloader's spec as the editor was opened (a deletion requires it unchanged).
    pub shown: Option<Box<k8s_openapi::api::apps::v1::DaemonSetSpec>>,
    pub new: bool,
    pub origin: Origin,
    pub mode: Mode,
    pub selected: usize,
    pub step: Step,
    pub catalog: Catalog,
    /// Esc was pressed once with unsaved changes.
    pub leaving: bool,
    /// The preloader (or the file's pool) is being deleted.
    pub deleting: bool,
    /// The pull secrets as the editor opened on them.
    pub original_secrets: Vec<String>,
    /// `@` waits for the registry's digest of this image (normalised).
    pub pinning: Option<String>,
}

impl Editor {
    /// Whether the draft differs from what the editor opened on: its images or its pull
    /// secrets.
    pub fn changed(&self) -> bool {
        self.draft.changed() || self.pool.pull_secrets != self.original_secrets
    }
}

/// Work for the loop.
#[derive(Clone, Debug)]
pub enum Work {
    /// Read the live DaemonSet, render the draft, dry-run it; read free space.
    Preview {
        pool: Box<Pool>,
        /// The images the editor started from (None for a new pool): if the preloader (or
        /// the file) lists others by now, someone changed it meanwhile.
        original: Option<Vec<ImageRef>>,
        namespace: String,
        daemonset: String,
        new: bool,
        file: Option<PathBuf>,
        nodes: Vec<String>,
    },
    /// Server-side apply with `seen`'s resourceVersion as the precondition; `note` (what
    /// changed) goes into the audit Event.
    Apply {
        desired: Box<DaemonSet>,
        seen: Option<Box<DaemonSet>>,
        note: String,
    },
    /// Replace a hand-written preloader by its rendered form.
    Convert {
        old: Box<DaemonSet>,
        desired: Box<DaemonSet>,
        note: String,
    },
    /// Write the pools file, if it still reads `before`.
    WriteFile {
        path: PathBuf,
        before: String,
        after: String,
    },
    /// Delete a preloader if it is still the one on screen.
    Delete {
        namespace: String,
        name: String,
        uid: Option<String>,
        spec: Option<Box<k8s_openapi::api::apps::v1::DaemonSetSpec>>,
    },
    /// Remove a pool from the pools file.
    DeleteFromFile { path: PathBuf, pool: String },
}

/// What came back from [`perform`].
#[derive(Clone, Debug)]
pub enum Done {
    Previewed(Result<Box<Previewed>, ApplyError>),
    /// A sentence for the footer.
    Applied(Result<String, ApplyError>),
}

#[derive(Clone, Debug)]
pub struct Previewed {
    pub diff: Vec<DiffLine>,
    pub diff_of: String,
    pub work: Work,
    pub converts: Option<String>,
    /// A sentence for the top of the preview.
    pub note: Option<String>,
    pub free: HashMap<String, u64>,
    pub free_note: Option<String>,
}

impl Editor {
    pub(crate) fn selected_image(&self) -> Option<&ImageRef> {
        self.draft.images.get(self.selected)
    }

    /// The pool as the draft would make it.
    pub(crate) fn drafted(&self) -> Pool {
        Pool {
            images: self.draft.images.clone(),
            ..self.pool.clone()
        }
    }

    /// Completions for the picker of the current step: (text, note).
    pub fn choices(&self, snapshot: &crate::core::progress::Snapshot) -> Vec<(String, String)> {
        let m = SkimMatcherV2::default();
        let rank = |items: Vec<(String, String)>, text: &str| -> Vec<(String, String)> {
            if text.is_empty() {
                return items.into_iter().take(CHOICES).collect();
            }
            let mut scored: Vec<(i64, (String, String))> = items
                .into_iter()
                .filter_map(|i| Some((m.fuzzy_match(&i.0, text)?, i)))
                .collect();
            scored.sort_by_key(|s| std::cmp::Reverse(s.0));
            scored.into_iter().map(|(_, i)| i).take(CHOICES).collect()
        };
        match &self.step {
            Step::Add(p) => {
                let items = self
                    .catalog
                    .known
                    .iter()
                    .filter(|k| {
                        let Ok(r) = ImageRef::parse(&k.image) else {
                            return false;
                        };
                        !self.draft.images.contains(&r)
                    })
                    .map(|k| {
                        let size = k
                            .size
                            .map(|s| format!(", {}", crate::core::units::bytes(s)))
                            .unwrap_or_default();
                        (k.image.clone(), format!("{}{size}", k.seen))
                    })
                    .collect();
                rank(items, &p.text)
            }
            Step::Tag(p) => {
                let Some(image) = self.selected_image() else {
                    return Vec::new();
                };
                let items = self
                    .catalog
                    .tags_of(image)
                    .into_iter()
                    .map(|t| {
                        let note = if Some(t.as_str()) == image.tag() {
                            "now".to_string()
                        } else {
                            String::new()
                        };
                        (t, note)
                    })
                    .collect();
                // Newest first, and filtered by what is typed.
                let typed = p.text.trim_start_matches(':');
                if typed.is_empty() {
                    items
                } else {
                    rank(items, typed)
                }
            }
            Step::NewSelector(p) => {
                let chosen: Vec<String> = self.requirements_text();
                let items = label_choices(snapshot, &self.pool.selector)
                    .into_iter()
                    .filter(|(l, _)| !chosen.contains(l))
                    .collect();
                rank(items, &p.text)
            }
            _ => Vec::new(),
        }
    }

    /// The new pool's label requirements so far, as `key=value`.
    pub(super) fn requirements_text(&self) -> Vec<String> {
        self.pool
            .selector
            .terms
            .first()
            .into_iter()
            .flatten()
            .map(|r| format!("{}={}", r.key, r.values.join(",")))
            .collect()
    }
}

/// `key=value` of every node label, with how many nodes carry it (and also match the
/// requirements chosen so far), most common first.
pub(crate) fn label_choices(
    snapshot: &crate::core::progress::Snapshot,
    selector: &NodeSelector,
) -> Vec<(String, String)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in &snapshot.nodes {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        if !selector.matches(&labels) {
            continue;
        }
        for (k, v) in labels {
            *counts.entry(format!("{k}={v}")).or_default() += 1;
        }
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.into_iter()
        .map(|(l, n)| (l, format!("{n} node{}", if n == 1 { "" } else { "s" })))
        .collect()
}

/// Nodes matching a selector (labels only; taints come next).
pub fn matching(snapshot: &crate::core::progress::Snapshot, selector: &NodeSelector) -> usize {
    snapshot
        .nodes
        .iter()
        .filter(|n| selector.matches(&n.metadata.labels.clone().unwrap_or_default()))
        .count()
}

impl Editor {
    /// The DaemonSet's name after the change (a conversion may rename it).
    pub(crate) fn daemonset_after(&self) -> String {
        self.pool.daemonset_name()
    }
}

mod check;
mod keys;
mod open;
mod view;
mod work;
pub use check::checked;
pub use keys::key;
pub use open::finished;
pub(crate) use open::{
    open, open_adding, open_delete, open_for, open_new_for_node_pool, open_new_pool,
};
pub use work::perform;

/// The editor on screen (see `App::edit`).
pub(crate) struct EditScreen;

impl Component for EditScreen {
    fn crumb(&self, app: &App) -> String {
        match &app.edit {
            Some(e) if e.new => "new pool".to_string(),
            Some(e) => format!("edit {}", e.pool.name),
            None => "editor".to_string(),
        }
    }

    fn hints(&self, _read_only: bool) -> &'static [Command] {
        &[Command::Preview, Command::Back, Command::Help]
    }

    fn help_section(&self) -> &'static str {
        "editor"
    }

    /// Every key is the editor's, but for those that close the help.
    fn key(&self, app: &mut App, key: KeyEvent) -> Option<Option<Action>> {
        (!app.help).then(|| keys::key(app, key))
    }

    fn draw(&self, frame: &mut ratatui::Frame, area: ratatui::layout::Rect, app: &App) {
        view::draw(frame, area, app);
    }
}
