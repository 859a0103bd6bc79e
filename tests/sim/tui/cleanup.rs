//! The cleanup plan view, its confirmation and the run.

use super::*;

// ---- cleanup: the plan view, the confirmation, the run ----

/// The web preloader as kpreload renders it: a privileged cleanup container in a hostPID pod.
pub fn rendered_web_daemonset() -> Arc<DaemonSet> {
    let mut ds = (*web_daemonset()).clone();
    let spec = ds.spec.template.spec.as_mut().unwrap();
    spec.host_pid = Some(true);
    spec.containers = vec![
        serde_json::from_value(json!({"name": "cleanup", "image": "busybox:1.37.0-musl",
            "securityContext": {"privileged": true}}))
        .unwrap(),
    ];
    Arc::new(ds)
}

pub fn cleanup_pod(name: &str, node: &str, running: bool) -> Arc<Pod> {
    let state = if running {
        json!({"running": {"startedAt": "2026-11-28T10:00:10Z"}})
    } else {
        json!({"waiting": {"reason": "PodInitializing"}})
    };
    let mut pod = (*preloader_pod(name, node, json!([]))).clone();
    let mut status = serde_json::to_value(&pod.status).unwrap();
    status["containerStatuses"] = json!([status_of("cleanup", state)]);
    pod.status = serde_json::from_value(status).unwrap();
    Arc::new(pod)
}

pub fn status_of(name: &str, state: Value) -> Value {
    status(name, state)
}

/// A node that says it runs containerd.
pub fn containerd_node(name: &str, images: Value) -> Arc<Node> {
    let mut n = (*node(name, images)).clone();
    let mut status = serde_json::to_value(&n.status).unwrap();
    status["nodeInfo"] = json!({"containerRuntimeVersion": "containerd://1.7.13",
        "kubeletVersion": "v1.37.0", "osImage": "", "kernelVersion": "", "machineID": "",
        "systemUUID": "", "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux",
        "architecture": "amd64"});
    n.status = serde_json::from_value(status).unwrap();
    Arc::new(n)
}

pub fn versions(list: &[(&str, u64)]) -> Value {
    json!(
        list.iter()
            .map(|(n, s)| json!({"names": [format!("docker.io/library/{n}")], "sizeBytes": s}))
            .collect::<Vec<_>>()
    )
}

/// web-1 and web-2 hold old nginx and python versions; web-1's cleanup container runs,
/// web-2's preloader is still pulling; shop-api-0 uses nginx:1.23 on web-1.
pub fn cleanup_app(read_only: bool) -> App {
    let images = versions(&[
        ("nginx:1.23", 57_000_000),
        ("nginx:1.24", 58_000_000),
        ("nginx:1.25", 67_000_000),
        ("nginx:1.26", 68_000_000),
        ("python:3.12", 372_000_000),
        ("python:3.13", 379_000_000),
        ("python:3.14", 384_000_000),
    ]);
    let pods = vec![
        cleanup_pod("image-preloader-web-aaaaa", "web-1", true),
        cleanup_pod("image-preloader-web-bbbbb", "web-2", false),
        workload("shop-api-0", "web-1", "nginx:1.23"),
    ];
    let updates = vec![
        Update::Nodes(vec![
            containerd_node("web-1", images.clone()),
            containerd_node("web-2", images),
        ]),
        Update::Workloads(kpreload::core::objects::records(&pods)),
        Update::Pods(pods[..2].to_vec()),
        Update::DaemonSets(vec![rendered_web_daemonset()]),
        Update::Events(vec![]),
        Update::Link(Watch::Nodes, Link::Live),
        Update::Link(Watch::Pods, Link::Live),
        Update::Link(Watch::DaemonSets, Link::Live),
        Update::Link(Watch::Events, Link::Live),
        Update::Link(Watch::Workloads, Link::Live),
        Update::Link(Watch::Starts, Link::Live),
    ];
    app_with(read_only, updates)
}

pub fn removals(app: &App) -> Vec<String> {
    let c = app.cleanup.as_ref().expect("a plan is open");
    c.effective()
        .nodes
        .iter()
        .flat_map(|n| {
            n.plan.removals().map(move |i| {
                format!(
                    "{} {}",
                    n.plan.node,
                    kpreload::core::cleanup::display_name(i)
                )
            })
        })
        .collect()
}

