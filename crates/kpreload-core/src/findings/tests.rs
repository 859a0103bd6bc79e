use serde_json::json;

use super::*;

const GIB: u64 = 1 << 30;

fn kubelet(high: u32, serialize: bool, max_age: &str) -> Kubelet {
    Kubelet::from_configz(&json!({"kubeletconfig": {
        "imageGCHighThresholdPercent": high, "imageGCLowThresholdPercent": 80,
        "imageMaximumGCAge": max_age, "serializeImagePulls": serialize}}))
}

fn node(name: &str, k: Kubelet, used: u64, capacity: u64) -> NodeFacts {
    NodeFacts {
        node: name.into(),
        pool: Some("ml".into()),
        kubelet: Some(k),
        disk: Some(Disk {
            capacity,
            used,
            available: capacity - used,
        }),
        ..Default::default()
    }
}

fn ml(bytes: u64) -> PoolFacts {
    PoolFacts {
        pool: "ml".into(),
        images: vec![
            ("pytorch:2".into(), Some(bytes)),
            ("jupyter:1".into(), None),
        ],
        workload_bytes: 0,
        keep: 2,
        shards: 1,
        rate: None,
        shape: None,
        own_removals: Vec::new(),
        drift: Vec::new(),
        tags: Vec::new(),
        registry: Vec::new(),
        mutable: Vec::new(),
        payoff: None,
        scheduled_cleanup: None,
    }
}

fn without_sizing(f: Vec<Finding>) -> Vec<Finding> {
    f.into_iter().filter(|f| f.code != "sizing").collect()
}

fn codes(f: &[Finding]) -> Vec<(&'static str, Severity)> {
    f.iter().map(|f| (f.code, f.severity)).collect()
}

#[test]
fn gc_at_85_with_little_headroom_is_a_warning_with_the_distance_and_the_remedy() {
    // 100 GiB disk at 70 %: 15 GiB before GC starts; the pool preloads 20 GiB.
    let nodes = [node("ml-1", kubelet(85, false, "0s"), 70 * GIB, 100 * GIB)];
    let f = without_sizing(findings(&[ml(20 * GIB)], &nodes));
    assert_eq!(
        codes(&f),
        [
            ("image-gc", Severity::Warning),
            ("gc-headroom", Severity::Warning)
        ]
    );
    assert!(f[0].message.contains("starts at 85 %"), "{}", f[0].message);
    assert!(
        f[0].message.contains("ml-1, is at 70 %, 15 points from it"),
        "{}",
        f[0].message
    );
    assert!(f[0].remedy.contains("imageGCHighThresholdPercent to 100"));
    assert!(
        f[1].message
            .contains("(16.11 GB at least) than the pool preloads (21.47 GB)"),
        "{}",
        f[1].message
    );
}

#[test]
fn past_the_threshold_already_is_critical() {
    let nodes = [node("ml-1", kubelet(85, false, ""), 90 * GIB, 100 * GIB)];
    let f = without_sizing(findings(&[ml(GIB)], &nodes));
    assert_eq!(f[0].code, "gc-headroom");
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(f[0].message.contains("(none at least)"), "{}", f[0].message);
}

#[test]
fn gc_at_100_and_parallel_pulls_find_nothing() {
    let nodes = [node("ml-1", kubelet(100, false, "0s"), 99 * GIB, 100 * GIB)];
    assert!(without_sizing(findings(&[ml(20 * GIB)], &nodes)).is_empty());
}

#[test]
fn max_age_serial_pulls_pressure_cap_and_eviction_each_say_so() {
    let mut n = node("ml-1", kubelet(100, true, "168h"), GIB, 100 * GIB);
    n.disk_pressure = true;
    n.images_capped = true;
    n.missing = vec!["pytorch:2".into()];
    let f = without_sizing(findings(&[ml(GIB)], &[n]));
    assert_eq!(
        codes(&f),
        [
            ("disk-pressure", Severity::Critical),
            ("max-gc-age", Severity::Warning),
            ("evicted", Severity::Warning),
            ("serial-pulls", Severity::Info),
            ("images-capped", Severity::Info),
        ]
    );
    assert!(f[1].message.contains("imageMaximumGCAge is 168h"));
    assert!(
        f[2].message.contains("pytorch:2 (evicted since)"),
        "{}",
        f[2].message
    );
}

