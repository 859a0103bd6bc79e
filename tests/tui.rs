//! The TUI without a terminal: key sequences and cluster updates in, state and actions out;
//! and every view drawn into ratatui's TestBackend from fixed states, snapshotted with insta.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kpreload::cluster::cleanup::{NodeReport, Step};
use kpreload::cluster::watch::{Link, Update, Watch};
use kpreload::core::objects::{Event, Pod};
use kpreload::runtime::{Candidate, NameResult, Outcome, Removal};
use kpreload::tui::app::{Action, App, Effect, Header, Input, Screen};
use kpreload::tui::cleanup::{Phase, Scope};
use kpreload::tui::config::Config;
use kpreload::tui::edit::Step as EditStep;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

const NOW: &str = "2026-11-28T10:00:20Z";

fn node(name: &str, images: Value) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"workload-type": if name.starts_with("web") { "web" } else { "batch" }}},
            "spec": {"taints": if name.starts_with("web") {
                json!([{"key": "workload", "value": "web", "effect": "NoSchedule"}]) } else { json!([]) }},
            "status": {"images": images, "capacity": {"ephemeral-storage": "100Gi"},
                "conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap(),
    )
}

fn web_daemonset() -> Arc<DaemonSet> {
    let text = std::fs::read_to_string("tests/fixtures/article/image-preloader-web.yaml").unwrap();
    let mut ds: DaemonSet = serde_yaml::from_str(&text).unwrap();
    ds.metadata.uid = Some("ds-web".into());
    Arc::new(ds)
}

fn status(name: &str, state: Value) -> Value {
    json!({"name": name, "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": state})
}

fn done(name: &str) -> Value {
    status(
        name,
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
    )
}

fn init(name: &str) -> Value {
    status(name, json!({"waiting": {"reason": "PodInitializing"}}))
}

fn preloader_pod(name: &str, node: &str, init: Value) -> Arc<Pod> {
    let ds = web_daemonset();
    let mut spec = serde_json::to_value(ds.spec.template.spec.clone().unwrap()).unwrap();
    spec["nodeName"] = json!(node);
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-system", "uid": format!("uid-{name}"),
                "creationTimestamp": "2026-11-28T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                    "name": "image-preloader-web", "uid": "ds-web", "controller": true}]},
            "spec": spec,
            "status": {"phase": "Pending", "initContainerStatuses": init},
        }))
        .unwrap(),
    )
}

fn workload(name: &str, node: &str, image: &str) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": image}]},
        }))
        .unwrap(),
    )
}

fn event(pod: &str, n: u32, at: &str, warning: bool, message: &str) -> Arc<Event> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": format!("{pod}.{n:04}"), "namespace": "kube-system"},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": "kube-system", "uid": format!("uid-{pod}")},
            "reason": "x", "message": message, "type": if warning { "Warning" } else { "Normal" },
            "lastTimestamp": at, "count": 1,
        }))
        .unwrap(),
    )
}

const PULLED_NGINX: &str = "Successfully pulled image \"nginx:1.25-alpine\" in 3.2s (3.2s including waiting). Image size: 18500000 bytes.";

fn pods() -> Vec<Arc<Pod>> {
    vec![
        preloader_pod(
            "image-preloader-web-aaaaa",
            "web-1",
            json!([
                done("preload-nginx"),
                done("preload-node"),
                done("preload-redis")
            ]),
        ),
        preloader_pod(
            "image-preloader-web-bbbbb",
            "web-2",
            json!([
                done("preload-nginx"),
                init("preload-node"),
                init("preload-redis")
            ]),
        ),
        preloader_pod(
            "image-preloader-web-ccccc",
            "web-3",
            json!([
                status(
                    "preload-nginx",
                    json!({"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"nginx:1.25-alpine\""}})
                ),
                init("preload-node"),
                init("preload-redis")
            ]),
        ),
        workload("shop-api-0", "web-1", "nginx:1.25-alpine"),
    ]
}

