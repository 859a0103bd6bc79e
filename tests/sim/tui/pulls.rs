//! Pulls in bytes: what a node's runtime said, on the pool matrix and the node view; the
//! estimate when nothing can be read, and why; which nodes are read, how often, and that
//! nothing is read when nothing pulls.

use std::collections::{BTreeMap, BTreeSet};

use kpreload::core::cleanup::ExecTarget;
use kpreload::core::progress::bytes::LiveTarget;
use kpreload::runtime::{ActivePull, Tool};

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The node reads the loop would start now (the app's background work, its pull reads).
fn reads(app: &mut App) -> Vec<LiveTarget> {
    app.background(8)
        .into_iter()
        .flat_map(|e| match e {
            Effect::ReadPulls(t) => t,
            _ => Vec::new(),
        })
        .collect()
}

fn ingest(reference: &str, offset: u64) -> ActivePull {
    ActivePull {
        reference: reference.into(),
        offset,
        age_seconds: None,
    }
}

/// web-2's node:20-alpine pull (the fixtures' pulling image) as a read would name it.
fn web_2_target() -> LiveTarget {
    LiveTarget {
        node: "web-2".into(),
        image: "node:20-alpine".into(),
        since: Some(at("2026-11-28T10:00:15Z")),
        exec: ExecTarget {
            namespace: "kube-system".into(),
            pod: "image-preloader-web-bbbbb".into(),
            container: "cleanup".into(),
        },
        tool: Tool::Ctr,
    }
}

#[test]
fn a_pull_read_from_its_node_shows_its_bytes_and_rate_in_the_matrix_and_a_gauge_on_the_node() {
    let mut app = app();
    // Two readings two seconds apart: the first layer at 30 MB; then it is committed (gone
    // from `content active`) and the next one has 10 MB.
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:18Z"),
        Ok(vec![ingest("layer-sha256:aa", 30_000_000)]),
    ));
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:20Z"),
        Ok(vec![ingest("layer-sha256:bb", 10_000_000)]),
    ));
    app.open(Screen::Pool("web".into()));
    app.refresh();
    let screen = draw(&mut app, 160, 48);
    // 40 MB of node:20-alpine's 47 MB (the size web-1 reports), 5 MB/s between the reads:
    // read, so no `~`; the committed layer still counts.
    assert!(screen.contains("↓ 40/47 MB 5.0 MB/s"), "{screen}");
    assert!(
        screen.contains(
            "bytes read from the nodes' runtimes (ctr content active) · 1 on screen pulling"
        ),
        "{screen}"
    );
    // The pool's bytes: 84 MB pulled and 40 MB under way.
    assert!(screen.contains("· 124 MB ·"), "{screen}");
    snapshot("pull_bytes_pool_160x48", screen);

    app.open(Screen::Node("web-2".into()));
    app.refresh();
    let screen = draw(&mut app, 160, 48);
    // 7 MB to go at 5 MB/s.
    assert!(
        screen.contains("40/47 MB · 5 MB/s · ETA ~1.4s · read from the node"),
        "{screen}"
    );
    snapshot("pull_bytes_node_160x48", screen);
}

#[test]
fn a_reading_below_what_the_screen_showed_holds_the_figure_as_an_estimate() {
    // The first frame estimated 23 MB (5 s at the node's 4.62 MB/s); the node then says 20.
    let mut app = app();
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:20Z"),
        Ok(vec![ingest("layer-sha256:aa", 20_000_000)]),
    ));
    app.open(Screen::Pool("web".into()));
    app.refresh();
    let screen = draw(&mut app, 160, 48);
    assert!(
        screen.contains("↓ ~23/47 MB"),
        "never less than shown: {screen}"
    );
}

#[test]
fn a_read_that_goes_back_keeps_the_figure_and_says_the_pull_started_over() {
    let mut app = app();
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:18Z"),
        Ok(vec![ingest("layer-sha256:aa", 30_000_000)]),
    ));
    // The blob's offset is lower: it started over. Its 30 MB stay on screen.
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:20Z"),
        Ok(vec![ingest("layer-sha256:aa", 2_000_000)]),
    ));
    app.open(Screen::Pool("web".into()));
    app.refresh();
    let screen = draw(&mut app, 160, 48);
    assert!(screen.contains("↻ 30/47 MB"), "{screen}");
    app.open(Screen::Node("web-2".into()));
    app.refresh();
    let screen = draw(&mut app, 160, 48);
    assert!(screen.contains("started over 1×, bytes kept"), "{screen}");
}

