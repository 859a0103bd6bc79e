//! The editor's keys: moving in the image list, the picker, typing a reference or a
//! selector, and what each step does with Enter and Esc.

use super::*;
use open::{close_editor, start_preview};

/// Keys on the editor screen: each step of the editor has its own.
pub fn key(app: &mut App, k: KeyEvent) -> Option<Action> {
    let key = Key::of(&k);
    let command = app.config.command(&key);
    let e = app.edit.as_mut()?;
    let typing = matches!(
        e.step,
        Step::Add(_)
            | Step::Tag(_)
            | Step::Secrets(_)
            | Step::NewName(_)
            | Step::NewSelector(_)
            | Step::Delete { .. }
    );
    if !typing {
        app.notice = None;
    }
    match &mut e.step {
        Step::Add(_)
        | Step::Tag(_)
        | Step::Secrets(_)
        | Step::NewName(_)
        | Step::NewSelector(_) => {
            picker_key(app, &k, &key);
            None
        }
        Step::NewTolerations { .. } => {
            tolerations_key(app, &k, command);
            None
        }
        Step::Delete { .. } => {
            delete_key(app, &k, &key);
            None
        }
        Step::Waiting(_) => {
            match command {
                Some(Command::Quit) => return Some(Action::Quit),
                // The answer, when it comes, is dropped.
                Some(Command::Back) => e.step = Step::List,
                _ => app.notice = Some("waiting for the preview; Esc cancels it".into()),
            }
            None
        }
        Step::Applying => {
            // A write cut in half (a conversion between its delete and its create) is
            // worse than a wait: no quitting until the cluster has answered.
            app.notice = Some("applying; this ends when the cluster answers".into());
            None
        }
        Step::Conflict(_) => conflict_key(app, &k, command),
        Step::Failed(_) => {
            e.step = Step::List;
            None
        }
        Step::Preview(_) => preview_key(app, command),
        Step::List => list_key(app, command?),
    }
}

/// Typing in a picker: a reference, a tag, a pool's name or a label.
fn picker_key(app: &mut App, k: &KeyEvent, key: &Key) {
    let Some(snapshot_choices) = app.edit.as_ref().map(|e| e.choices(&app.snapshot)) else {
        return;
    };
    let Some(e) = app.edit.as_mut() else { return };
    let (Step::Add(p) | Step::Tag(p) | Step::Secrets(p) | Step::NewName(p) | Step::NewSelector(p)) =
        &mut e.step
    else {
        return;
    };
    match k.code {
        KeyCode::Esc => {
            if matches!(e.step, Step::NewName(_)) {
                close_editor(app);
            } else if matches!(e.step, Step::NewSelector(_)) {
                e.step = Step::NewName(Picker {
                    text: e.pool.name.clone(),
                    ..Default::default()
                });
            } else {
                e.step = Step::List;
            }
        }
        // Waiting for the registry's answer about the chosen image: only Esc.
        _ if p.checking.is_some() => {}
        KeyCode::Backspace => {
            p.text.pop();
            p.edited();
        }
        KeyCode::Up => match p.highlight(&snapshot_choices) {
            Some(0) => {
                p.typed = true;
                p.selected = None;
            }
            Some(i) => p.selected = Some(i - 1),
            None => {}
        },
        KeyCode::Down if !snapshot_choices.is_empty() => {
            let next = match p.highlight(&snapshot_choices) {
                None => 0,
                Some(i) => (i + 1).min(snapshot_choices.len() - 1),
            };
            p.typed = false;
            p.selected = Some(next);
        }
        // Tab completes the typed text from the highlighted completion (or the best one).
        KeyCode::Tab => {
            let pick = p.highlight(&snapshot_choices).unwrap_or(0);
            if let Some((text, _)) = snapshot_choices.get(pick) {
                p.text = text.clone();
                p.edited();
            }
        }
        KeyCode::Enter => {
            let chosen = p
                .highlight(&snapshot_choices)
                .and_then(|i| snapshot_choices.get(i))
                .map(|c| c.0.clone())
                .unwrap_or_else(|| p.text.clone());
            accept(app, chosen);
        }
        KeyCode::Char(c) if !key.ctrl => {
            p.text.push(c);
            p.edited();
        }
        _ => {}
    }
}