#[test]
pub fn c_opens_the_pools_plan_and_keep_changes_in_place() {
    let mut app = cleanup_app(false);
    press(&mut app, "\nc");
    assert_eq!(app.view().screen, Screen::Plan);
    let c = app.cleanup.as_ref().unwrap();
    assert_eq!(c.scope, Scope::Pool("web".into()));
    assert_eq!(
        removals(&app),
        [
            "web-1 nginx:1.24",
            "web-1 python:3.12",
            "web-2 nginx:1.23",
            "web-2 nginx:1.24",
            "web-2 python:3.12"
        ],
        "nginx:1.23 is in use on web-1"
    );
    press(&mut app, "+");
    assert_eq!(app.cleanup.as_ref().unwrap().keep, Some(3));
    // Keeping 3: web-1's nginx:1.24 is now among the newest (1.23 is in use anyway).
    assert_eq!(removals(&app), ["web-2 nginx:1.23"]);
    press(&mut app, "----");
    assert_eq!(app.cleanup.as_ref().unwrap().keep, Some(1), "at least one");
    assert_eq!(removals(&app).len(), 9);
    // Back leaves the plan.
    press(&mut app, "\x1b");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
    assert!(app.cleanup.is_none());
}

#[test]
pub fn x_leaves_a_node_out_and_the_confirmation_needs_the_pools_name() {
    let mut app = cleanup_app(false);
    press(&mut app, "\nc");
    // The first line is web-1's; leaving it out leaves web-2, which cannot run yet.
    press(&mut app, "x");
    assert!(app.cleanup.as_ref().unwrap().excluded.contains("web-1"));
    press(&mut app, "c");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("cleanup cannot run on web-2"),
        "{:?}",
        app.notice
    );
    press(&mut app, "x");
    press(&mut app, "c");
    assert!(matches!(
        app.cleanup.as_ref().unwrap().phase,
        Phase::Confirm { .. }
    ));
    // A wrong word does nothing but say what to type.
    press(&mut app, "yes\n");
    assert!(matches!(
        app.cleanup.as_ref().unwrap().phase,
        Phase::Confirm { .. }
    ));
    assert_eq!(
        app.notice.as_deref(),
        Some("type web to confirm, or Esc to go back")
    );
    assert!(app.effects.is_empty());
    press(&mut app, "web\n");
    let Some(Effect::RunCleanup(plan)) = app.effects.pop() else {
        panic!("no run asked for");
    };
    // Only where cleanup can run: web-1, without the image in use.
    assert_eq!(plan.nodes.len(), 1);
    assert_eq!(plan.nodes[0].plan.node, "web-1");
    assert_eq!(plan.remove_images(), 2);
    assert!(app.running());
    press(&mut app, "q");
    assert!(!app.quit, "no quitting in the middle of a run");
}

#[test]
pub fn a_removal_new_since_the_dialog_opened_needs_the_word_again() {
    let mut app = cleanup_app(false);
    press(&mut app, "\nc");
    press(&mut app, "c");
    // The workload using nginx:1.23 on web-1 goes away while the dialog is open.
    let pods = vec![
        cleanup_pod("image-preloader-web-aaaaa", "web-1", true),
        cleanup_pod("image-preloader-web-bbbbb", "web-2", false),
    ];
    app.update(Action::Cluster(Update::Workloads(
        kpreload::core::objects::records(&pods),
    )));
    app.refresh();
    press(&mut app, "web\n");
    assert!(app.effects.is_empty());
    match &app.cleanup.as_ref().unwrap().phase {
        Phase::Confirm { grew, typed, .. } => {
            assert_eq!(grew, &["web-1 nginx:1.23"]);
            assert!(typed.is_empty());
        }
        other => panic!("{other:?}"),
    }
    press(&mut app, "web\n");
    let Some(Effect::RunCleanup(plan)) = app.effects.pop() else {
        panic!("no run asked for");
    };
    assert_eq!(plan.remove_images(), 3);
}

#[test]
pub fn what_blocks_a_cleanup_while_the_dialog_is_open_stops_the_run() {
    // A second preloader whose keep annotation cannot be read appears after the dialog
    // opened: what it preloads is unknown, so nothing may be removed.
    let mut app = cleanup_app(false);
    press(&mut app, "\nc");
    press(&mut app, "c");
    assert!(matches!(
        app.cleanup.as_ref().unwrap().phase,
        Phase::Confirm { .. }
    ));
    let mut unreadable = (*rendered_web_daemonset()).clone();
    unreadable.metadata.name = Some("image-preloader-batch".into());
    unreadable.metadata.uid = Some("ds-batch".into());
    let labels = unreadable
        .metadata
        .labels
        .get_or_insert_with(Default::default);
    labels.insert("kpreload.dev/pool".into(), "batch".into());
    unreadable
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("kpreload.dev/keep".into(), "many".into());
    app.update(Action::Cluster(Update::DaemonSets(vec![
        rendered_web_daemonset(),
        Arc::new(unreadable),
    ])));
    app.refresh();
    press(&mut app, "web\n");
    assert!(app.effects.is_empty(), "nothing runs");
    assert_eq!(app.cleanup.as_ref().unwrap().phase, Phase::Preview);
    let notice = app.notice.clone().unwrap_or_default();
    assert!(
        notice.contains("Cleanup cannot run") && notice.contains("image-preloader-batch"),
        "{notice}"
    );

    // A watch that drops while the dialog is open: what is in use is not known.
    let mut app = cleanup_app(false);
    press(&mut app, "\nc");
    press(&mut app, "c");
    app.update(Action::Cluster(Update::Link(
        Watch::Workloads,
        Link::Retrying("the API server failed (500) while watching pods; retrying".into()),
    )));
    press(&mut app, "web\n");
    assert!(app.effects.is_empty(), "nothing runs");
    assert!(
        app.notice
            .as_deref()
            .unwrap_or_default()
            .contains("waits for"),
        "{:?}",
        app.notice
    );
}

