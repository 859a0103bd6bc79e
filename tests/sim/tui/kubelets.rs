//! Disk and kubelet insight: gauges, sizing and findings from the kubelets on screen.

use super::*;

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
        snapshot(&format!("disks_pools_{w}x{h}"), screen.clone());
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
        snapshot(&format!("disks_pool_{w}x{h}"), screen.clone());

        press(&mut app, "i");
        tick(&mut app);
        let screen = draw(&mut app, w, h);
        snapshot(&format!("findings_{w}x{h}"), screen.clone());
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
                ("unread", Info),
                ("worth-preloading", Info)
            ]
        );
        // The-app cost the web pool two pulls; its size is weighed against the room the
        // kubelets read leave before GC.
        let worth = &app.insight.as_ref().unwrap().findings[4];
        assert!(
            worth.message.starts_with(
                "workloads pulled registry.local:5000/the-app:v1.3 in 2 of its 3 starts, 51s of pod start lost (28s of it waiting behind other pulls); 221.91 MB against "
            ) && worth.message.ends_with("of room before image GC on its fullest node"),
            "{worth:?}"
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
