//! The lists, the pool and node views, the filter, the palette, help and the header.

use super::*;

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
    std::sync::Arc::make_mut(&mut app.overview.pools[0]).warning = Some(warning.into());
    for (width, height) in [(80, 24), (160, 48)] {
        let screen = draw(&mut app, width, height);
        let joined: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            joined.contains("apply the pools file again"),
            "{width}x{height}:\n{screen}"
        );
        assert!(
            joined.contains("1 image pull failed; open a node for the kubelet's words"),
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
    // The matrix draws the rows the list keeps, and only those.
    let screen = draw(&mut app, 120, 30);
    let matrix: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.starts_with("NODE"))
        .skip(1)
        .take_while(|l| !l.starts_with(' '))
        .collect();
    assert_eq!(matrix.len(), 1, "{screen}");
    assert!(matrix[0].starts_with("web-3"), "{screen}");
    assert_eq!(app.drawn_rows.borrow().1, ["web-3"]);
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
    press(&mut app, ":ns monitoring\n");
    assert!(matches!(&app.effects[..], [Effect::Watch(ns)] if ns == "monitoring"));
    assert_eq!(app.header.namespace, "monitoring");
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
    assert!(!app.quit);
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn help_opens_and_any_key_closes_it() {
    let mut app = app();
    press(&mut app, "?");
    assert!(app.help);
    press(&mut app, "j");
    assert!(!app.help);
    assert!(app.effects.is_empty() && !app.quit);
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
        snapshot(&format!("pools_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "\n");
        snapshot(&format!("pool_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "\n");
        snapshot(&format!("node_{w}x{h}"), draw(&mut app, w, h));
        press(&mut app, "?");
        snapshot(&format!("help_{w}x{h}"), draw(&mut app, w, h));
    }
}

#[test]
fn no_color_draws_without_colours() {
    let mut app = app();
    app.config.theme = app.config.theme.clone().plain();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    app.before_draw(ratatui::layout::Rect::new(0, 0, 80, 24));
    terminal
        .draw(|f| kpreload::tui::views::draw(f, &app))
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

/// The fixture's cluster with node pools: its web nodes in a GKE node pool (served by the
/// web preloader), three tainted GPU nodes in an EKS node group nothing preloads for, and
/// batch-1 in neither.
fn app_with_node_pools() -> App {
    let mut app = app();
    let labelled = |name: &str, labels: Value, taints: Value| {
        fixtures::node(name)
            .labels(labels)
            .taints(taints)
            .storage("100Gi")
            .ready()
            .build()
    };
    let web = |name: &str| {
        labelled(
            name,
            json!({"workload-type": "web", "cloud.google.com/gke-nodepool": "web-pool"}),
            json!([{"key": "workload", "value": "web", "effect": "NoSchedule"}]),
        )
    };
    let gpu = |name: &str| {
        labelled(
            name,
            json!({"eks.amazonaws.com/nodegroup": "gpu-a10"}),
            json!([{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]),
        )
    };
    app.update(Action::Cluster(Update::Nodes(vec![
        web("web-1"),
        web("web-2"),
        web("web-3"),
        gpu("gpu-10"),
        gpu("gpu-2"),
        gpu("gpu-1"),
        node("batch-1", json!([])),
    ])));
    app.refresh();
    app
}

#[test]
fn the_pools_list_shows_every_node_pool_covered_or_not_then_the_nodes_in_neither() {
    let mut app = app_with_node_pools();
    let keys: Vec<String> = app.rows().iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, ["web", "gpu-a10", "web-pool", "batch-1"]);
    let gpu = &app.node_pools[0];
    assert_eq!(gpu.nodes, ["gpu-1", "gpu-2", "gpu-10"]);
    assert!(gpu.uncovered());
    let web_pool = &app.node_pools[1];
    assert_eq!(
        (web_pool.covered, web_pool.preloaders[0].0.as_str()),
        (3, "web")
    );
    for (w, h) in [(80, 24), (160, 48)] {
        let screen = draw(&mut app, w, h);
        assert!(screen.contains("no preloader"), "{screen}");
        // The first line counts gpu-a10's three nodes as not warm: nothing preloads them.
        let joined: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            joined.contains("3 nodes in 1 node pool with no preloader (gpu-a10)"),
            "{screen}"
        );
        snapshot(&format!("pools_node_pools_{w}x{h}"), screen);
    }
    // Its screen, and n on it: a new pool with its selector and its taint's toleration.
    press(&mut app, "j\n");
    assert_eq!(app.view().screen, Screen::NodePool("gpu-a10".into()));
    snapshot("node_pool_80x24", draw(&mut app, 80, 24));
    press(&mut app, "n");
    let e = app.edit.as_ref().expect("the new-pool editor");
    assert_eq!(e.pool.name, "gpu-a10");
    assert_eq!(
        e.pool.selector.terms,
        [[kpreload::core::selector::Requirement::equals(
            "eks.amazonaws.com/nodegroup",
            "gpu-a10"
        )]]
    );
    let EditStep::NewTolerations { proposed, .. } = &e.step else {
        panic!("{:?}", e.step);
    };
    assert_eq!(proposed.len(), 1);
    assert_eq!(
        (
            proposed[0].0.key.as_str(),
            proposed[0].0.value.as_str(),
            proposed[0].1
        ),
        ("nvidia.com/gpu", "true", true)
    );
    // A node pool a preloader serves already is edited through that pool.
    let mut app = app_with_node_pools();
    press(&mut app, "jj");
    press(&mut app, "n");
    assert_eq!(app.view().screen, Screen::Pools);
    assert_eq!(
        app.notice.as_deref(),
        Some(
            "the node pool web-pool is preloaded by the pool web already; e on that pool edits its images"
        )
    );
}

#[test]
fn without_leave_to_read_events_the_rest_is_live_and_the_pool_says_why_its_figures_are_missing() {
    let why = "may not list and watch events in all namespaces (403 Forbidden); `kpreload rbac` prints the role this needs";
    let mut updates: Vec<Update> = updates()
        .into_iter()
        .filter(|u| !matches!(u, Update::Starts(_) | Update::Link(Watch::Starts, _)))
        .collect();
    updates.push(Update::Link(Watch::Starts, Link::Retrying(why.into())));
    let mut app = app_with(false, updates);
    app.open(Screen::Pool("web".into()));
    app.refresh();
    let screen = draw(&mut app, 160, 48);
    assert!(screen.contains("● live"), "{screen}");
    assert!(
        screen.contains(&format!("the kubelet's image events cannot be read: {why}")),
        "{screen}"
    );
    press(&mut app, "A");
    assert_eq!(
        app.notice.as_deref(),
        Some(format!("the workloads' starts cannot be read: {why}").as_str())
    );
    assert_eq!(app.view().screen, Screen::Pool("web".into()));
}

#[test]
fn a_on_a_pool_opens_the_editor_with_its_costliest_miss_added_and_read_only_refuses() {
    let mut app = app();
    app.open(Screen::Pool("web".into()));
    app.refresh();
    press(&mut app, "A");
    assert_eq!(app.view().screen, Screen::Edit, "{:?}", app.notice);
    assert_eq!(
        super::edit::draft(&app),
        [
            "nginx:1.25-alpine",
            "node:20-alpine",
            "redis:7-alpine",
            "registry.local:5000/the-app:v1.3"
        ]
    );
    let mut app = app_with(true, updates());
    app.open(Screen::Pool("web".into()));
    app.refresh();
    press(&mut app, "A");
    assert_eq!(
        app.notice.as_deref(),
        Some("read-only: the pool's images cannot be edited")
    );
}
