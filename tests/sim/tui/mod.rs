//! The TUI without a terminal: key sequences and cluster updates in, state and actions out;
//! and every view drawn into ratatui's TestBackend from fixed states, snapshotted with insta.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kpreload::cluster::removal::{NodeReport, Step};
use kpreload::cluster::watch::{Link, Update, Watch};
use kpreload::core::fixtures;
use kpreload::core::objects::{Event, Pod};
use kpreload::runtime::{Candidate, NameResult, Outcome, Removal};
use kpreload::tui::app::{Action, App, Effect, Header, Input};
use kpreload::tui::config::Config;
use kpreload::tui::screens::Screen;
use kpreload::tui::screens::edit::Step as EditStep;
use kpreload::tui::screens::plan::{Phase, Scope};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

pub(crate) mod cleanup;
pub(crate) mod edit;
mod kubelets;
mod pulls;
mod room;
mod views;

const NOW: &str = "2026-11-28T10:00:20Z";

pub fn node(name: &str, images: Value) -> Arc<Node> {
    let web = name.starts_with("web");
    fixtures::node(name)
        .labels(json!({"workload-type": if web { "web" } else { "batch" }}))
        .taints(if web {
            json!([{"key": "workload", "value": "web", "effect": "NoSchedule"}])
        } else {
            json!([])
        })
        .images(images)
        .storage("100Gi")
        .ready()
        .build()
}

pub fn web_daemonset() -> Arc<DaemonSet> {
    let text = std::fs::read_to_string("tests/fixtures/article/image-preloader-web.yaml").unwrap();
    fixtures::daemonset(&text, "ds-web")
}

pub fn status(name: &str, state: Value) -> Value {
    fixtures::container_status(name, false, state)
}

pub fn done(name: &str) -> Value {
    status(
        name,
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
    )
}

pub fn init(name: &str) -> Value {
    status(name, json!({"waiting": {"reason": "PodInitializing"}}))
}

pub fn preloader_pod(name: &str, node: &str, init: Value) -> Arc<Pod> {
    fixtures::preloader_pod(
        &web_daemonset(),
        name,
        node,
        "2026-11-28T10:00:00Z",
        json!({"phase": "Pending", "initContainerStatuses": init}),
    )
}

pub fn workload(name: &str, node: &str, image: &str) -> Arc<Pod> {
    fixtures::workload("shop", name, node, image)
}

pub fn event(pod: &str, n: u32, at: &str, warning: bool, message: &str) -> Arc<Event> {
    let kind = if warning { "Warning" } else { "Normal" };
    fixtures::event_of(fixtures::event(pod, n, at, kind, "x", message))
}

pub const PULLED_NGINX: &str = "Successfully pulled image \"nginx:1.25-alpine\" in 3.2s (3.2s including waiting). Image size: 18500000 bytes.";

pub fn pods() -> Vec<Arc<Pod>> {
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
pub fn updates() -> Vec<Update> {
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
        Update::Workloads(kpreload::core::objects::records(&pods())),
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
        Update::Starts(starts()),
        Update::Link(Watch::Starts, Link::Live),
    ]
}

/// The kubelet's words on the shop's starts on the web pool: nginx (preloaded) found every
/// time; the-app (not preloaded) pulled on web-1 behind another pull and on web-2; one
/// start on batch-1, in no pool.
pub fn starts() -> Vec<kpreload::core::payoff::Start> {
    let said = |node: &str, pod: &str, image: &str, outcome| kpreload::core::payoff::Start {
        node: node.into(),
        namespace: "shop".into(),
        pod: pod.into(),
        uid: format!("uid-{pod}").into(),
        image: image.into(),
        at: NOW.parse::<Timestamp>().unwrap().as_second() - 600,
        outcome,
    };
    use kpreload::core::payoff::Outcome::{Present, Pulled};
    let app = "registry.local:5000/the-app:v1.3";
    vec![
        said("web-1", "api-1", "nginx:1.25-alpine", Present),
        said(
            "web-1",
            "api-1",
            app,
            Pulled {
                seconds: 12.3,
                total: 41.0,
                bytes: Some(221_908_431),
            },
        ),
        said("web-2", "api-2", "nginx:1.25-alpine", Present),
        said(
            "web-2",
            "api-2",
            app,
            Pulled {
                seconds: 10.1,
                total: 10.1,
                bytes: Some(221_908_431),
            },
        ),
        said("web-1", "api-3", "nginx:1.25-alpine", Present),
        said("web-1", "api-3", app, Present),
        said(
            "batch-1",
            "job-1",
            app,
            Pulled {
                seconds: 9.0,
                total: 9.0,
                bytes: Some(221_908_431),
            },
        ),
    ]
}

/// An app on the prod-eu context that has taken in these updates.
pub fn app_with(read_only: bool, updates: Vec<Update>) -> App {
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

pub fn app() -> App {
    app_with(false, updates())
}

/// Types `keys`. The effects they ask for are left in `app.effects`, where the tests look
/// at them (the loop would perform them).
pub fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            '\x08' => KeyCode::Backspace,
            c => KeyCode::Char(c),
        };
        let effects = app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        app.effects.extend(effects);
        app.refresh();
    }
}

/// The next second (the insight is derived again at most once a second; estimates move on).
pub fn tick(app: &mut App) {
    let next = app
        .now
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    app.update(Action::Tick(next));
    app.refresh();
}

pub fn draw(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.before_draw(ratatui::layout::Rect::new(0, 0, width, height));
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

/// Snapshots keep their names and place (`tests/snapshots/tui__NAME.snap`) whichever
/// module of these tests takes them.
pub fn snapshot(name: &str, screen: String) {
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(format!("tui__{name}"), screen);
    });
}