#[test]
fn read_only_estimates_the_bytes_marks_them_and_says_why_and_execs_nothing() {
    let mut app = app_with(true, updates());
    app.open(Screen::Pool("web".into()));
    app.refresh();
    let screen = draw(&mut app, 80, 24);
    // 5 s since web-2's Pulling event at its nginx pull's 4.62 MB/s, of 47 MB: an estimate.
    assert!(screen.contains("↓ ~23/47 MB 4.6 MB/s"), "{screen}");
    assert!(
        screen.contains("~ bytes estimated (known sizes, earlier rates), not read: read-only"),
        "{screen}"
    );
    snapshot("pull_bytes_read_only_80x24", screen);
    for _ in 0..5 {
        tick(&mut app);
        draw(&mut app, 80, 24);
        assert!(
            reads(&mut app).is_empty(),
            "read-only reads nothing from the nodes"
        );
    }
}

const NODES: usize = 500;

/// A pool of 500 nodes rendered by kpreload (its cleanup container a sidecar, running),
/// every node pulling team/big:1 when `pulling`, else done.
fn big_pool(pulling: bool) -> App {
    let file = kpreload::core::pools::PoolsFile::parse(
        "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\n\
         pools:\n- name: big\n  nodeSelector: {matchLabels: {pool: big}}\n  images: [team/big:1]\n",
        "big.yaml",
    )
    .unwrap();
    let ds = kpreload::core::render::render_pool(&file, &file.pools[0]);
    let ds = fixtures::daemonset(&kpreload::core::render::to_yaml(&[ds]), "ds-big");
    let info = json!({"architecture": "amd64", "bootID": "", "containerRuntimeVersion":
        "containerd://1.7.13", "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion":
        "v1.33.0", "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": ""});
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    let mut events = Vec::new();
    for i in 1..=NODES {
        let name = format!("big-{i}");
        nodes.push(
            fixtures::node(&name)
                .labels(json!({"pool": "big"}))
                .with(&["status", "nodeInfo"], info.clone())
                .ready()
                .build(),
        );
        let pod = format!("image-preloader-big-{i}");
        let last = if pulling {
            init("preload-big")
        } else {
            done("preload-big")
        };
        pods.push(fixtures::preloader_pod(
            &ds,
            &pod,
            &name,
            "2026-11-28T10:00:00Z",
            json!({"phase": "Pending", "initContainerStatuses": [
                status("cleanup", json!({"running": {"startedAt": "2026-11-28T10:00:01Z"}})),
                done("kpreload-noop"),
                last,
            ]}),
        ));
        events.push(event(
            &pod,
            1,
            "2026-11-28T10:00:02Z",
            false,
            "Pulling image \"team/big:1\"",
        ));
    }
    let updates = vec![
        Update::Nodes(nodes),
        Update::Workloads(Vec::new()),
        Update::Pods(pods),
        Update::DaemonSets(vec![ds]),
        Update::Events(events),
        Update::Link(Watch::Nodes, Link::Live),
        Update::Link(Watch::Pods, Link::Live),
        Update::Link(Watch::DaemonSets, Link::Live),
        Update::Link(Watch::Events, Link::Live),
        Update::Link(Watch::Workloads, Link::Live),
        Update::Link(Watch::Starts, Link::Live),
    ];
    let mut app = app_with(false, updates);
    app.open(Screen::Pool("big".into()));
    app.refresh();
    app
}

/// A minute of the loop on a 160×48 pool screen: a tick a second, the loop asking for its
/// background work four times between ticks, every read answered at once. The reads, by
/// second and by node.
fn a_minute(app: &mut App) -> (Vec<usize>, BTreeMap<String, Vec<Timestamp>>) {
    let mut per_second = Vec::new();
    let mut by_node: BTreeMap<String, Vec<Timestamp>> = BTreeMap::new();
    for _ in 0..60 {
        tick(app);
        let mut started = 0;
        for _ in 0..4 {
            app.refresh();
            draw(app, 160, 48);
            for t in reads(app) {
                started += 1;
                by_node.entry(t.node.clone()).or_default().push(app.now);
                let now = app.now;
                app.update(Action::Pulls(
                    t,
                    now,
                    Ok(vec![ingest("layer-sha256:cc", 1_000_000)]),
                ));
            }
        }
        per_second.push(started);
    }
    (per_second, by_node)
}