#[test]
pub fn read_only_shows_the_plan_but_never_runs_it() {
    let mut app = cleanup_app(true);
    press(&mut app, "\nc");
    assert_eq!(app.view().screen, Screen::Plan);
    press(&mut app, "c");
    assert!(app.notice.as_deref().unwrap().starts_with("read-only"));
    press(&mut app, "web\n");
    assert!(app.effects.is_empty());
    assert_eq!(app.cleanup.as_ref().unwrap().phase, Phase::Preview);
}

pub fn report(node: &str, removed: &[&str], freed_each: u64) -> NodeReport {
    NodeReport {
        node: node.into(),
        pool: Some("web".into()),
        removals: removed
            .iter()
            .map(|r| Removal {
                candidate: Candidate {
                    id: None,
                    refs: vec![format!("docker.io/library/{r}")],
                    size: freed_each,
                },
                outcome: Outcome::Removed,
                names: vec![(format!("docker.io/library/{r}"), NameResult::Removed)],
            })
            .collect(),
        error: None,
        event_error: None,
    }
}

#[test]
pub fn the_run_shows_each_node_as_it_ends_then_back_to_the_refreshed_plan() {
    let mut app = cleanup_app(false);
    press(&mut app, "\ncc");
    press(&mut app, "web\n");
    app.effects.pop().expect("a run");
    app.update(Action::CleanupStep(Step::Started("web-1".into())));
    let running = draw(&mut app, 80, 24);
    assert!(running.contains("◐ web-1: removing…"), "{running}");
    let done = report("web-1", &["nginx:1.24", "python:3.12"], 100_000_000);
    app.update(Action::CleanupStep(Step::Finished(done.clone())));
    app.update(Action::CleanupDone(vec![done]));
    snapshot("cleanup_done_80x24", draw(&mut app, 80, 24));
    press(&mut app, "\x1b");
    assert_eq!(app.cleanup.as_ref().unwrap().phase, Phase::Preview);
    assert_eq!(app.view().screen, Screen::Plan);
}

#[test]
pub fn the_plan_and_its_confirmation_at_80x24_and_160x48() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = cleanup_app(false);
        press(&mut app, "\nc");
        snapshot(&format!("cleanup_plan_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "cwe");
        snapshot(&format!("cleanup_confirm_{w}x{h}"), draw(&mut app, w, h));
    }
}

#[test]
pub fn no_plan_until_every_namespaces_pods_are_known() {
    let mut app = cleanup_app(false);
    app.update(Action::Cluster(Update::Link(
        Watch::Workloads,
        Link::Connecting,
    )));
    press(&mut app, "\nc");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
    assert!(
        app.notice.as_deref().unwrap().contains("waits for pods"),
        "{:?}",
        app.notice
    );
    app.update(Action::Cluster(Update::Link(Watch::Workloads, Link::Live)));
    press(&mut app, "c");
    assert_eq!(app.view().screen, Screen::Plan);
}

#[test]
pub fn the_plans_selected_line_stays_in_view() {
    let mut app = cleanup_app(false);
    press(&mut app, "\ncG");
    // 16 lines in a list of 8 (13 below the bars: the answer wraps to 2 at 80 columns, the
    // scope and the settings take a line each, the border one): the last (web-2's
    // python:3.14) is selected and shown, the window starts at web-2's own line.
    let screen = draw(&mut app, 80, 16);
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines[lines.len() - 2].contains("python:3.14"),
        "the last list line is the selected one: {screen}"
    );
    assert!(
        lines[lines.len() - 9].starts_with("web-2"),
        "the window ends at the selection, no line wasted: {screen}"
    );
    assert!(
        lines[4].ends_with('…') && lines[5].ends_with('…'),
        "the scope and settings are cut to a line each to leave the list its room: {screen}"
    );
}