#[test]
fn a_zero_max_age_is_off_and_an_unread_kubelet_is_said() {
    assert_eq!(kubelet(100, false, "0s").max_age(), None);
    assert_eq!(kubelet(100, false, "0h0m0s").max_age(), None);
    assert_eq!(kubelet(100, false, "10m0s").max_age(), Some("10m0s"));
    let n = NodeFacts {
        node: "ml-1".into(),
        pool: Some("ml".into()),
        unread: Some("not allowed to read nodes/proxy".into()),
        ..Default::default()
    };
    let f = findings(&[ml(GIB)], &[n]);
    assert_eq!(codes(&f), [("unread", Severity::Info)]);
}

#[test]
fn disk_figures_come_from_the_image_file_system() {
    let v = json!({"node": {"fs": {"capacityBytes": 10, "availableBytes": 4, "usedBytes": 6},
        "runtime": {"imageFs": {"capacityBytes": 100, "availableBytes": 30, "usedBytes": 70}}}});
    let d = Disk::from_summary(&v).unwrap();
    assert_eq!((d.capacity, d.used, d.available), (100, 70, 30));
    assert_eq!(d.headroom(85), 15);
}

/// A full disk is at 100 %, not a rounding past it (found by fuzz/fuzz_targets/kubelet_json.rs:
/// 1,666,666,666,666,620 bytes × 100 / the same came to 100.00000000000001).
#[test]
fn a_full_disk_is_at_most_one_hundred_percent() {
    let v = json!({"node": {"fs": {"capacityBytes": 1_666_666_666_666_620_u64}}});
    let d = Disk::from_summary(&v).unwrap();
    assert_eq!(d.used, d.capacity, "no availableBytes: all of it used");
    assert_eq!(d.percent(), 100.0);
    for cap in [1_u64, 3, 7, 1 << 53, (1 << 53) + 1, u64::MAX / 3, u64::MAX] {
        for used in [0, cap / 3, cap / 2, cap - 1, cap] {
            let d = Disk {
                capacity: cap,
                used,
                available: cap - used,
            };
            assert!(d.percent() <= 100.0, "{d:?}: {}", d.percent());
        }
    }
}

#[test]
fn sizing_by_the_articles_formula_fits_or_says_by_how_much_it_is_short() {
    const MB: u64 = 1_000_000;
    // The article's example: 4 × 300 MB preloaded, 10 × 500 MB of workloads, 2 versions,
    // 30 %, 10 GB: 26.12 GB.
    let mut pool = ml(1200 * MB);
    pool.images = vec![("a".into(), Some(1200 * MB))];
    pool.workload_bytes = 5000 * MB;
    let n = |cap: u64| node("ml-1", kubelet(100, false, "0s"), 0, cap);
    let f = findings(&[pool.clone()], &[n(20 * 1000 * MB)]);
    let sizing = f.iter().find(|f| f.code == "sizing").unwrap();
    assert_eq!(sizing.severity, Severity::Warning);
    assert!(sizing.message.starts_with("the disk is short by 6.12 GB: (1.20 GB preloaded + 5 GB of workload images) × 2 versions + 30 % + 10 GB for the OS = 26.12 GB"), "{}", sizing.message);
    assert!(
        sizing.remedy.contains("at least 30 GB"),
        "{}",
        sizing.remedy
    );
    let f = findings(&[pool], &[n(100 * 1000 * MB)]);
    let sizing = f.iter().find(|f| f.code == "sizing").unwrap();
    assert_eq!(sizing.severity, Severity::Info);
    assert!(
        sizing.message.starts_with("the disks fit"),
        "{}",
        sizing.message
    );
}

fn batch(shards: usize, rate: Option<f64>) -> PoolFacts {
    PoolFacts {
        pool: "ml".into(),
        images: vec![
            ("a:1".into(), Some(4 * GIB)),
            ("b:1".into(), Some(2 * GIB)),
            ("c:1".into(), Some(2 * GIB)),
        ],
        workload_bytes: 0,
        keep: 2,
        shards,
        rate,
        shape: None,
        own_removals: Vec::new(),
        drift: Vec::new(),
        tags: Vec::new(),
        registry: Vec::new(),
        mutable: Vec::new(),
        payoff: None,
        scheduled_cleanup: None,
    }
}