/// web-1 done, web-2 pulling its second image, web-3 failing on its first; batch-1 in no pool.
fn updates() -> Vec<Update> {
    let nginx = json!([
        {"names": ["docker.io/library/nginx@sha256:aa", "docker.io/library/nginx:1.25-alpine"], "sizeBytes": 18_500_000},
        {"names": ["docker.io/library/node:20-alpine"], "sizeBytes": 47_000_000},
        {"names": ["docker.io/library/redis:7-alpine"], "sizeBytes": 16_500_000},
    ]);
    vec![
        Update::Nodes(vec![
            node("web-1", nginx),
            node("web-2", json!([])),
            node("web-3", json!([])),
            node("batch-1", json!([])),
        ]),
        Update::Workloads(pods()),
        Update::Pods(
            pods()
                .into_iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some("kube-system"))
                .collect(),
        ),
        Update::Link(Watch::Workloads, Link::Live),
        Update::DaemonSets(vec![web_daemonset()]),
        Update::Events(vec![
            event(
                "image-preloader-web-aaaaa",
                1,
                "2026-11-28T10:00:01Z",
                false,
                "Pulling image \"nginx:1.25-alpine\"",
            ),
            event(
                "image-preloader-web-aaaaa",
                2,
                "2026-11-28T10:00:04Z",
                false,
                PULLED_NGINX,
            ),
            event(
                "image-preloader-web-aaaaa",
                3,
                "2026-11-28T10:00:05Z",
                false,
                "Successfully pulled image \"node:20-alpine\" in 8s (8s including waiting). Image size: 47000000 bytes.",
            ),
            event(
                "image-preloader-web-aaaaa",
                4,
                "2026-11-28T10:00:06Z",
                false,
                "Container image \"redis:7-alpine\" already present on machine",
            ),
            event(
                "image-preloader-web-bbbbb",
                1,
                "2026-11-28T10:00:01Z",
                false,
                "Pulling image \"nginx:1.25-alpine\"",
            ),
            event(
                "image-preloader-web-bbbbb",
                2,
                "2026-11-28T10:00:05Z",
                false,
                "Successfully pulled image \"nginx:1.25-alpine\" in 4s (4s including waiting). Image size: 18500000 bytes.",
            ),
            event(
                "image-preloader-web-bbbbb",
                3,
                "2026-11-28T10:00:15Z",
                false,
                "Pulling image \"node:20-alpine\"",
            ),
            event(
                "image-preloader-web-ccccc",
                1,
                "2026-11-28T10:00:02Z",
                true,
                "Failed to pull image \"nginx:1.25-alpine\": rpc error: code = Unavailable desc = connection reset by peer",
            ),
        ]),
        Update::Link(Watch::Nodes, Link::Live),
        Update::Link(Watch::Pods, Link::Live),
        Update::Link(Watch::DaemonSets, Link::Live),
        Update::Link(Watch::Events, Link::Live),
    ]
}

/// An app on the prod-eu context that has taken in these updates.
fn app_with(read_only: bool, updates: Vec<Update>) -> App {
    let header = Header {
        context: "prod-eu".into(),
        cluster: "eu-1".into(),
        server: "https://10.0.0.1:6443/".into(),
        namespace: "kube-system".into(),
    };
    let mut app = App::new(
        Config::default_config(),
        header,
        read_only,
        NOW.parse::<Timestamp>().unwrap(),
    );
    for u in updates {
        app.update(Action::Cluster(u));
    }
    app.refresh();
    app
}

fn app() -> App {
    app_with(false, updates())
}

fn press(app: &mut App, keys: &str) -> Vec<Action> {
    let mut out = Vec::new();
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            '\x08' => KeyCode::Backspace,
            c => KeyCode::Char(c),
        };
        if let Some(a) = app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE))) {
            out.push(a);
        }
        app.refresh();
    }
    out
}

fn draw(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| kpreload::tui::views::draw(f, app))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..height {
        let line: String = (0..width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[test]
fn the_pools_list_pools_then_nodes_in_no_pool() {
    let app = app();
    let keys: Vec<String> = app.rows().iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, ["web", "batch-1"]);
    let web = &app.overview.pools[0];
    assert_eq!(web.nodes_ready(), 1);
    assert_eq!(web.failures(), 1);
}

#[test]
fn the_pool_view_tells_a_shape_warning_and_the_failed_pulls_both() {
    let mut app = app();
    press(&mut app, "\n");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
    let warning = "the pool web has DaemonSets of two splits at once (image-preloader-web, \
                   image-preloader-web-1-of-2, image-preloader-web-2-of-2): an apply stopped \
                   part-way, or is running; apply the pools file again";
    app.overview.pools[0].warning = Some(warning.into());
    for (width, height) in [(80, 24), (160, 48)] {
        let screen = draw(&mut app, width, height);
        let joined: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            joined.contains("apply the pools file again"),
            "{width}x{height}:\n{screen}"
        );
        assert!(
            joined.contains("1 image pulls failed; open a node for the kubelet's words"),
            "{width}x{height}:\n{screen}"
        );
    }
}

