//! The pool editor: a pool's image list edited in place (add with completion, remove,
//! retag, reorder, undo), a preview of what the change does (the DaemonSet's or the pools
//! file's diff, what each node will pull, whether it fits), then server-side apply (or a
//! write of the pools file in GitOps mode), a conflict explained, and the rollout followed
//! in the pool view. Also a new pool (name, node selector, tolerations, images) and the
//! deletion of a preloader, confirmed by typing its pool's name.
//!
//! The keys and the state live here; the cluster and file work is in [`perform`], which the
//! loop runs in a task (and tests call directly).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};
use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;
use k8s_openapi::api::apps::v1::DaemonSet;

use super::app::{Action, App, Effect, Screen, View};
use super::config::{Command, Key};
use crate::cluster::apply::{ApplyError, Conflict};
use crate::core::adopt::{Origin, read_preloader};
use crate::core::edit::{self, Catalog, DiffLine, Draft, NodePull, Rates};
use crate::core::pools::{POOL_NAME_MAX, Pool, PoolsFile, dns_label_problem};
use crate::core::reference::ImageRef;
use crate::core::selector::{Effect as TaintEffect, NodeSelector, Requirement, Taint, Toleration};

/// Nodes whose free image-filesystem space the preview reads, at most.
pub const FREE_SPACE_NODES: usize = 50;
/// Completion entries shown.
pub const CHOICES: usize = 8;

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
    /// The highlighted completion; None: the typed text.
    pub selected: Option<usize>,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Step {
    /// The list, with the selection.
    List,
    /// Adding an image after the selection.
    Add(Picker),
    /// Choosing another tag for the selected image.
    Tag(Picker),
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
}