#[test]
fn parallel_pulls_in_one_pod_are_still_sequential_and_shards_save_time_at_the_observed_rate() {
    let nodes = [node("ml-1", kubelet(100, false, "0s"), GIB, 100 * GIB)];
    let f = without_sizing(findings(&[batch(1, Some(100.0 * 1024.0 * 1024.0))], &nodes));
    assert_eq!(codes(&f), [("serial-pulls", Severity::Info)]);
    // 8 GiB at 100 MiB/s is 81.92 s in one pod; over 2 shards (4 | 2+2) the heavier takes
    // 40.96 s; a third shard cannot beat the 4 GiB image, so 2 is proposed.
    assert!(
        f[0].message
            .contains("about 1m21s in one pod, about 40s split over 2 (saving up to 40s, if"),
        "{}",
        f[0].message
    );
    assert!(f[0].remedy.contains("--shards 2"), "{}", f[0].remedy);

    // No rate observed yet: the share, without a time.
    let f = without_sizing(findings(&[batch(1, None)], &nodes));
    assert!(
        f[0].message
            .contains("the largest share is 4.29 GB of 8.59 GB"),
        "{}",
        f[0].message
    );

    // Already split: nothing to say.
    assert!(without_sizing(findings(&[batch(2, Some(1e8))], &nodes)).is_empty());
}

#[test]
fn shards_gain_nothing_while_pulls_are_serialized() {
    let nodes = [node("ml-1", kubelet(100, true, "0s"), GIB, 100 * GIB)];
    let f = without_sizing(findings(&[batch(2, None)], &nodes));
    assert_eq!(codes(&f), [("serial-pulls", Severity::Info)]);
    assert!(
        f[0].message
            .contains("split over 2 DaemonSets, which gains nothing")
    );
    let f = without_sizing(findings(&[batch(1, None)], &nodes));
    assert!(f[0].remedy.contains("serializeImagePulls: false"));
    assert!(f[0].remedy.contains("--shards 2"), "{}", f[0].remedy);
}

#[test]
fn a_split_pools_gap_is_a_finding_about_the_pool_as_a_whole_with_what_to_run() {
    let mut pool = ml(1);
    pool.shape =
        Some("the pool ml is missing 1 of its 2 DaemonSets (image-preloader-ml-2-of-2)".into());
    let all = findings(&[pool], &[]);
    let gap = all.iter().find(|f| f.code == "split-incomplete").unwrap();
    assert_eq!(gap.severity, Severity::Warning);
    assert!(gap.nodes.is_empty());
    // Said as a whole phrase in `check`'s "nodes:" line, not a cut-off one.
    assert_eq!(gap.nodes_text(), "the pool as a whole");
    assert!(
        gap.remedy
            .starts_with("run kpreload apply -f with the pools file")
            && gap.remedy.contains("kubectl delete daemonset"),
        "{}",
        gap.remedy
    );
}

#[test]
fn the_articles_improved_preloader_is_an_own_cleanup_loop_and_its_plain_one_is_not() {
    let snapshot = |yaml: &str| crate::progress::Snapshot {
        daemonsets: vec![crate::fixtures::daemonset(yaml, "uid-1")],
        ..Default::default()
    };
    let improved = snapshot(include_str!(
        "../../../../tests/fixtures/article/image-preloader-cleanup.yaml"
    ));
    let g = gather::gather(&improved, None);
    let all = findings(&g.pools, &g.nodes);
    let found: Vec<&Finding> = all
        .iter()
        .filter(|f| f.code == "own-cleanup-loop")
        .collect();
    assert_eq!(found.len(), 1, "{all:?}");
    let f = found[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.starts_with(
            "the container cleanup of image-preloader removes images itself (`nsenter"
        ) && f.message.contains("images rm"),
        "{}",
        f.message
    );
    assert!(
        f.remedy.starts_with("convert the preloader"),
        "{}",
        f.remedy
    );

    let plain = snapshot(include_str!(
        "../../../../tests/fixtures/article/image-preloader.yaml"
    ));
    let g = gather::gather(&plain, None);
    assert!(
        findings(&g.pools, &g.nodes)
            .iter()
            .all(|f| f.code != "own-cleanup-loop")
    );
}