/// The proposed tolerations of a new pool: Space toggles, Enter takes them.
fn tolerations_key(app: &mut App, k: &KeyEvent, command: Option<Command>) {
    let Some(e) = app.edit.as_mut() else { return };
    let Step::NewTolerations { proposed, selected } = &mut e.step else {
        return;
    };
    match (k.code, command) {
        (KeyCode::Char(' '), _) => {
            if let Some(t) = proposed.get_mut(*selected) {
                t.1 = !t.1;
            }
        }
        (_, Some(Command::Up)) => *selected = selected.saturating_sub(1),
        (_, Some(Command::Down)) => {
            *selected = (*selected + 1).min(proposed.len().saturating_sub(1))
        }
        (KeyCode::Enter, _) => {
            e.pool.tolerations = proposed
                .iter()
                .filter(|t| t.1)
                .map(|t| t.0.clone())
                .collect();
            e.step = Step::Add(Picker::default());
            app.notice = Some("now the images: type or pick one, Enter adds it".into());
        }
        (KeyCode::Esc, _) => e.step = Step::NewSelector(Picker::default()),
        _ => {}
    }
}

/// Typing the pool's name to delete its preloader.
fn delete_key(app: &mut App, k: &KeyEvent, key: &Key) {
    let Some(e) = app.edit.as_mut() else { return };
    let Step::Delete { typed } = &mut e.step else {
        return;
    };
    match k.code {
        KeyCode::Esc => close_editor(app),
        KeyCode::Backspace => {
            typed.pop();
        }
        KeyCode::Enter if *typed == e.pool.name => {
            let work = match &e.mode {
                Mode::Cluster => Work::Delete {
                    namespace: e.namespace.clone(),
                    name: e.daemonset.clone(),
                    uid: e.uid.clone(),
                    spec: e.shown.clone(),
                },
                Mode::File(path) => Work::DeleteFromFile {
                    path: path.clone(),
                    pool: e.pool.name.clone(),
                },
            };
            e.step = Step::Applying;
            e.deleting = true;
            app.effects.push(Effect::Edit(work));
        }
        KeyCode::Enter => {
            typed.clear();
            app.notice = Some(format!(
                "type {} to delete its preloader, or Esc to keep it",
                e.pool.name
            ));
        }
        KeyCode::Char(c) if !key.ctrl => typed.push(c),
        _ => {}
    }
}

