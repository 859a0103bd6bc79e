//! The editor: completion, refusals, undo, the preview, a new pool, read-only.

use super::cleanup::rendered_web_daemonset;
use super::*;

/// As `app()`, with older nginx versions on web-2 for the completion and tag lists.
pub(crate) fn edit_app() -> App {
    let mut app = app();
    let nginx = json!([
        {"names": ["docker.io/library/nginx@sha256:aa", "docker.io/library/nginx:1.25-alpine"], "sizeBytes": 18_500_000},
        {"names": ["docker.io/library/node:20-alpine"], "sizeBytes": 47_000_000},
        {"names": ["docker.io/library/redis:7-alpine"], "sizeBytes": 16_500_000},
    ]);
    let old = json!([
        {"names": ["docker.io/library/nginx:1.24-alpine"], "sizeBytes": 18_100_000},
        {"names": ["docker.io/library/nginx:1.9-alpine"], "sizeBytes": 9_000_000},
    ]);
    app.update(Action::Cluster(Update::Nodes(vec![
        node("web-1", nginx),
        node("web-2", old),
        node("web-3", json!([])),
        node("batch-1", json!([])),
    ])));
    app.refresh();
    press(&mut app, ":pool web\ne");
    assert_eq!(app.view().screen, Screen::Edit);
    app
}

/// The editor's draft, as written.
pub(crate) fn draft(app: &App) -> Vec<String> {
    app.edit
        .as_ref()
        .unwrap()
        .draft
        .images
        .iter()
        .map(|i| i.written().to_string())
        .collect()
}