#[test]
fn only_pulling_nodes_in_view_are_read_at_most_eight_a_second_and_none_when_nothing_pulls() {
    let mut app = big_pool(true);
    draw(&mut app, 160, 48);
    // The rows the matrix drew: 160×48 less the header, the pool's summary and its log.
    let in_view: BTreeSet<String> = app.drawn_rows.borrow().1.iter().cloned().collect();
    assert!((20..40).contains(&in_view.len()), "{}", in_view.len());
    let (per_second, by_node) = a_minute(&mut app);
    let total: usize = per_second.iter().sum();
    assert!(
        per_second.iter().all(|n| *n <= 8),
        "at most 8 a second: {per_second:?}"
    );
    // All of the budget is used while the screen's nodes pull, and only on them.
    assert!(total >= 8 * 55, "{total} reads in a minute: {per_second:?}");
    let read: BTreeSet<String> = by_node.keys().cloned().collect();
    assert!(read.is_subset(&in_view), "{read:?} outside {in_view:?}");
    assert!(read.len() > in_view.len() / 2, "{read:?}");
    // No node is read twice within a second.
    for (node, times) in &by_node {
        for w in times.windows(2) {
            assert!(
                w[1].duration_since(w[0]).as_secs_f64() >= 1.0,
                "{node}: {times:?}"
            );
        }
    }
    println!(
        "a 160x48 pool screen on a {NODES}-node pool, every node pulling: {total} reads in 60 s \
         ({:.1}/s) over {} nodes in view",
        total as f64 / 60.0,
        read.len()
    );

    let mut idle = big_pool(false);
    let (per_second, _) = a_minute(&mut idle);
    assert_eq!(
        per_second.iter().sum::<usize>(),
        0,
        "nothing pulls: no exec"
    );
}

#[test]
fn a_node_whose_read_failed_is_tried_again_ten_seconds_later_and_its_reason_is_shown() {
    let mut app = big_pool(true);
    draw(&mut app, 160, 48);
    let first = reads(&mut app);
    assert!(!first.is_empty());
    let failed: BTreeSet<String> = first.iter().map(|t| t.node.clone()).collect();
    let t0 = app.now;
    for t in first {
        app.update(Action::Pulls(
            t,
            t0,
            Err("the exec into pod kube-system/x failed: error dialing backend".into()),
        ));
    }
    let (_, by_node) = a_minute(&mut app);
    for node in &failed {
        let again = by_node[node][0];
        let waited = again.duration_since(t0).as_secs_f64();
        assert!(
            (9.0..=12.0).contains(&waited),
            "{node} read again after {waited} s"
        );
    }
    // Until then the pool says why its bytes are estimated.
    let mut fresh = big_pool(true);
    draw(&mut fresh, 160, 48);
    let targets = reads(&mut fresh);
    let now = fresh.now;
    for t in targets {
        fresh.update(Action::Pulls(t, now, Err("error dialing backend".into())));
    }
    // The loop asks again at once, and each second: the reason stays until the retry.
    for _ in 0..5 {
        fresh.refresh();
        draw(&mut fresh, 160, 48);
        let again = reads(&mut fresh);
        assert!(
            again.iter().all(|t| t.node != "big-1"),
            "big-1 is not read again within ten seconds"
        );
        fresh.refresh();
        let screen = draw(&mut fresh, 160, 48);
        assert!(
            screen.contains("not read: big-1: error dialing backend"),
            "{screen}"
        );
        tick(&mut fresh);
    }
}

#[test]
fn a_namespace_switch_forgets_the_readings_and_drops_a_late_answer() {
    let mut app = app();
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:18Z"),
        Ok(vec![ingest("layer-sha256:aa", 10_000_000)]),
    ));
    assert!(!app.pulls.tracker.is_empty());
    app.update(Action::SwitchNamespace("preload".into()));
    assert!(app.pulls.tracker.is_empty(), "forgotten");
    // The old namespace's read, answered after the switch: not taken.
    app.update(Action::Pulls(
        web_2_target(),
        at("2026-11-28T10:00:20Z"),
        Ok(vec![ingest("layer-sha256:aa", 20_000_000)]),
    ));
    assert!(app.pulls.tracker.is_empty(), "a late answer is dropped");
}