#[test]
fn enter_drills_in_and_esc_comes_back() {
    let mut app = app();
    press(&mut app, "\n");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
    // Down twice: web-3; Enter opens the node.
    press(&mut app, "jj\n");
    assert_eq!(app.view().screen, Screen::Node("web-3".into()));
    press(&mut app, "\x1b");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
    assert_eq!(app.view().selected, 2, "the selection is kept");
    press(&mut app, "\x1b\x1b");
    assert_eq!(app.stack.len(), 1, "Esc at the top stays there");
    // Moving never leaves the list.
    press(&mut app, "kkkk");
    assert_eq!(app.view().selected, 0);
    press(&mut app, "G");
    assert_eq!(app.view().selected, 1);
}

#[test]
fn the_filter_narrows_the_list_and_esc_clears_it() {
    let mut app = app();
    press(&mut app, "\n/w3");
    assert_eq!(app.input, Some(Input::Filter));
    let rows: Vec<String> = app.rows().iter().map(|r| r.key.clone()).collect();
    assert_eq!(rows, ["web-3"]);
    assert_eq!(app.matches("web-3"), vec![0, 4]);
    press(&mut app, "\n");
    assert_eq!(app.input, None);
    assert_eq!(app.view().filter, "w3", "Enter keeps the filter");
    press(&mut app, "\n");
    assert_eq!(app.view().screen, Screen::Node("web-3".into()));
    press(&mut app, "\x1b\x1b");
    assert_eq!(app.view().filter, "", "Esc first clears the filter");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
}

#[test]
fn the_palette_opens_pools_and_nodes_and_switches_namespace() {
    let mut app = app();
    press(&mut app, ":node batch-1\n");
    assert_eq!(app.view().screen, Screen::Node("batch-1".into()));
    press(&mut app, ":pool web\n");
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
    assert_eq!(app.stack.len(), 2);
    press(&mut app, ":pool gpu\n");
    assert_eq!(
        app.notice.as_deref(),
        Some("no pool named \"gpu\"; the pools are web")
    );
    let actions = press(&mut app, ":ns monitoring\n");
    assert!(matches!(&actions[..], [Action::SwitchNamespace(ns)] if ns == "monitoring"));
    press(&mut app, ":ns Bad_Name\n");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("\"Bad_Name\" is not a namespace name")
    );
    press(&mut app, ":frobnicate\n");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("unknown command")
    );
    let actions = press(&mut app, "q");
    assert!(matches!(&actions[..], [Action::Quit]));
}

#[test]
fn help_opens_and_any_key_closes_it() {
    let mut app = app();
    press(&mut app, "?");
    assert!(app.help);
    let actions = press(&mut app, "j");
    assert!(!app.help);
    assert!(actions.is_empty());
    assert_eq!(app.view().selected, 0, "the closing key does nothing else");
}

#[test]
fn a_failed_watch_shows_in_the_header_until_it_is_live_again() {
    let mut app = app();
    app.update(Action::Cluster(Update::Link(
        Watch::Pods,
        Link::Retrying("the API server failed (500 boom) while watching pods; retrying".into()),
    )));
    let screen = draw(&mut app, 100, 10);
    assert!(
        screen.contains("◌ reconnecting (pods): the API server failed (500 boom)"),
        "{screen}"
    );
    app.update(Action::Cluster(Update::Link(Watch::Pods, Link::Live)));
    assert!(draw(&mut app, 100, 10).contains("● live"));
}