/// After a conflict: `e` opens the editor again on what is there now.
fn conflict_key(app: &mut App, k: &KeyEvent, command: Option<Command>) -> Option<Action> {
    let e = app.edit.as_mut()?;
    match command {
        Some(Command::Edit) if e.new => {
            // A new pool has no other state to start from: keep the draft.
            e.step = Step::List;
            app.notice =
                Some("your new pool is kept; p previews it against what is there now".into());
        }
        Some(Command::Edit) => {
            let pool = e.pool.name.clone();
            close_editor(app);
            app.open(Screen::Pool(pool.clone()));
            open(app);
            if app.edit.is_none() {
                app.notice = Some(format!(
                    "pool {pool} is not there any more{}",
                    app.notice
                        .take()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
        }
        Some(Command::Quit) => return Some(Action::Quit),
        _ if k.code == KeyCode::Esc => e.step = Step::List,
        _ => {}
    }
    None
}

/// The preview: scroll it, apply it, or go back to the list.
fn preview_key(app: &mut App, command: Option<Command>) -> Option<Action> {
    let e = app.edit.as_mut()?;
    let Step::Preview(p) = &mut e.step else {
        return None;
    };
    match command {
        Some(Command::Apply) => {
            if app.read_only {
                app.notice = Some("read-only: the preview is as far as it goes".into());
                return None;
            }
            if let Some(why) = super::check::refusal(p) {
                app.notice = Some(why);
                return None;
            }
            let mut work = p.work.clone();
            if let Work::Apply { note, .. } | Work::Convert { note, .. } = &mut work {
                *note = p.summary.join("; ");
            }
            e.step = Step::Applying;
            app.effects.push(Effect::Edit(work));
        }
        Some(Command::Up) => p.scroll = p.scroll.saturating_sub(1),
        Some(Command::Down) => p.scroll = (p.scroll + 1).min(p.diff.len()),
        Some(Command::PageUp) => p.scroll = p.scroll.saturating_sub(10),
        Some(Command::PageDown) => p.scroll = (p.scroll + 10).min(p.diff.len()),
        Some(Command::Back) => e.step = Step::List,
        Some(Command::Quit) => return Some(Action::Quit),
        Some(Command::Help) => app.help = true,
        _ => {}
    }
    None
}

/// The image list: move, add, remove, retag, reorder, undo, preview, leave.
fn list_key(app: &mut App, command: Command) -> Option<Action> {
    let e = app.edit.as_mut()?;
    let n = e.draft.images.len();
    if command != Command::Back {
        e.leaving = false;
    }
    match command {
        Command::Up => e.selected = e.selected.saturating_sub(1),
        Command::Down => e.selected = (e.selected + 1).min(n.saturating_sub(1)),
        Command::Top => e.selected = 0,
        Command::Bottom => e.selected = n.saturating_sub(1),
        Command::Add => e.step = Step::Add(Picker::default()),
        Command::Remove => match e.draft.remove(e.selected) {
            Ok(_) => e.selected = e.selected.min(e.draft.images.len().saturating_sub(1)),
            Err(why) => app.notice = Some(why),
        },
        Command::Tag if e.selected_image().is_some() => e.step = Step::Tag(Picker::default()),
        Command::PullSecrets => match e.mode {
            // The file's rewrite keeps to image lines: a secret changed here would be lost.
            Mode::File(_) => {
                app.notice = Some(
                    "in GitOps mode the pool's pull secrets are edited in the pools file (pullSecrets:)"
                        .into(),
                )
            }
            Mode::Cluster => {
                e.step = Step::Secrets(Picker {
                    text: e.pool.pull_secrets.join(", "),
                    ..Default::default()
                })
            }
        },
        Command::Pin => {
            let image = e.selected_image().cloned()?;
            if image.digest().is_some() {
                app.notice = Some(format!("{} is pinned already", image.written()));
                return None;
            }
            super::check::pin(app, &image);
        }
        Command::MoveUp => {
            if let Some(i) = e.draft.move_up(e.selected) {
                e.selected = i;
            }
        }
        Command::MoveDown => {
            if let Some(i) = e.draft.move_down(e.selected) {
                e.selected = i;
            }
        }
        Command::Undo => {
            if e.draft.undo() {
                e.selected = e.selected.min(e.draft.images.len().saturating_sub(1));
            } else {
                app.notice = Some("nothing to undo".into());
            }
        }
        Command::Preview | Command::Apply => start_preview(app),
        Command::Back => {
            if (e.changed() || e.new) && !e.leaving {
                e.leaving = true;
                app.notice = Some(
                    "the changes are not applied; Esc again drops them, u undoes, p previews"
                        .into(),
                );
            } else {
                close_editor(app);
            }
        }
        Command::Help => app.help = true,
        Command::Quit => return Some(Action::Quit),
        _ => {}
    }
    None
}

/// Enter in a picker. An image to add, or a new tag, is first asked of its registry
/// ([`super::check::gate`]): refused if it does not exist, taken once the answer is in.
pub(super) fn accept(app: &mut App, chosen: String) {
    let note = match super::check::gate(app, &chosen) {
        super::check::Gate::Go(note) => note,
        super::check::Gate::Stop => return,
    };
    take(app, chosen);
    if let Some(note) = note
        && app
            .edit
            .as_ref()
            .is_some_and(|e| matches!(e.step, Step::List | Step::Add(Picker { error: None, .. })))
    {
        app.notice = Some(match app.notice.take() {
            Some(n) => format!("{note} {n}"),
            None => note,
        });
    }
}

fn take(app: &mut App, chosen: String) {
    let pools: Vec<String> = app.overview.pools.iter().map(|p| p.pool.clone()).collect();
    let file_pools: Option<Vec<String>> = match &app.gitops {
        Some(path) => PoolsFile::load(path)
            .ok()
            .map(|f| f.pools.into_iter().map(|p| p.name).collect()),
        None => None,
    };
    let snapshot = &app.snapshot;
    let Some(e) = app.edit.as_mut() else { return };
    match &mut e.step {
        Step::Add(p) => {
            if chosen.trim().is_empty() && e.new && !e.draft.images.is_empty() {
                e.step = Step::List;
                return;
            }
            match e.draft.add(
                e.selected + usize::from(!e.draft.images.is_empty()),
                &chosen,
            ) {
                Ok(at) => {
                    e.selected = at;
                    if e.new {
                        // Keep adding: a new pool's list starts empty.
                        *p = Picker::default();
                        app.notice =
                            Some("added; add another, or Enter on an empty line to finish".into());
                    } else {
                        e.step = Step::List;
                    }
                }
                Err(why) => p.error = Some(why),
            }
        }
        Step::Secrets(p) => {
            if let Err(why) = set_secrets(&mut e.pool.pull_secrets, &chosen) {
                p.error = Some(why);
            } else {
                app.notice = Some(if e.pool.pull_secrets.is_empty() {
                    "no pull secrets: the images are pulled without credentials".into()
                } else {
                    format!(
                        "pulls with {}; p previews the change",
                        e.pool.pull_secrets.join(", ")
                    )
                });
                e.step = Step::List;
            }
        }
        Step::Tag(p) => match e.draft.set_tag(e.selected, &chosen) {
            Ok(()) => e.step = Step::List,
            Err(why) => p.error = Some(why),
        },
        Step::NewName(p) => {
            let name = chosen.trim().to_string();
            let taken =
                pools.contains(&name) || file_pools.as_ref().is_some_and(|f| f.contains(&name));
            if let Some(problem) = dns_label_problem(&name, POOL_NAME_MAX) {
                p.error = Some(format!("not a pool name: {problem}"));
            } else if taken {
                p.error = Some(format!("a pool named {name:?} exists; edit it with e"));
            } else {
                e.pool.name = name.clone();
                e.draft = Draft::new(&name, Vec::new());
                e.daemonset = e.pool.daemonset_name();
                e.step = Step::NewSelector(Picker::default());
            }
        }
        Step::NewSelector(p) => {
            let text = chosen.trim().to_string();
            if text.is_empty() {
                // Done with labels: propose tolerations from the matching nodes' taints.
                let proposed = proposed_tolerations(snapshot, &e.pool.selector);
                let every = e.pool.selector.terms.is_empty();
                if every {
                    app.notice = Some(format!(
                        "no labels chosen: the pool covers every node ({})",
                        snapshot.nodes.len()
                    ));
                }
                if proposed.is_empty() {
                    e.step = Step::Add(Picker::default());
                    app.notice =
                        Some("no taints on those nodes; now the images: type or pick one".into());
                } else {
                    e.step = Step::NewTolerations {
                        proposed,
                        selected: 0,
                    };
                }
                return;
            }
            let Some((key, value)) = text.split_once('=') else {
                p.error =
                    Some("write a label as key=value (Enter on an empty line when done)".into());
                return;
            };
            let req = Requirement::equals(key.trim(), value.trim());
            if let Some(problem) = req.problem() {
                p.error = Some(problem);
                return;
            }
            let mut term = e.pool.selector.terms.first().cloned().unwrap_or_default();
            term.retain(|r| r.key != req.key);
            term.push(req);
            // As a pools file's matchLabels read back: by key.
            term.sort_by(|a, b| a.key.cmp(&b.key));
            let selector = NodeSelector { terms: vec![term] };
            if matching(snapshot, &selector) == 0 {
                p.error = Some(format!("no node has {text} as well; pick another"));
                return;
            }
            e.pool.selector = selector;
            *p = Picker::default();
        }
        _ => {}
    }
}

/// The tolerations a new pool needs for the taints of the nodes its selector matches, each
/// with whether it starts checked: the kubelet's and the control plane's own taints (not
/// ready, unreachable, pressure, roles) and NoExecute are offered, not chosen.
pub(super) fn proposed_tolerations(
    snapshot: &crate::core::progress::Snapshot,
    selector: &NodeSelector,
) -> Vec<(Toleration, bool)> {
    let mut proposed: Vec<(Toleration, bool)> = Vec::new();
    for n in &snapshot.nodes {
        if !selector.matches(&n.metadata.labels.clone().unwrap_or_default()) {
            continue;
        }
        for t in Taint::of_node(n) {
            let tol = Toleration {
                key: t.key.clone(),
                operator: crate::core::selector::TolerationOperator::Equal,
                value: t.value.clone(),
                effect: Some(t.effect),
                toleration_seconds: None,
            };
            let system = t.key.starts_with("node.kubernetes.io/")
                || t.key.starts_with("node-role.kubernetes.io/")
                || t.key.starts_with("node.cloudprovider.kubernetes.io/");
            if !proposed.iter().any(|(p, _)| p == &tol) {
                proposed.push((tol, t.effect != TaintEffect::NoExecute && !system));
            }
        }
    }
    proposed
}

/// Sets the pull secrets typed (names separated by commas or spaces, each once), or says
/// which is not a Secret's name.
fn set_secrets(secrets: &mut Vec<String>, typed: &str) -> Result<(), String> {
    let mut unique: Vec<String> = Vec::new();
    for name in typed
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if let Some(problem) = crate::core::pools::dns_subdomain_problem(name) {
            return Err(format!("not a Secret's name: {name:?} {problem}"));
        }
        if !unique.iter().any(|u| u == name) {
            unique.push(name.to_string());
        }
    }
    *secrets = unique;
    Ok(())
}