/// Work for the loop.
#[derive(Clone, Debug)]
pub enum Work {
    /// Read the live DaemonSet, render the draft, dry-run it; read free space.
    Preview {
        pool: Pool,
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
    pub fn selected_image(&self) -> Option<&ImageRef> {
        self.draft.images.get(self.selected)
    }

    /// The pool as the draft would make it.
    pub fn drafted(&self) -> Pool {
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

    fn requirements_text(&self) -> Vec<String> {
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
pub fn label_choices(
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

impl App {
    fn edit_mode(&self) -> Mode {
        match &self.gitops {
            Some(p) => Mode::File(p.clone()),
            None => Mode::Cluster,
        }
    }

    /// `edit` on a pool (the pool view, or a pool's row in the list).
    pub fn open_editor(&mut self) {
        let Some(pool) = self.pool_in_view() else {
            self.notice = Some("select a pool to edit its images".into());
            return;
        };
        self.open_editor_for(&pool);
    }

    /// The editor on pool `pool`: its preloader's list, or in GitOps mode the file's (a pool
    /// the file has and the cluster not yet included: `:edit NAME`).
    pub fn open_editor_for(&mut self, pool: &str) {
        let mode = self.edit_mode();
        let progress = self.overview.pools.iter().find(|p| p.pool == pool).cloned();
        let ds = progress.as_ref().and_then(|progress| {
            self.snapshot.daemonsets.iter().find(|d| {
                d.metadata.name.as_deref() == Some(progress.daemonset.as_str())
                    && d.metadata.namespace.as_deref() == Some(progress.namespace.as_str())
            })
        });
        let (pool_def, namespace, daemonset, origin) = match &mode {
            Mode::Cluster => {
                let (Some(progress), Some(ds)) = (&progress, ds) else {
                    self.notice = Some(match &progress {
                        Some(p) => format!("the preloader {} is not loaded yet", p.daemonset),
                        None => format!("no pool named {pool:?}"),
                    });
                    return;
                };
                match read_preloader(ds) {
                    // A split pool, or one with DaemonSets of two shapes at once (an apply
                    // stopped part-way): editing one of them would leave the others behind.
                    Some(Ok(p)) if p.shard.is_some() || !progress.shards.is_empty() => {
                        self.notice = Some(format!(
                            "the pool {pool} {}; edit its images in the pools file and run \
                             kpreload apply (or kpreload -f FILE)",
                            progress.daemonsets_phrase()
                        ));
                        return;
                    }
                    Some(Ok(p)) => (
                        p.pool,
                        progress.namespace.clone(),
                        progress.daemonset.clone(),
                        progress.origin,
                    ),
                    Some(Err(e)) => {
                        self.notice = Some(format!("{e}; fix it with kubectl first"));
                        return;
                    }
                    None => {
                        self.notice = Some(format!(
                            "{} is not a preloader kpreload can read",
                            progress.daemonset
                        ));
                        return;
                    }
                }
            }
            Mode::File(path) => {
                let file = match PoolsFile::load(path) {
                    Ok(f) => f,
                    Err(e) => {
                        self.notice = Some(e.to_string());
                        return;
                    }
                };
                let Some(p) = file.pools.iter().find(|p| p.name == pool).cloned() else {
                    self.notice = Some(format!(
                        "{} has no pool {pool:?}; edits go to that file (GitOps mode), so add the pool there first (n)",
                        path.display()
                    ));
                    return;
                };
                let daemonset = p.daemonset_name();
                (p, file.namespace.clone(), daemonset, Origin::Rendered)
            }
        };
        let catalog = Catalog::from_snapshot(&self.snapshot, &self.overview);
        self.edit = Some(Editor {
            draft: Draft::new(&pool_def.name, pool_def.images.clone()),
            pool: pool_def,
            namespace,
            daemonset,
            uid: ds.and_then(|d| d.metadata.uid.clone()),
            shown: ds.map(|d| Box::new(d.spec.clone())),
            new: false,
            origin,
            mode,
            selected: 0,
            step: Step::List,
            catalog,
            leaving: false,
            deleting: false,
        });
        self.stack.push(View::new(Screen::Edit));
    }

    /// `new-pool`: a name, a node selector, tolerations, then images.
    pub fn open_new_pool(&mut self) {
        let catalog = Catalog::from_snapshot(&self.snapshot, &self.overview);
        let namespace = self.header.namespace.clone();
        self.edit = Some(Editor {
            pool: Pool {
                name: String::new(),
                selector: NodeSelector::default(),
                tolerations: Vec::new(),
                images: Vec::new(),
                keep: None,
                protect: None,
                shards: 1,
            },
            draft: Draft::new("", Vec::new()),
            namespace,
            daemonset: String::new(),
            uid: None,
            shown: None,
            new: true,
            origin: Origin::Rendered,
            mode: self.edit_mode(),
            selected: 0,
            step: Step::NewName(Picker::default()),
            catalog,
            leaving: false,
            deleting: false,
        });
        self.stack.push(View::new(Screen::Edit));
    }

    /// `delete-pool`: opens the confirmation for the selected (or viewed) pool's preloader.
    pub fn open_delete(&mut self) {
        if self.read_only {
            self.notice = Some("read-only: deleting a preloader is off".into());
            return;
        }
        let Some(pool) = self.pool_in_view() else {
            self.notice = Some("select a pool to delete its preloader".into());
            return;
        };
        if self.gitops.is_none()
            && let Some(p) = self.overview.pools.iter().find(|p| p.pool == pool)
            && !p.shards.is_empty()
        {
            self.notice = Some(format!(
                "the pool {pool} {}; remove it from the pools file and delete them with \
                 kubectl delete daemonset -n {} {}",
                p.daemonsets_phrase(),
                p.namespace,
                p.shards.join(" ")
            ));
            return;
        }
        self.open_editor();
        if let Some(e) = &mut self.edit
            && e.pool.name == pool
        {
            e.step = Step::Delete {
                typed: String::new(),
            };
        }
    }

    /// The pool of the current view, or of the selected row on the pools list.
    fn pool_in_view(&self) -> Option<String> {
        match &self.view().screen {
            Screen::Pool(p) => Some(p.clone()),
            Screen::Pools => match self.selected_row()?.opens? {
                Screen::Pool(p) => Some(p),
                _ => None,
            },
            _ => None,
        }
    }

    fn close_editor(&mut self) {
        self.edit = None;
        if self.view().screen == Screen::Edit {
            self.stack.pop();
        }
    }

    /// `preview`: ask the cluster (or the file) what the draft does.
    fn start_preview(&mut self) {
        let nodes = {
            let Some(e) = self.edit.as_ref() else { return };
            self.nodes_of(&e.drafted())
        };
        let Some(e) = self.edit.as_mut() else { return };
        if e.draft.images.is_empty() {
            self.notice = Some("add an image first (a)".into());
            return;
        }
        if !e.draft.changed() && !e.new && e.origin == Origin::Rendered {
            self.notice = Some("nothing changed yet".into());
            return;
        }
        let work = Work::Preview {
            pool: e.drafted(),
            original: (!e.new).then(|| e.draft.original.clone()),
            namespace: e.namespace.clone(),
            daemonset: e.daemonset.clone(),
            new: e.new,
            file: match &e.mode {
                Mode::File(p) => Some(p.clone()),
                Mode::Cluster => None,
            },
            nodes: nodes.into_iter().take(FREE_SPACE_NODES).collect(),
        };
        e.step = Step::Waiting(match &e.mode {
            Mode::Cluster => "asking the API server for a dry run…".into(),
            Mode::File(p) => format!("reading {}…", p.display()),
        });
        self.effect = Some(Effect::Edit(work));
    }

    /// The nodes a pool's preloader runs on (the known pool's, else by its selector).
    fn nodes_of(&self, pool: &Pool) -> Vec<String> {
        match self.overview.pools.iter().find(|p| p.pool == pool.name) {
            Some(p) if !p.nodes.is_empty() => p.nodes.iter().map(|n| n.node.clone()).collect(),
            _ => edit::pool_nodes(&self.snapshot.nodes, pool),
        }
    }

    /// The loop's answer to [`Work`].
    pub fn edit_done(&mut self, done: Done) {
        self.dirty = true;
        let nodes = match self.edit.as_ref() {
            Some(e) => self.nodes_of(&e.drafted()),
            None => return,
        };
        let rates = Rates::from_overview(&self.overview);
        let snapshot = &self.snapshot;
        let Some(e) = self.edit.as_mut() else { return };
        match done {
            Done::Previewed(Ok(p)) => {
                if !matches!(e.step, Step::Waiting(_)) {
                    return;
                }
                let pulls = edit::pulls(
                    snapshot,
                    &nodes,
                    &e.draft.images,
                    &e.catalog,
                    &rates,
                    &p.free,
                );
                let mut summary = if e.new {
                    vec![format!(
                        "new pool {}: {} node{}, {} image{}",
                        e.pool.name,
                        nodes.len(),
                        if nodes.len() == 1 { "" } else { "s" },
                        e.draft.images.len(),
                        if e.draft.images.len() == 1 { "" } else { "s" }
                    )]
                } else {
                    e.draft.summary()
                };
                if let Some(n) = &p.note {
                    summary.insert(0, n.clone());
                }
                if let Some(old) = &p.converts {
                    summary.insert(
                        0,
                        format!(
                            "converts the hand-written {old} to kpreload's rendered form: it is deleted and {} created (its pods are replaced; images on the nodes stay)",
                            e.daemonset_after()
                        ),
                    );
                }
                e.step = Step::Preview(Box::new(Preview {
                    summary,
                    diff: p.diff,
                    diff_of: p.diff_of,
                    pulls,
                    free_note: p.free_note,
                    converts: p.converts,
                    work: p.work,
                    scroll: 0,
                }));
            }
            Done::Previewed(Err(ApplyError::Conflict(c)))
            | Done::Applied(Err(ApplyError::Conflict(c))) => {
                e.deleting = false;
                e.step = Step::Conflict(c);
            }
            Done::Previewed(Err(ApplyError::Failed(f)))
            | Done::Applied(Err(ApplyError::Failed(f))) => {
                e.deleting = false;
                e.step = Step::Failed(f);
            }
            Done::Applied(Ok(message)) => {
                let pool = e.pool.name.clone();
                let deleted = e.deleting;
                let file = matches!(e.mode, Mode::File(_));
                self.edit = None;
                self.stack.truncate(1);
                if !deleted && !file {
                    self.stack.push(View::new(Screen::Pool(pool)));
                }
                self.notice = Some(message);
            }
        }
    }
}

impl Editor {
    /// The DaemonSet's name after the change (a conversion may rename it).
    pub fn daemonset_after(&self) -> String {
        self.pool.daemonset_name()
    }
}

mod keys;
mod work;
pub use work::perform;
