//! The TUI without a terminal: key sequences and cluster updates in, state and actions out;
//! and every view drawn into ratatui's TestBackend from fixed states, snapshotted with insta.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kpreload::cluster::watch::{Link, Update, Watch};
use kpreload::core::objects::{Event, Pod};
use kpreload::tui::app::{Action, App, Header, Input, Screen};
use kpreload::tui::config::Config;
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

fn app() -> App {
    let header = Header {
        context: "prod-eu".into(),
        cluster: "eu-1".into(),
        server: "https://10.0.0.1:6443/".into(),
        namespace: "kube-system".into(),
    };
    let mut app = App::new(
        Config::default_config(),
        header,
        false,
        NOW.parse::<Timestamp>().unwrap(),
    );
    for u in updates() {
        app.update(Action::Cluster(u));
    }
    app.refresh();
    app
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