#[test]
fn one_tag_with_two_digests_on_a_pools_nodes_is_tag_drift_newest_pull_first() {
    use crate::fixtures;
    let ds = fixtures::daemonset(
        include_str!("../../../../tests/fixtures/article/image-preloader.yaml"),
        "uid-1",
    );
    let (a, b) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "b".repeat(64)),
    );
    let holding = |name: &str, digest: &str| {
        fixtures::node(name)
            .images(
                json!([{"names": [format!("docker.io/library/golang@{digest}"),
                "docker.io/library/golang:1.23"], "sizeBytes": 293_403_951}]),
            )
            .build()
    };
    let pod = fixtures::preloader_pod(&ds, "p-3", "node-3", "2026-11-28T10:00:00Z", json!({}));
    let pulled = fixtures::event_of(fixtures::event(
        "p-3",
        1,
        "2026-11-28T10:05:00Z",
        "Normal",
        "Pulled",
        "Successfully pulled image \"golang:1.23\" in 9.1s (9.1s including waiting). Image size: 293403951 bytes.",
    ));
    let s = crate::progress::Snapshot {
        nodes: vec![
            holding("node-1", &a),
            holding("node-2", &a),
            holding("node-3", &b),
        ],
        pods: vec![pod],
        events: vec![pulled],
        daemonsets: vec![ds],
        ..Default::default()
    };
    let g = gather::gather(&s, None);
    let all = findings(&g.pools, &g.nodes);
    let drift: Vec<&Finding> = all.iter().filter(|f| f.code == "tag-drift").collect();
    assert_eq!(drift.len(), 1, "{all:#?}");
    let f = drift[0];
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.nodes, ["node-1", "node-2", "node-3"]);
    // node-3 pulled the newer push: its digest comes first.
    assert_eq!(
        f.message,
        "golang:1.23 is 2 different images on the pool's nodes (newest pull first): \
         sha256:bbbbbbbbbbbb on node-3; sha256:aaaaaaaaaaaa on node-1, node-2"
    );
    assert!(
        f.remedy
            .contains(&format!("golang:1.23@{a} is the one most nodes hold")),
        "{}",
        f.remedy
    );
    // The article's g1g1/py-kube has no tag: it moves.
    let mutable: Vec<&Finding> = all.iter().filter(|f| f.code == "mutable-tag").collect();
    assert_eq!(mutable.len(), 1, "{all:#?}");
    assert_eq!(mutable[0].severity, Severity::Info);
    assert!(
        mutable[0]
            .message
            .starts_with("g1g1/py-kube is a tag that moves")
    );

    // One digest everywhere: no drift.
    let same = crate::progress::Snapshot {
        nodes: vec![holding("node-1", &a), holding("node-2", &a)],
        ..s.clone()
    };
    let g = gather::gather(&same, None);
    assert!(
        findings(&g.pools, &g.nodes)
            .iter()
            .all(|f| f.code != "tag-drift" && f.code != "tag-moved")
    );

    // ... until the registry names another image by that tag: tag-moved, on both nodes.
    let c = format!("sha256:{}", "c".repeat(64));
    let mut g = gather::gather(&same, None);
    for p in &mut g.pools {
        p.with_registry(|image| (image == "golang:1.23").then(|| ("docker.io".into(), c.clone())));
    }
    let all = findings(&g.pools, &g.nodes);
    let moved: Vec<&Finding> = all.iter().filter(|f| f.code == "tag-moved").collect();
    assert_eq!(moved.len(), 1, "{all:#?}");
    assert_eq!(moved[0].nodes, ["node-1", "node-2"]);
    assert_eq!(
        moved[0].message,
        "golang:1.23 names another image in docker.io now (sha256:cccccccccccc) than the pool's \
         nodes hold (sha256:aaaaaaaaaaaa on node-1, node-2): with imagePullPolicy IfNotPresent \
         they keep theirs, and a node that pulls it now gets the new one"
    );
    assert!(
        moved[0]
            .remedy
            .contains(&format!("golang:1.23@{c} rolls the new image"))
    );
    // The registry naming what the nodes hold: nothing to say.
    let mut g = gather::gather(&same, None);
    for p in &mut g.pools {
        p.with_registry(|_| Some(("docker.io".into(), a.clone())));
    }
    assert!(
        findings(&g.pools, &g.nodes)
            .iter()
            .all(|f| f.code != "tag-moved")
    );

    // Drift with the registry's word: the remedy pins what the registry names, not the
    // majority.
    let mut g = gather::gather(&s, None);
    for p in &mut g.pools {
        p.with_registry(|image| (image == "golang:1.23").then(|| ("docker.io".into(), b.clone())));
    }
    let all = findings(&g.pools, &g.nodes);
    let drift = all.iter().find(|f| f.code == "tag-drift").expect("drift");
    assert!(
        drift
            .message
            .ends_with("; docker.io names sha256:bbbbbbbbbbbb now"),
        "{}",
        drift.message
    );
    assert!(
        drift
            .remedy
            .contains(&format!("golang:1.23@{b} is what docker.io names it now")),
        "{}",
        drift.remedy
    );
}