#[test]
fn a_tick_moves_elapsed_times_only_while_something_pulls() {
    let mut app = app();
    app.dirty = false;
    app.update(Action::Tick("2026-11-28T10:00:25Z".parse().unwrap()));
    assert!(app.dirty, "web-2 is pulling");
    app.refresh();
    let web2 = &app.overview.pools[0].nodes[1];
    assert_eq!(web2.node, "web-2");
    assert!(matches!(
        web2.images[1].state,
        kpreload::core::progress::ImageState::Pulling { .. }
    ));
}

#[test]
fn every_view_at_80x24_and_160x48() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = app();
        insta::assert_snapshot!(format!("pools_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "\n");
        insta::assert_snapshot!(format!("pool_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "\n");
        insta::assert_snapshot!(format!("node_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "?");
        insta::assert_snapshot!(format!("help_{w}x{h}"), draw(&mut app, w, h));
    }
}

#[test]
fn no_color_draws_without_colours() {
    let mut app = app();
    app.config.theme = app.config.theme.clone().plain();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|f| kpreload::tui::views::draw(f, &mut app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset);
        assert_eq!(cell.bg, ratatui::style::Color::Reset);
    }
}

#[test]
fn a_long_list_keeps_the_selection_in_view() {
    assert_eq!(kpreload::tui::views::window(0, 0, 10), (0, 0));
    assert_eq!(kpreload::tui::views::window(3, 5, 10), (0, 5));
    assert_eq!(kpreload::tui::views::window(20, 100, 10), (13, 8));
    assert_eq!(kpreload::tui::views::window(99, 100, 10), (92, 8));

    let mut app = app();
    let mut nodes: Vec<Arc<Node>> = (0..300)
        .map(|i| node(&format!("web-{i:03}"), json!([])))
        .collect();
    nodes.push(node("batch-1", json!([])));
    app.update(Action::Cluster(Update::Nodes(nodes)));
    app.refresh();
    press(&mut app, "\nG");
    assert_eq!(app.rows().len(), 300);
    let row = |screen: &str, name: &str| screen.lines().any(|l| l.starts_with(name));
    let screen = draw(&mut app, 80, 24);
    assert!(row(&screen, "web-299"), "{screen}");
    assert!(!row(&screen, "web-000"), "{screen}");
    press(&mut app, "g");
    let screen = draw(&mut app, 80, 24);
    assert!(
        row(&screen, "web-000") && !row(&screen, "web-299"),
        "{screen}"
    );
}

// ---- cleanup: the plan view, the confirmation, the run ----

/// The web preloader as kpreload renders it: a privileged cleanup container in a hostPID pod.
fn rendered_web_daemonset() -> Arc<DaemonSet> {
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

fn cleanup_pod(name: &str, node: &str, running: bool) -> Arc<Pod> {
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

fn status_of(name: &str, state: Value) -> Value {
    status(name, state)
}

/// A node that says it runs containerd.
fn containerd_node(name: &str, images: Value) -> Arc<Node> {
    let mut n = (*node(name, images)).clone();
    let mut status = serde_json::to_value(&n.status).unwrap();
    status["nodeInfo"] = json!({"containerRuntimeVersion": "containerd://1.7.13",
        "kubeletVersion": "v1.37.0", "osImage": "", "kernelVersion": "", "machineID": "",
        "systemUUID": "", "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux",
        "architecture": "amd64"});
    n.status = serde_json::from_value(status).unwrap();
    Arc::new(n)
}

fn versions(list: &[(&str, u64)]) -> Value {
    json!(
        list.iter()
            .map(|(n, s)| json!({"names": [format!("docker.io/library/{n}")], "sizeBytes": s}))
            .collect::<Vec<_>>()
    )
}

/// web-1 and web-2 hold old nginx and python versions; web-1's cleanup container runs,
/// web-2's preloader is still pulling; shop-api-0 uses nginx:1.23 on web-1.
fn cleanup_app(read_only: bool) -> App {
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
        Update::Workloads(pods.clone()),
        Update::Pods(pods[..2].to_vec()),
        Update::DaemonSets(vec![rendered_web_daemonset()]),
        Update::Events(vec![]),
        Update::Link(Watch::Nodes, Link::Live),
        Update::Link(Watch::Pods, Link::Live),
        Update::Link(Watch::DaemonSets, Link::Live),
        Update::Link(Watch::Events, Link::Live),
        Update::Link(Watch::Workloads, Link::Live),
    ];
    app_with(read_only, updates)
}

fn removals(app: &App) -> Vec<String> {
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
fn c_opens_the_pools_plan_and_keep_changes_in_place() {
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
fn x_leaves_a_node_out_and_the_confirmation_needs_the_pools_name() {
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
    assert!(app.effect.is_none());
    press(&mut app, "web\n");
    let Some(Effect::RunCleanup(plan)) = app.effect.take() else {
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
fn a_removal_new_since_the_dialog_opened_needs_the_word_again() {
    let mut app = cleanup_app(false);
    press(&mut app, "\nc");
    press(&mut app, "c");
    // The workload using nginx:1.23 on web-1 goes away while the dialog is open.
    let pods = vec![
        cleanup_pod("image-preloader-web-aaaaa", "web-1", true),
        cleanup_pod("image-preloader-web-bbbbb", "web-2", false),
    ];
    app.update(Action::Cluster(Update::Workloads(pods)));
    app.refresh();
    press(&mut app, "web\n");
    assert!(app.effect.is_none());
    match &app.cleanup.as_ref().unwrap().phase {
        Phase::Confirm { grew, typed, .. } => {
            assert_eq!(grew, &["web-1 nginx:1.23"]);
            assert!(typed.is_empty());
        }
        other => panic!("{other:?}"),
    }
    press(&mut app, "web\n");
    let Some(Effect::RunCleanup(plan)) = app.effect.take() else {
        panic!("no run asked for");
    };
    assert_eq!(plan.remove_images(), 3);
}

#[test]
fn read_only_shows_the_plan_but_never_runs_it() {
    let mut app = cleanup_app(true);
    press(&mut app, "\nc");
    assert_eq!(app.view().screen, Screen::Plan);
    press(&mut app, "c");
    assert!(app.notice.as_deref().unwrap().starts_with("read-only"));
    press(&mut app, "web\n");
    assert!(app.effect.is_none());
    assert_eq!(app.cleanup.as_ref().unwrap().phase, Phase::Preview);
}

fn report(node: &str, removed: &[&str], freed_each: u64) -> NodeReport {
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
fn the_run_shows_each_node_as_it_ends_then_back_to_the_refreshed_plan() {
    let mut app = cleanup_app(false);
    press(&mut app, "\ncc");
    press(&mut app, "web\n");
    app.effect.take().expect("a run");
    app.update(Action::CleanupStep(Step::Started("web-1".into())));
    let running = draw(&mut app, 80, 24);
    assert!(running.contains("◐ web-1: removing…"), "{running}");
    let done = report("web-1", &["nginx:1.24", "python:3.12"], 100_000_000);
    app.update(Action::CleanupStep(Step::Finished(done.clone())));
    app.update(Action::CleanupDone(vec![done]));
    insta::assert_snapshot!("cleanup_done_80x24", draw(&mut app, 80, 24));
    press(&mut app, "\x1b");
    assert_eq!(app.cleanup.as_ref().unwrap().phase, Phase::Preview);
    assert_eq!(app.view().screen, Screen::Plan);
}

#[test]
fn the_plan_and_its_confirmation_at_80x24_and_160x48() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = cleanup_app(false);
        press(&mut app, "\nc");
        insta::assert_snapshot!(format!("cleanup_plan_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "cwe");
        insta::assert_snapshot!(format!("cleanup_confirm_{w}x{h}"), draw(&mut app, w, h));
    }
}

#[test]
fn no_plan_until_every_namespaces_pods_are_known() {
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
fn the_plans_selected_line_stays_in_view() {
    let mut app = cleanup_app(false);
    press(&mut app, "\ncG");
    // 16 lines in a list area of 9: the last (web-2's python:3.14) is selected and shown.
    let screen = draw(&mut app, 80, 16);
    assert_eq!(screen.matches("python:3.14").count(), 2, "{screen}");
    assert!(
        screen.lines().rev().nth(1).unwrap().contains("python:3.14"),
        "the last list line is the selected one: {screen}"
    );
}

/// As `app()`, with older nginx versions on web-2 for the completion and tag lists.
fn edit_app() -> App {
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

fn draft(app: &App) -> Vec<String> {
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
    insta::assert_snapshot!("edit_80x24", draw(&mut app, 80, 24));
    // The completion list comes from what the cluster knows (here: the nodes' images).
    press(&mut app, "a");
    let choices = app.edit.as_ref().unwrap().choices(&app.snapshot);
    assert!(
        choices.iter().any(|(c, _)| c == "nginx:1.24-alpine"),
        "{choices:?}"
    );
    press(&mut app, "ngx");
    insta::assert_snapshot!("edit_completion_80x24", draw(&mut app, 80, 24));

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
    use kpreload::tui::edit::{Done, Previewed, Work};
    press(app, "t1.27-alpine\np");
    let Some(Effect::Edit(Work::Preview { pool, nodes, .. })) = app.effect.take() else {
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
    use kpreload::tui::edit::{Done, Work};
    let mut app = edit_app();
    previewed(&mut app);
    let Some(EditStep::Preview(p)) = app.edit.as_ref().map(|e| &e.step) else {
        panic!("the preview is open");
    };
    assert_eq!(p.summary, ["~ nginx  1.25-alpine → 1.27-alpine"]);
    // web-2 has 10 MB free: too little for nginx (its size is known from web-1's 1.25).
    let web2 = p.pulls.iter().find(|n| n.node == "web-2").unwrap();
    assert_eq!(web2.fits(), Some(false));
    insta::assert_snapshot!("edit_preview_100x30", draw(&mut app, 100, 30));

    press(&mut app, "y");
    assert!(matches!(app.effect, Some(Effect::Edit(Work::Apply { .. }))));
    app.effect = None;
    app.update(Action::Edit(Done::Applied(Err(ApplyError::Conflict(Conflict {
        summary: "image-preloader-web was changed by kubectl-edit (Update, 2026-11-28T10:00:19Z) since kpreload read it; nothing was applied and their change stands. Start again from the new state (in the TUI: e reopens the editor on it).".into(),
        managers: vec!["kubectl-edit (Update, 2026-11-28T10:00:19Z)".into()],
        changes: vec!["- image: redis:7-alpine".into(), "+ image: redis:7.4-alpine".into()],
    })))));
    insta::assert_snapshot!("edit_conflict_100x30", draw(&mut app, 100, 30));
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
    assert!(app.effect.is_none());
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
    use kpreload::tui::edit::Work;
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
        kpreload::tui::edit::matching(&app.snapshot, &app.edit.as_ref().unwrap().pool.selector),
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
    })) = app.effect.take()
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
    assert!(app.effect.is_some());
    let actions = press(&mut app, "q");
    assert!(actions.is_empty(), "q does nothing while applying");
    app.update(Action::Quit);
    assert!(!app.quit, "not even a quit from outside");
    assert!(
        app.notice.as_deref().unwrap().contains("running"),
        "{:?}",
        app.notice
    );
}

// ---- disk and kubelet insight: gauges, sizing, findings ----

const GB: u64 = 1_000_000_000;

/// A kubelet's answer as the node proxy gives it: GC threshold, serial pulls, image disk.
fn kubelet_said(
    high: u32,
    serialize: bool,
    used: u64,
    capacity: u64,
) -> kpreload::cluster::kubelet::Answer {
    let config = json!({"kubeletconfig": {
        "imageGCHighThresholdPercent": high, "imageGCLowThresholdPercent": 80,
        "serializeImagePulls": serialize}});
    let summary = json!({"node": {"runtime": {"imageFs": {
        "capacityBytes": capacity, "usedBytes": used, "availableBytes": capacity - used}}}});
    Ok((
        kpreload::core::findings::Kubelet::from_configz(&config),
        kpreload::core::findings::Disk::from_summary(&summary),
    ))
}

/// The next second: the insight is derived again at most once a second.
fn tick(app: &mut App) {
    let next = app
        .now
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    app.update(Action::Tick(next));
    app.refresh();
}

#[test]
fn only_the_kubelets_on_screen_are_read_then_gauges_sizing_and_findings_show_what_they_said() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut app = app();
        draw(&mut app, w, h);
        // The pools list asks for a few nodes of each pool, nothing else.
        assert_eq!(app.kubelets.take(100), ["web-1", "web-2", "web-3"]);
        app.update(Action::Kubelet(
            "web-1".into(),
            kubelet_said(85, true, 70 * GB, 100 * GB),
        ));
        app.update(Action::Kubelet(
            "web-2".into(),
            kubelet_said(85, true, 40 * GB, 100 * GB),
        ));
        app.update(Action::Kubelet(
            "web-3".into(),
            Err("not allowed to get nodes/proxy, which reads the kubelet's settings and disk (`kpreload rbac` grants it)".into()),
        ));
        tick(&mut app);
        let screen = draw(&mut app, w, h);
        // web-1 is the fullest: 70 % of its disk, GC at 85 %.
        assert!(screen.contains("70% fullest web-1 · 2/3 read"), "{screen}");
        insta::assert_snapshot!(format!("disks_pools_{w}x{h}"), screen);
        assert!(
            app.kubelets.take(100).is_empty(),
            "fresh readings are not asked again"
        );

        press(&mut app, "\n");
        let screen = draw(&mut app, w, h);
        assert!(
            screen.contains("web-1, the fullest of 2/3 read"),
            "{screen}"
        );
        // The article's formula: (pool images 18.5 + 47 + 16.5 MB, no workloads) × 2 versions
        // + 30 % + 10 GB = 10.21 GB, against the smallest disk read, 100 GB.
        assert!(
            screen
                .replace('\n', " ")
                .contains("needs 10.21 GB, smallest disk 100 GB: fits"),
            "{screen}"
        );
        insta::assert_snapshot!(format!("disks_pool_{w}x{h}"), screen);

        press(&mut app, "i");
        tick(&mut app);
        let screen = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("findings_{w}x{h}"), screen);
        let codes: Vec<(&str, kpreload::core::findings::Severity)> = app
            .insight
            .as_ref()
            .unwrap()
            .findings
            .iter()
            .map(|f| (f.code, f.severity))
            .collect();
        use kpreload::core::findings::Severity::*;
        assert_eq!(
            codes,
            [
                ("image-gc", Warning),
                ("serial-pulls", Info),
                ("sizing", Info),
                ("unread", Info)
            ]
        );
        let unread = &app.insight.as_ref().unwrap().findings[3];
        assert!(
            unread.message.contains("not allowed to get nodes/proxy") && unread.nodes == ["web-3"],
            "{unread:?}"
        );
        if h >= 48 {
            assert!(
                screen.contains("not allowed to get nodes/proxy"),
                "{screen}"
            );
        }
        // Enter opens the finding's pool; r reads the kubelets again.
        press(&mut app, "r");
        assert_eq!(app.kubelets.take(100), ["web-1", "web-2", "web-3"]);
        press(&mut app, "\n");
        assert_eq!(app.view().screen, Screen::Pool("web".into()));
    }
}

#[test]
fn a_pool_view_reads_only_the_rows_in_view() {
    let mut app = app();
    let nodes: Vec<Arc<Node>> = (0..300)
        .map(|i| node(&format!("web-{i:03}"), json!([])))
        .collect();
    app.update(Action::Cluster(Update::Nodes(nodes)));
    app.refresh();
    press(&mut app, "\n");
    draw(&mut app, 80, 24);
    let asked = app.kubelets.take(1000);
    assert!(
        !asked.is_empty() && asked.len() <= 24,
        "asked for {} kubelets: {asked:?}",
        asked.len()
    );
    assert!(asked.iter().all(|n| n.starts_with("web-0")), "{asked:?}");
    press(&mut app, "G");
    draw(&mut app, 80, 24);
    let asked = app.kubelets.take(1000);
    assert!(asked.contains(&"web-299".to_string()), "{asked:?}");
    assert!(asked.len() <= 24);
}

#[test]
fn switching_namespaces_asks_again_for_the_kubelets_whose_reads_were_stopped() {
    let mut app = app();
    draw(&mut app, 80, 24);
    assert_eq!(app.kubelets.take(100), ["web-1", "web-2", "web-3"]);
    // The loop stops every task on a switch, the kubelet reads among them.
    app.update(Action::SwitchNamespace("preload".into()));
    for u in updates() {
        app.update(Action::Cluster(u));
    }
    app.refresh();
    draw(&mut app, 80, 24);
    assert_eq!(app.kubelets.take(100), ["web-1", "web-2", "web-3"]);
}
