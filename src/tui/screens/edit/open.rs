//! The editor's place in the app: opening it on a pool, a new pool or a deletion, and its
//! refusals.

use super::*;

fn edit_mode(app: &App) -> Mode {
    match &app.gitops {
        Some(p) => Mode::File(p.clone()),
        None => Mode::Cluster,
    }
}

/// `edit` on a pool (the pool view, or a pool's row in the list).
pub fn open(app: &mut App) {
    let Some(pool) = pool_in_view(app) else {
        app.notice = Some("select a pool to edit its images".into());
        return;
    };
    open_for(app, &pool);
}

/// The editor on pool `pool`: its preloader's list, or in GitOps mode the file's (a pool
/// the file has and the cluster not yet included: `:edit NAME`).
pub(crate) fn open_for(app: &mut App, pool: &str) {
    let mode = edit_mode(app);
    let progress = app.overview.pools.iter().find(|p| p.pool == pool).cloned();
    let ds = progress.as_ref().and_then(|progress| {
        app.snapshot.daemonsets.iter().find(|d| {
            d.metadata.name.as_deref() == Some(progress.daemonset.as_str())
                && d.metadata.namespace.as_deref() == Some(progress.namespace.as_str())
        })
    });
    let (pool_def, namespace, daemonset, origin) = match &mode {
        Mode::Cluster => {
            let (Some(progress), Some(ds)) = (&progress, ds) else {
                app.notice = Some(match &progress {
                    Some(p) => format!("the preloader {} is not loaded yet", p.daemonset),
                    None => format!("no pool named {pool:?}"),
                });
                return;
            };
            match read_preloader(ds) {
                // A split pool, or one with DaemonSets of two shapes at once (an apply
                // stopped part-way): editing one of them would leave the others behind.
                Some(Ok(p)) if p.shard.is_some() || !progress.shards.is_empty() => {
                    app.notice = Some(format!(
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
                    app.notice = Some(format!("{e}; fix it with kubectl first"));
                    return;
                }
                None => {
                    app.notice = Some(format!(
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
                    app.notice = Some(e.to_string());
                    return;
                }
            };
            let Some(p) = file.pools.iter().find(|p| p.name == pool).cloned() else {
                app.notice = Some(format!(
                    "{} has no pool {pool:?}; edits go to that file (GitOps mode), so add the pool there first (n)",
                    path.display()
                ));
                return;
            };
            let daemonset = p.daemonset_name();
            (p, file.namespace.clone(), daemonset, Origin::Rendered)
        }
    };
    let catalog = Catalog::from_snapshot(&app.snapshot, &app.overview);
    app.edit = Some(Editor {
        draft: Draft::new(&pool_def.name, pool_def.images.clone()),
        original_secrets: pool_def.pull_secrets.clone(),
        pinning: None,
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
    app.stack.push(View::new(Screen::Edit));
}

/// `new-pool`: a name, a node selector, tolerations, then images.
pub(crate) fn open_new_pool(app: &mut App) {
    let catalog = Catalog::from_snapshot(&app.snapshot, &app.overview);
    let namespace = app.header.namespace.clone();
    app.edit = Some(Editor {
        pool: Pool {
            name: String::new(),
            selector: NodeSelector::default(),
            tolerations: Vec::new(),
            images: Vec::new(),
            keep: None,
            protect: None,
            shards: 1,
            pull_secrets: Vec::new(),
        },
        draft: Draft::new("", Vec::new()),
        namespace,
        daemonset: String::new(),
        uid: None,
        shown: None,
        new: true,
        origin: Origin::Rendered,
        mode: edit_mode(app),
        selected: 0,
        step: Step::NewName(Picker::default()),
        catalog,
        leaving: false,
        deleting: false,
        original_secrets: Vec::new(),
        pinning: None,
    });
    app.stack.push(View::new(Screen::Edit));
}

/// `new-pool` on a node pool: its name, its label as the selector and the tolerations its
/// taints need proposed (and ticked), then its images.
pub(crate) fn open_new_for_node_pool(app: &mut App, node_pool: &str) {
    let Some(np) = app.node_pools.iter().find(|p| p.name == node_pool).cloned() else {
        app.notice = Some(format!("no node pool named {node_pool:?}"));
        return;
    };
    if let Some((pool, _, _)) = np.preloaders.first() {
        app.notice = Some(format!(
            "the node pool {} is preloaded by the pool {pool} already; e on that pool edits its images",
            np.name
        ));
        return;
    }
    open_new_pool(app);
    let snapshot = app.snapshot.clone();
    let taken = app.overview.pools.iter().any(|p| p.pool == np.name);
    let Some(e) = app.edit.as_mut() else { return };
    e.pool.selector = NodeSelector {
        terms: vec![vec![Requirement::equals(&np.source, &np.name)]],
    };
    let valid = dns_label_problem(&np.name, POOL_NAME_MAX).is_none() && !taken;
    if !valid {
        // The name must be changed first; the selector stays.
        e.step = Step::NewName(Picker {
            text: np.name.clone(),
            error: Some(if taken {
                format!("a pool named {:?} exists; choose another name", np.name)
            } else {
                "not a pool name as it is; change it".into()
            }),
            ..Default::default()
        });
        return;
    }
    e.pool.name = np.name.clone();
    e.draft = Draft::new(&np.name, Vec::new());
    e.daemonset = e.pool.daemonset_name();
    let proposed = super::keys::proposed_tolerations(&snapshot, &e.pool.selector);
    e.step = if proposed.is_empty() {
        Step::Add(Picker::default())
    } else {
        Step::NewTolerations {
            proposed,
            selected: 0,
        }
    };
    app.notice = Some(format!(
        "a preloader for the node pool {} ({} nodes, {}={}): {}",
        np.name,
        np.nodes.len(),
        np.source,
        np.name,
        if np.taints.is_empty() {
            "now the images: type or pick one".to_string()
        } else {
            "its taints' tolerations are ticked; Enter takes them".to_string()
        }
    ));
}

/// `delete-pool`: opens the confirmation for the selected (or viewed) pool's preloader.
pub(crate) fn open_delete(app: &mut App) {
    if app.read_only {
        app.notice = Some("read-only: deleting a preloader is off".into());
        return;
    }
    let Some(pool) = pool_in_view(app) else {
        app.notice = Some("select a pool to delete its preloader".into());
        return;
    };
    if app.gitops.is_none()
        && let Some(p) = app.overview.pools.iter().find(|p| p.pool == pool)
        && !p.shards.is_empty()
    {
        app.notice = Some(format!(
            "the pool {pool} {}; take it out of your pools file, if it is in one, and \
             delete {} with kubectl delete daemonset -n {} {}",
            p.daemonsets_phrase(),
            if p.shards.len() == 1 { "it" } else { "them" },
            p.namespace,
            p.shards.join(" ")
        ));
        return;
    }
    open(app);
    if let Some(e) = &mut app.edit
        && e.pool.name == pool
    {
        e.step = Step::Delete {
            typed: String::new(),
        };
    }
}

/// The pool of the current view, or of the selected row on the pools list.
fn pool_in_view(app: &App) -> Option<String> {
    app.view().screen.component().pool(app)
}

pub(super) fn close_editor(app: &mut App) {
    app.edit = None;
    if app.view().screen == Screen::Edit {
        app.stack.pop();
    }
}

/// `preview`: ask the cluster (or the file) what the draft does.
pub(super) fn start_preview(app: &mut App) {
    let nodes = {
        let Some(e) = app.edit.as_ref() else { return };
        nodes_of(app, &e.drafted())
    };
    let Some(e) = app.edit.as_mut() else { return };
    if e.draft.images.is_empty() {
        app.notice = Some("add an image first (a)".into());
        return;
    }
    if !e.changed() && !e.new && e.origin == Origin::Rendered {
        app.notice = Some("nothing changed yet".into());
        return;
    }
    let work = Work::Preview {
        pool: Box::new(e.drafted()),
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
    app.effects.push(Effect::Edit(work));
    // The images' registries are asked meanwhile (the preview is sized again as they answer).
    super::check::ask_for_preview(app);
}

/// The nodes a pool's preloader runs on (the known pool's, else by its selector).
pub(super) fn nodes_of(app: &App, pool: &Pool) -> Vec<String> {
    match app.overview.pools.iter().find(|p| p.pool == pool.name) {
        Some(p) if !p.nodes.is_empty() => p.nodes.iter().map(|n| n.node.clone()).collect(),
        _ => edit::pool_nodes(&app.snapshot.nodes, pool),
    }
}

/// The loop's answer to [`Work`].
pub fn finished(app: &mut App, done: Done) {
    app.dirty = true;
    let nodes = match app.edit.as_ref() {
        Some(e) => nodes_of(app, &e.drafted()),
        None => return,
    };
    let Some(e) = app.edit.as_mut() else { return };
    match done {
        Done::Previewed(Ok(p)) => {
            if !matches!(e.step, Step::Waiting(_)) {
                return;
            }
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
                pulls: Vec::new(),
                free_note: p.free_note,
                converts: p.converts,
                work: p.work,
                scroll: 0,
                free: p.free,
                refusals: Vec::new(),
                unchecked: Vec::new(),
                checking: 0,
            }));
            super::check::size_preview(app);
        }
        Done::Previewed(Err(ApplyError::Conflict(c)))
        | Done::Applied(Err(ApplyError::Conflict(c))) => {
            e.deleting = false;
            e.step = Step::Conflict(c);
        }
        Done::Previewed(Err(ApplyError::Failed(f))) | Done::Applied(Err(ApplyError::Failed(f))) => {
            e.deleting = false;
            e.step = Step::Failed(f);
        }
        Done::Applied(Ok(message)) => {
            let pool = e.pool.name.clone();
            let deleted = e.deleting;
            let file = matches!(e.mode, Mode::File(_));
            app.edit = None;
            app.stack.truncate(1);
            if !deleted && !file {
                app.stack.push(View::new(Screen::Pool(pool)));
            }
            app.notice = Some(message);
        }
    }
}

/// The editor on pool `pool` with `image` being added after its last image, as if typed in
/// the picker and taken with Enter: its registry is asked first, as for any added image.
pub(crate) fn open_adding(app: &mut App, pool: &str, image: &str) {
    open_for(app, pool);
    let Some(e) = app.edit.as_mut().filter(|e| e.pool.name == pool) else {
        return;
    };
    if e.draft
        .images
        .iter()
        .any(|i| ImageRef::parse(image).is_ok_and(|want| i.normalized() == want.normalized()))
    {
        close_editor(app);
        app.notice = Some(format!("the pool {pool} preloads {image} already"));
        return;
    }
    e.selected = e.draft.images.len().saturating_sub(1);
    e.step = Step::Add(Picker {
        text: image.to_string(),
        typed: true,
        ..Default::default()
    });
    super::keys::accept(app, image.to_string());
}