#[test]
fn the_editor_completes_refuses_bad_references_and_undoes() {
    let mut app = edit_app();
    assert_eq!(
        draft(&app),
        ["nginx:1.25-alpine", "node:20-alpine", "redis:7-alpine"]
    );
    snapshot("edit_80x24", draw(&mut app, 80, 24));
    // The completion list comes from what the cluster knows (here: the nodes' images).
    press(&mut app, "a");
    let choices = app.edit.as_ref().unwrap().choices(&app.snapshot);
    assert!(
        choices.iter().any(|(c, _)| c == "nginx:1.24-alpine"),
        "{choices:?}"
    );
    press(&mut app, "ngx");
    snapshot("edit_completion_80x24", draw(&mut app, 80, 24));

    // Invalid references are refused with the reason; the picker stays open.
    press(&mut app, "\x08\x08\x08Nginx:1.27\n");
    let Some(EditStep::Add(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("the picker stays open");
    };
    assert!(
        p.error.as_deref().unwrap().contains("uppercase"),
        "{:?}",
        p.error
    );
    for _ in 0.."Nginx:1.27".len() {
        press(&mut app, "\x08");
    }
    press(&mut app, "redis:7-alpine\n");
    let Some(EditStep::Add(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("the picker stays open");
    };
    assert_eq!(
        p.error.as_deref(),
        Some("redis:7-alpine is already in the list (number 3)")
    );
    press(&mut app, "\x1b");
    assert_eq!(draft(&app).len(), 3, "refusals add nothing");

    // Move, remove, undo.
    press(&mut app, "Jd");
    assert_eq!(draft(&app), ["node:20-alpine", "redis:7-alpine"]);
    press(&mut app, "uu");
    assert_eq!(
        draft(&app),
        ["nginx:1.25-alpine", "node:20-alpine", "redis:7-alpine"]
    );
    // Esc with no change leaves at once.
    press(&mut app, "\x1b");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
}

#[test]
fn tags_come_newest_first_and_leaving_with_changes_asks_twice() {
    let mut app = edit_app();
    press(&mut app, "t");
    let tags: Vec<String> = app
        .edit
        .as_ref()
        .unwrap()
        .choices(&app.snapshot)
        .into_iter()
        .map(|c| c.0)
        .collect();
    // By version, not as text: 1.9 is the oldest.
    assert_eq!(tags, ["1.25-alpine", "1.24-alpine", "1.9-alpine"]);
    press(&mut app, "1.27-alpine\n");
    assert_eq!(draft(&app)[0], "nginx:1.27-alpine");
    press(&mut app, "\x1b");
    assert_eq!(app.view().screen, Screen::Edit, "the first Esc only warns");
    assert!(app.notice.as_deref().unwrap().contains("not applied"));
    press(&mut app, "\x1b");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
}

fn previewed(app: &mut App) {
    use kpreload::core::edit::diff;
    use kpreload::tui::screens::edit::{Done, Previewed, Work};
    press(app, "t1.27-alpine\np");
    let Some(Effect::Edit(Work::Preview { pool, nodes, .. })) = app.effects.pop() else {
        panic!("a preview was asked for");
    };
    assert_eq!(pool.images[0].written(), "nginx:1.27-alpine");
    assert_eq!(nodes, ["web-1", "web-2", "web-3"]);
    let before = "spec:\n  template:\n    spec:\n      initContainers:\n      - image: nginx:1.25-alpine\n        name: preload-nginx\n      - image: node:20-alpine\n        name: preload-node\n";
    let after = before.replace("nginx:1.25-alpine", "nginx:1.27-alpine");
    let desired: DaemonSet = (*rendered_web_daemonset()).clone();
    let free = std::collections::HashMap::from([
        ("web-1".to_string(), 80_000_000_000u64),
        ("web-2".to_string(), 10_000_000u64),
    ]);
    app.update(Action::Edit(Done::Previewed(Ok(Box::new(Previewed {
        diff: diff(before, &after, 3),
        diff_of: "DaemonSet kube-system/image-preloader-web (server-side dry run)".into(),
        work: Work::Apply {
            desired: Box::new(desired.clone()),
            seen: Some(Box::new(desired)),
            note: String::new(),
        },
        converts: None,
        note: None,
        free,
        free_note: Some("free space unknown on some nodes: not allowed to read nodes/proxy (the kubelet's stats)".into()),
    })))));
    app.refresh();
}

#[test]
fn the_preview_shows_the_diff_the_pulls_and_the_space_then_a_conflict_says_who() {
    use kpreload::cluster::apply::{ApplyError, Conflict};
    use kpreload::tui::screens::edit::{Done, Work};
    let mut app = edit_app();
    previewed(&mut app);
    let Some(EditStep::Preview(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("the preview is open");
    };
    assert_eq!(p.summary, ["~ nginx  1.25-alpine → 1.27-alpine"]);
    // web-2 has 10 MB free: too little for nginx (its size is known from web-1's 1.25).
    let web2 = p.pulls.iter().find(|n| n.node == "web-2").unwrap();
    assert_eq!(web2.fits(), Some(false));
    snapshot("edit_preview_100x30", draw(&mut app, 100, 30));

    press(&mut app, "y");
    assert!(matches!(
        app.effects.last(),
        Some(Effect::Edit(Work::Apply { .. }))
    ));
    app.effects.clear();
    app.update(Action::Edit(Done::Applied(Err(ApplyError::Conflict(Conflict {
        summary: "image-preloader-web was changed by kubectl-edit (Update, 2026-11-28T10:00:19Z) since kpreload read it; nothing was applied and their change stands. Start again from the new state (in the TUI: e reopens the editor on it).".into(),
        managers: vec!["kubectl-edit (Update, 2026-11-28T10:00:19Z)".into()],
        changes: vec!["- image: redis:7-alpine".into(), "+ image: redis:7.4-alpine".into()],
    })))));
    snapshot("edit_conflict_100x30", draw(&mut app, 100, 30));
    // Esc keeps the draft.
    press(&mut app, "\x1b");
    assert_eq!(draft(&app)[0], "nginx:1.27-alpine");
}

#[test]
fn read_only_previews_but_never_applies() {
    let mut app = app_with(true, updates());
    press(&mut app, ":pool web\ne");
    previewed(&mut app);
    press(&mut app, "y");
    assert!(app.effects.is_empty());
    assert!(app.notice.as_deref().unwrap().contains("read-only"));
    // And deleting is off.
    press(&mut app, "\x1b\x1b\x1b");
    press(&mut app, "D");
    assert!(
        app.edit.is_none() || !matches!(app.edit.as_ref().unwrap().step, EditStep::Delete { .. })
    );
}

#[test]
fn a_new_pool_takes_a_name_labels_tolerations_and_images() {
    use kpreload::tui::screens::edit::Work;
    let mut app = app();
    press(&mut app, "n");
    press(&mut app, "Web\n");
    let Some(EditStep::NewName(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("still the name");
    };
    assert!(
        p.error.as_deref().unwrap().starts_with("not a pool name"),
        "{:?}",
        p.error
    );
    for _ in 0..3 {
        press(&mut app, "\x08");
    }
    press(&mut app, "web\n");
    assert!(
        app.edit
            .as_ref()
            .map(|e| matches!(e.step, EditStep::NewName(_)))
            .unwrap(),
        "web exists"
    );
    for _ in 0..3 {
        press(&mut app, "\x08");
    }
    press(&mut app, "edge\n");
    // Labels, with a live count; the tolerations come from the matching nodes' taints.
    press(&mut app, "workload-type=web\n");
    assert_eq!(
        kpreload::tui::screens::edit::matching(
            &app.snapshot,
            &app.edit.as_ref().unwrap().pool.selector
        ),
        3
    );
    press(&mut app, "\n");
    let Some(EditStep::NewTolerations { proposed, .. }) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("tolerations proposed");
    };
    assert_eq!(proposed.len(), 1);
    assert_eq!(
        (proposed[0].0.key.as_str(), proposed[0].1),
        ("workload", true)
    );
    press(&mut app, "\nbusybox:1.37\n\np");
    let Some(Effect::Edit(Work::Preview {
        pool,
        new,
        daemonset,
        nodes,
        ..
    })) = app.effects.pop()
    else {
        panic!("a preview of the new pool");
    };
    assert!(new);
    assert_eq!(daemonset, "image-preloader-edge");
    assert_eq!(pool.images.len(), 1);
    assert_eq!(pool.tolerations.len(), 1);
    assert_eq!(nodes, ["web-1", "web-2", "web-3"]);
}

#[test]
fn no_quitting_while_an_apply_is_under_way() {
    let mut app = edit_app();
    previewed(&mut app);
    press(&mut app, "y");
    assert!(!app.effects.is_empty());
    press(&mut app, "q");
    assert!(!app.quit, "q does nothing while applying");
    app.update(Action::Quit);
    assert!(!app.quit, "not even a quit from outside");
    assert!(
        app.notice.as_deref().unwrap().contains("running"),
        "{:?}",
        app.notice
    );
}

#[test]
fn at_pins_an_image_to_the_digest_most_of_the_pools_nodes_hold() {
    let mut app = edit_app();
    let holding = |name: &str, digest: char| {
        node(
            name,
            json!([{"names": [format!("docker.io/library/nginx@sha256:{}", digest.to_string().repeat(64)),
                "docker.io/library/nginx:1.25-alpine"], "sizeBytes": 18_500_000}]),
        )
    };
    app.update(Action::Cluster(Update::Nodes(vec![
        holding("web-1", 'b'),
        holding("web-2", 'a'),
        holding("web-3", 'b'),
        // Not in the pool: does not count.
        holding("batch-1", 'a'),
    ])));
    app.refresh();
    // The first image, nginx:1.25-alpine, is selected.
    press(&mut app, "@");
    let pinned = format!("nginx:1.25-alpine@sha256:{}", "b".repeat(64));
    assert_eq!(
        draft(&app),
        [pinned.as_str(), "node:20-alpine", "redis:7-alpine"]
    );
    assert_eq!(
        app.notice.as_deref(),
        Some(
            format!(
                "pinned to sha256:{}, the digest most of the pool's nodes hold (2 of the 3 nodes that hold nginx:1.25-alpine have it)",
                "b".repeat(64)
            )
            .as_str()
        )
    );
    press(&mut app, "@");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .ends_with("is pinned already")
    );
    // An image no node holds has nothing to pin to.
    press(&mut app, "j@");
    assert_eq!(
        app.notice.as_deref(),
        Some(
            "no node of the pool holds node:20-alpine yet and the registry is not asked: nothing to pin it to"
        )
    );
    press(&mut app, "u");
    assert_eq!(draft(&app)[0], "nginx:1.25-alpine");
}

#[test]
fn s_sets_the_pools_pull_secrets_and_the_preview_asks_for_them() {
    let mut app = edit_app();
    press(&mut app, "S");
    let Some(EditStep::Secrets(_)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("the secrets picker");
    };
    press(&mut app, "Regcred\n");
    let Some(EditStep::Secrets(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("a bad name keeps the picker open");
    };
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .starts_with("not a Secret's name: \"Regcred\""),
        "{:?}",
        p.error
    );
    for _ in 0.."Regcred".len() {
        press(&mut app, "\x08");
    }
    press(&mut app, "regcred, ghcr regcred\n");
    let e = app.edit.as_ref().unwrap();
    assert_eq!(e.pool.pull_secrets, ["regcred", "ghcr"]);
    assert!(e.changed(), "a change of secrets alone is a change");
    assert_eq!(
        app.notice.as_deref(),
        Some("pulls with regcred, ghcr; p previews the change")
    );
    // The preview's work carries them to the rendering.
    app.effects.clear();
    press(&mut app, "p");
    let Some(Effect::Edit(kpreload::tui::screens::edit::Work::Preview { pool, .. })) =
        app.effects.last()
    else {
        panic!("a preview: {:?}", app.effects);
    };
    assert_eq!(pool.pull_secrets, ["regcred", "ghcr"]);
}

fn key(app: &mut App, code: KeyCode) {
    let effects = app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    app.effects.extend(effects);
    app.refresh();
}

#[test]
fn enter_takes_the_highlighted_completion_tab_completes_and_up_takes_the_text_as_typed() {
    // Typed `ngx`: the best completion is highlighted, and Enter adds it, not `ngx`.
    let mut app = edit_app();
    press(&mut app, "angx\n");
    assert_eq!(
        draft(&app),
        [
            "nginx:1.25-alpine",
            "nginx:1.24-alpine",
            "node:20-alpine",
            "redis:7-alpine"
        ]
    );
    // ↓ moves the highlight to the next completion.
    let mut app = edit_app();
    press(&mut app, "angx");
    key(&mut app, KeyCode::Down);
    press(&mut app, "\n");
    assert!(
        draft(&app).contains(&"nginx:1.9-alpine".to_string()),
        "{:?}",
        draft(&app)
    );
    // ↑ past the first completion: the text as typed.
    let mut app = edit_app();
    press(&mut app, "angx");
    key(&mut app, KeyCode::Up);
    press(&mut app, "\n");
    assert!(
        draft(&app).contains(&"ngx".to_string()),
        "{:?}",
        draft(&app)
    );
    // Tab puts the highlighted completion in the line to edit on; Enter then takes what is
    // typed, which no completion matches any more.
    let mut app = edit_app();
    press(&mut app, "angx");
    key(&mut app, KeyCode::Tab);
    let Some(EditStep::Add(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("the picker stays open");
    };
    assert_eq!(p.text, "nginx:1.24-alpine");
    press(&mut app, "\x08\x08\x08\x08\x08\x08\x08-slim\n");
    assert!(
        draft(&app).contains(&"nginx:1.24-slim".to_string()),
        "{:?}",
        draft(&app)
    );
}