#[test]
fn an_image_workloads_pull_is_worth_preloading_with_its_cost_and_its_fit() {
    use crate::payoff::{Mark, Suggestion};
    let suggestion = |bytes| Suggestion {
        image: "docker.io/library/redis:7-alpine".into(),
        starts: 5,
        pulled: 3,
        pull_seconds: 9.0,
        waiting_seconds: 33.0,
        bytes: Some(bytes),
        headroom: None,
        mark: Mark::NotPreloaded,
    };
    let mut pool = ml(GIB);
    pool.payoff = Some(crate::payoff::Figures {
        pool: "ml".into(),
        starts: 12,
        suggestions: vec![suggestion(16_611_942)],
        ..Default::default()
    });
    // 100 GiB at 70 %, GC at 85 %: 15 GiB of room; at 84 %, 1 GiB.
    let roomy = [node("ml-1", kubelet(85, false, "0s"), 70 * GIB, 100 * GIB)];
    let f: Vec<Finding> = findings(std::slice::from_ref(&pool), &roomy)
        .into_iter()
        .filter(|f| f.code == "worth-preloading")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(
        f[0].message,
        "workloads pulled redis:7-alpine in 3 of its 5 starts, 42s of pod start lost (33s of it waiting behind other pulls); 16.61 MB against 16.11 GB of room before image GC on its fullest node"
    );
    assert!(f[0].remedy.starts_with("add redis:7-alpine to the pool"));
    pool.payoff.as_mut().unwrap().suggestions = vec![suggestion(2 * GIB)];
    let tight = [node("ml-1", kubelet(85, false, "0s"), 84 * GIB, 100 * GIB)];
    let f: Vec<Finding> = findings(&[pool], &tight)
        .into_iter()
        .filter(|f| f.code == "worth-preloading")
        .collect();
    assert!(
        f[0].message.contains("but only 1.07 GB of room"),
        "{}",
        f[0].message
    );
}

#[test]
fn disk_figures_at_the_edge_of_u64_give_a_headroom_without_overflow() {
    use super::Disk;
    let huge = Disk {
        capacity: u64::MAX,
        used: 1,
        available: 0,
    };
    // The limit (85 % of 2^64, 1.6e19) is past i64: the headroom is as large as an i64 says.
    assert_eq!(huge.headroom(85), i64::MAX);
    let over = Disk {
        capacity: 0,
        used: u64::MAX,
        available: 0,
    };
    // 0 − (2^64 − 1) is below i64 (the old `used as i64` made it −(−1) = +1).
    assert_eq!(over.headroom(85), i64::MIN);
    let plain = Disk {
        capacity: 100,
        used: 90,
        available: 10,
    };
    assert_eq!(plain.headroom(85), -5);
}

#[test]
fn a_kubelet_setting_too_large_for_its_type_is_not_read_as_another_number() {
    // 2^32 + 85 was read as 85 (cut to 32 bits): a GC threshold nobody set.
    let k = super::Kubelet::from_configz(&serde_json::json!({"kubeletconfig": {
        "imageGCHighThresholdPercent": 4_294_967_381u64, "maxParallelImagePulls": 5}}));
    assert_eq!(k.image_gc_high, None);
    assert_eq!(k.max_parallel_image_pulls, Some(5));
}

#[test]
fn gc_off_with_no_scheduled_cleanup_is_a_warning_and_a_cleanup_or_unread_cronjobs_say_nothing() {
    let nodes = [
        node("ml-1", kubelet(100, false, "0s"), 60 * GIB, 100 * GIB),
        node("ml-2", kubelet(100, false, "0s"), 91 * GIB, 100 * GIB),
        // GC on here: image-gc speaks for it, not this finding.
        node("ml-3", kubelet(85, false, "0s"), 10 * GIB, 100 * GIB),
    ];
    let pool = |scheduled| PoolFacts {
        scheduled_cleanup: scheduled,
        ..ml(GIB)
    };
    let f = findings(&[pool(Some(false))], &nodes);
    let no = f
        .iter()
        .find(|f| f.code == "no-cleanup")
        .expect("no-cleanup");
    assert_eq!(no.severity, Severity::Warning);
    assert_eq!(no.nodes, ["ml-1", "ml-2"]);
    assert_eq!(
        no.message,
        "the kubelet's image GC is off on 2 nodes and no scheduled cleanup cleans the pool: nothing removes old versions, so the image disk fills until the kubelet evicts pods for room; the fullest, ml-2, is at 91 %"
    );
    assert!(
        no.remedy.contains("cleanup: section in the pools file"),
        "{}",
        no.remedy
    );
    for known in [Some(true), None] {
        let f = findings(&[pool(known)], &nodes);
        assert!(
            !f.iter().any(|f| f.code == "no-cleanup"),
            "{known:?}: {f:?}"
        );
    }
    // A kubelet not read is not taken for one with its GC off.
    let unread = [NodeFacts {
        kubelet: None,
        ..node("ml-1", kubelet(100, false, "0s"), 0, 100 * GIB)
    }];
    assert!(
        !findings(&[pool(Some(false))], &unread)
            .iter()
            .any(|f| f.code == "no-cleanup")
    );
}
