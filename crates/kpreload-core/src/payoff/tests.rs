use super::*;
use serde_json::json;

fn event(node: &str, pod: &str, reason: &str, message: &str, at: &str) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{pod}.1"), "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": pod, "uid": format!("uid-{pod}")},
        "reason": reason, "message": message, "type": "Normal",
        "lastTimestamp": at, "source": {"component": "kubelet", "host": node}
    }))
    .unwrap()
}

const AT: &str = "2026-12-01T10:00:00Z";
const NOW: i64 = 1_796_119_200; // 2026-12-01T10:00:00Z

fn start(node: &str, pod: &str, image: &str, outcome: Outcome) -> Start {
    Start {
        node: node.into(),
        namespace: "shop".into(),
        pod: pod.into(),
        uid: format!("uid-{pod}").into(),
        image: image.into(),
        at: NOW,
        outcome,
    }
}

fn pulled(seconds: f64, total: f64) -> Outcome {
    Outcome::Pulled {
        seconds,
        total,
        bytes: Some(16_611_942),
    }
}

fn web(images: &[&str]) -> Scopes {
    Scopes::new(vec![
        PoolScope {
            pool: "web".into(),
            nodes: ["web-1", "web-2"].map(String::from).into(),
            images: refs(images),
            preloaders: vec![("kube-system".into(), "image-preloader-web".into())],
            // The preloader pulled every image on both nodes long before.
            done: ["web-1", "web-2"]
                .map(|n| (n.to_string(), vec![Some(0); images.len()]))
                .into(),
        },
        PoolScope {
            pool: "ml".into(),
            nodes: ["ml-1"].map(String::from).into(),
            images: Vec::new(),
            preloaders: vec![("kube-system".into(), "image-preloader-ml".into())],
            done: HashMap::new(),
        },
    ])
}

fn refs(images: &[&str]) -> Vec<ImageRef> {
    images.iter().map(|i| ImageRef::parse(i).unwrap()).collect()
}

#[test]
fn the_kubelets_words_read_as_starts() {
    let s = start_of(&event(
        "web-1",
        "api-1",
        "Pulled",
        "Successfully pulled image \"redis:7-alpine\" in 3.2s (11.7s including waiting). Image size: 16611942 bytes.",
        AT,
    ))
    .unwrap();
    assert_eq!(&*s.node, "web-1");
    assert_eq!(&*s.image, "redis:7-alpine");
    assert_eq!(s.at, NOW);
    // The wait is what the start lost beyond the pull itself: 8.5 s behind other pulls.
    assert_eq!(
        s.outcome,
        Outcome::Pulled {
            seconds: 3.2,
            total: 11.7,
            bytes: Some(16_611_942)
        }
    );
    let hit = start_of(&event(
        "web-1",
        "api-1",
        "Pulled",
        "Container image \"nginx:1.25-alpine\" already present on machine",
        AT,
    ))
    .unwrap();
    assert_eq!(hit.outcome, Outcome::Present);
    // An older kubelet says no "including waiting": the pull is all there is.
    let old = start_of(&event(
        "web-1",
        "api-1",
        "Pulled",
        "Successfully pulled image \"redis:7-alpine\" in 1m2.5s",
        AT,
    ))
    .unwrap();
    assert_eq!(
        old.outcome,
        Outcome::Pulled {
            seconds: 62.5,
            total: 62.5,
            bytes: None
        }
    );
    let failed = start_of(&event(
        "web-1",
        "api-1",
        "Failed",
        "Failed to pull image \"redis:8\": not found",
        AT,
    ))
    .unwrap();
    assert_eq!(failed.outcome, Outcome::Failed);
    // Not a pod, not about an image, or no node to place it: not a start.
    let mut node_event = event(
        "web-1",
        "api-1",
        "Pulled",
        "Container image \"a\" already present on machine",
        AT,
    );
    node_event.involved_object.kind = Some("Node".into());
    assert!(start_of(&node_event).is_none());
    assert!(
        start_of(&event(
            "web-1",
            "api-1",
            "Started",
            "Started container c",
            AT
        ))
        .is_none()
    );
    let mut nowhere = event(
        "",
        "api-1",
        "Pulled",
        "Container image \"a\" already present on machine",
        AT,
    );
    nowhere.source = None;
    assert!(start_of(&nowhere).is_none());
}

#[test]
fn a_pool_ranks_what_its_workloads_pulled_by_the_seconds_lost() {
    let scopes = web(&["nginx:1.25-alpine"]);
    let mut w = Window::default();
    w.record(
        start("web-1", "a", "nginx:1.25-alpine", Outcome::Present),
        &scopes,
        NOW,
    );
    w.record(
        start("web-1", "a", "redis:7-alpine", pulled(3.0, 9.0)),
        &scopes,
        NOW,
    );
    w.record(
        start("web-2", "b", "nginx:1.25-alpine", Outcome::Present),
        &scopes,
        NOW,
    );
    w.record(
        start("web-2", "b", "redis:7-alpine", pulled(2.0, 2.0)),
        &scopes,
        NOW,
    );
    w.record(
        start("web-2", "b", "busybox:1.37.0-musl", pulled(0.5, 0.5)),
        &scopes,
        NOW,
    );
    // The same pulls on the ml pool's node are the ml pool's, not web's.
    w.record(
        start("ml-1", "c", "rust:1.83", pulled(30.0, 30.0)),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &refs(&["nginx:1.25-alpine"]), Some(1_000_000_000));
    assert_eq!((f.starts, f.present, f.pulled), (5, 2, 3));
    assert_eq!(f.hit_rate, Some(0.4));
    assert_eq!(f.pull_seconds, 5.5);
    assert_eq!(f.waiting_seconds, 6.0);
    let order: Vec<(&str, Mark)> = f
        .images
        .iter()
        .map(|c| (c.image.as_str(), c.mark))
        .collect();
    assert_eq!(
        order,
        [
            ("docker.io/library/redis:7-alpine", Mark::NotPreloaded),
            ("docker.io/library/busybox:1.37.0-musl", Mark::NotPreloaded),
            ("docker.io/library/nginx:1.25-alpine", Mark::Preloaded),
        ]
    );
    assert_eq!(f.images[0].lost(), 11.0);
    assert_eq!(f.suggestions[0].image, "docker.io/library/redis:7-alpine");
    assert_eq!(f.suggestions[0].fits(), Some(true));
    assert!(f.images.iter().all(|c| !c.image.contains("rust")));
    let ml = w.figures("ml", &[], None);
    assert_eq!((ml.starts, ml.pulled), (1, 1));
    assert_eq!(
        ml.suggestions[0].fits(),
        None,
        "no headroom read: not known"
    );
}

#[test]
fn after_an_image_is_added_its_starts_are_counted_as_preloaded_from_then_on() {
    let mut w = Window::default();
    let before = web(&["nginx:1.25-alpine"]);
    w.record(
        start("web-1", "a", "redis:7-alpine", pulled(3.0, 3.0)),
        &before,
        NOW,
    );
    let after = web(&["nginx:1.25-alpine", "redis:7-alpine"]);
    w.record(
        start("web-2", "b", "redis:7-alpine", Outcome::Present),
        &after,
        NOW,
    );
    let f = w.figures("web", &refs(&["nginx:1.25-alpine", "redis:7-alpine"]), None);
    let redis = &f.images[0];
    assert_eq!(redis.mark, Mark::Preloaded);
    assert_eq!(redis.hit_rate_preloaded, Some(1.0));
    // The pool's rate still counts the miss before it was preloaded.
    assert_eq!(f.hit_rate, Some(0.5));
    assert!(
        f.suggestions.is_empty(),
        "a preloaded image is no suggestion"
    );
    // A pull of a preloaded image is an eviction (or a preloader behind).
    w.record(
        start("web-1", "c", "redis:7-alpine", pulled(3.0, 3.0)),
        &after,
        NOW,
    );
    let f = w.figures("web", &refs(&["nginx:1.25-alpine", "redis:7-alpine"]), None);
    assert_eq!(f.images[0].mark, Mark::Evicted);
    assert_eq!(f.images[0].hit_rate_preloaded, Some(0.5));
}

#[test]
fn another_version_preloaded_is_drift_and_still_a_suggestion() {
    let scopes = web(&["nginx:1.24"]);
    let mut w = Window::default();
    w.record(
        start("web-1", "a", "nginx:1.25", pulled(4.0, 4.0)),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &refs(&["nginx:1.24"]), None);
    assert_eq!(f.images[0].mark, Mark::Drifted);
    assert_eq!(f.suggestions[0].mark, Mark::Drifted);
}

#[test]
fn one_start_per_pods_image_whatever_the_events_say_after() {
    let scopes = web(&[]);
    let mut w = Window::default();
    w.record(
        start("web-1", "a", "redis:7-alpine", Outcome::Pulling),
        &scopes,
        NOW,
    );
    assert_eq!(w.figures("web", &[], None).pulling, 1);
    w.record(
        start("web-1", "a", "redis:7-alpine", pulled(3.0, 3.0)),
        &scopes,
        NOW,
    );
    // A restart of the container: the image is present now, but the start was a pull.
    w.record(
        start("web-1", "a", "redis:7-alpine", Outcome::Present),
        &scopes,
        NOW,
    );
    // The same again after a relist.
    w.record(
        start("web-1", "a", "redis:7-alpine", pulled(3.0, 3.0)),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &[], None);
    assert_eq!((f.starts, f.pulled, f.present, f.pulling), (1, 1, 0, 0));
    // A failure then a pull: the pull.
    w.record(
        start("web-1", "b", "redis:7-alpine", Outcome::Failed),
        &scopes,
        NOW,
    );
    w.record(
        start("web-1", "b", "redis:7-alpine", pulled(1.0, 1.0)),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &[], None);
    assert_eq!((f.starts, f.pulled, f.failed), (2, 2, 0));
}

#[test]
fn the_preloaders_own_pulls_and_other_nodes_are_not_a_pools_workloads() {
    let scopes = web(&[]);
    let mut w = Window::default();
    let mut own = start(
        "web-1",
        "image-preloader-web-x7k2p",
        "redis:7-alpine",
        pulled(3.0, 3.0),
    );
    own.namespace = "kube-system".into();
    w.record(own, &scopes, NOW);
    // A pod whose name merely begins alike, elsewhere, is a workload.
    let mut like = start(
        "web-1",
        "image-preloader-webapp",
        "redis:7-alpine",
        pulled(3.0, 3.0),
    );
    like.namespace = "kube-system".into();
    w.record(like, &scopes, NOW);
    w.record(
        start("gpu-9", "a", "redis:7-alpine", pulled(3.0, 3.0)),
        &scopes,
        NOW,
    );
    assert_eq!((w.preloaders, w.outside), (1, 1));
    assert_eq!(w.figures("web", &[], None).starts, 1);
}

#[test]
fn memory_stays_bounded_under_100000_events() {
    let scopes = web(&["nginx:1.25-alpine"]);
    let mut w = Window::default();
    for i in 0..100_000 {
        let node = ["web-1", "web-2", "ml-1"][i % 3];
        let mut s = start(node, &format!("p{i}"), "redis:7-alpine", pulled(1.0, 1.0));
        s.at = NOW - 100_000 + i as i64;
        w.record(s, &scopes, NOW);
    }
    // Two pools, each its last LIMIT starts.
    assert_eq!(w.retained(), 2 * LIMIT);
    assert_eq!(w.figures("web", &[], None).starts, LIMIT);
    // Starts that come before the pools are known wait, but only so many.
    for i in 0..(PENDING + 500) {
        w.defer(start(
            "web-1",
            &format!("q{i}"),
            "redis:7-alpine",
            Outcome::Present,
        ));
    }
    assert_eq!(w.retained(), 2 * LIMIT + PENDING);
    w.settle(&scopes, NOW);
    assert_eq!(w.retained(), 2 * LIMIT);
}

#[test]
fn old_starts_leave_the_window() {
    let scopes = web(&[]);
    let mut w = Window::new(LIMIT, 3600);
    let mut old = start("web-1", "a", "redis:7-alpine", pulled(3.0, 3.0));
    old.at = NOW - 7200;
    w.record(old, &scopes, NOW);
    assert_eq!(w.retained(), 0, "older than the window when it arrives");
    let mut recent = start("web-1", "b", "redis:7-alpine", pulled(3.0, 3.0));
    recent.at = NOW - 1800;
    w.record(recent, &scopes, NOW);
    assert_eq!(w.retained(), 1);
    w.expire(NOW + 1801);
    assert_eq!(w.retained(), 0);
}

#[test]
fn the_sentence_says_the_rate_and_the_cost() {
    let scopes = web(&["nginx:1.25-alpine"]);
    let mut w = Window::default();
    for (i, o) in [
        Outcome::Present,
        Outcome::Present,
        Outcome::Present,
        pulled(20.0, 61.0),
    ]
    .into_iter()
    .enumerate()
    {
        w.record(
            start("web-1", &format!("p{i}"), "redis:7-alpine", o),
            &scopes,
            NOW,
        );
    }
    let f = w.figures("web", &[], None);
    assert_eq!(
        f.sentence(),
        "hit rate 75 % (3 of 4 container starts found their image on the node); 1m01s pulling, 41s of it waiting behind other pulls"
    );
    assert_eq!(
        f.short(),
        "hit rate 75 % (3 of 4 starts) · 1m01s pulling, 41s of it waiting"
    );
    assert_eq!(
        Figures::default().sentence(),
        "no workload start seen yet on its nodes"
    );
    assert_eq!(percent(0.995), "99.5 %");
    assert_eq!(percent(0.9996), "99.9 %", "never 100 % with a miss");
    assert_eq!(percent(0.5), "50 %");
    assert_eq!(percent(1.0), "100 %");
}

#[test]
fn a_start_before_the_preloader_got_to_its_node_is_not_counted_as_preloaded() {
    let mut scopes = web(&["redis:7-alpine"]);
    // On web-2 the preloader pulled redis only after the start (a rollout under way).
    scopes.pools[0]
        .done
        .insert("web-2".into(), vec![Some(NOW + 5)]);
    let scopes = Scopes::new(scopes.pools);
    let mut w = Window::default();
    w.record(
        start("web-2", "a", "redis:7-alpine", pulled(3.0, 3.0)),
        &scopes,
        NOW,
    );
    w.record(
        start("web-1", "b", "redis:7-alpine", Outcome::Present),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &refs(&["redis:7-alpine"]), None);
    assert_eq!(
        f.images[0].mark,
        Mark::Preloaded,
        "the pull came before the preload"
    );
    assert_eq!(f.images[0].hit_rate_preloaded, Some(1.0));
    assert_eq!(f.hit_rate, Some(0.5));
    // Had every start come before the preload, there would be nothing to judge it by.
    let mut w = Window::default();
    w.record(
        start("web-2", "c", "redis:7-alpine", pulled(3.0, 3.0)),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &refs(&["redis:7-alpine"]), None);
    assert_eq!(f.images[0].mark, Mark::Preloading);
    assert_eq!(f.images[0].hit_rate_preloaded, None);
    assert!(f.suggestions.is_empty(), "it is in the list already");
}

#[test]
fn a_tag_pinned_to_its_digest_is_the_tag_workloads_name() {
    let pinned =
        "nginx:1.25-alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let scopes = web(&[pinned]);
    let mut w = Window::default();
    w.record(
        start("web-1", "a", "nginx:1.25-alpine", Outcome::Present),
        &scopes,
        NOW,
    );
    let f = w.figures("web", &refs(&[pinned]), None);
    assert_eq!(f.images[0].mark, Mark::Preloaded, "not another version");
    assert_eq!(f.images[0].hit_rate_preloaded, Some(1.0));
}

#[test]
fn the_window_keeps_the_latest_starts_whatever_order_they_come_in() {
    let scopes = web(&[]);
    let mut w = Window::new(3, HORIZON);
    // Listed out of order (three watches, a relist).
    for (pod, ago) in [("e", 5), ("a", 9), ("d", 6), ("b", 8), ("c", 7)] {
        let mut s = start("web-1", pod, "redis:7-alpine", Outcome::Present);
        s.at = NOW - ago;
        w.record(s, &scopes, NOW);
    }
    let kept: Vec<&str> = w.pools["web"].starts.iter().map(|k| &*k.uid).collect();
    assert_eq!(
        kept,
        ["uid-c", "uid-d", "uid-e"],
        "the three latest, oldest first"
    );
    // A pull whose end never came is dropped after an hour; the rest stay.
    let mut s = start("web-1", "f", "redis:7-alpine", Outcome::Pulling);
    s.at = NOW - 1;
    w.record(s, &scopes, NOW);
    assert_eq!(w.figures("web", &[], None).pulling, 1);
    w.expire(NOW + PULLING_FOR + 10);
    let f = w.figures("web", &[], None);
    // f pushed c out of the three kept; d and e are left.
    assert_eq!((f.pulling, f.starts), (0, 2));
}

#[test]
fn a_pull_without_a_time_is_still_a_miss() {
    let s = start_of(&event(
        "web-1",
        "api-1",
        "Pulled",
        "Successfully pulled image \"redis:7-alpine\"",
        AT,
    ))
    .unwrap();
    assert_eq!(
        s.outcome,
        Outcome::Pulled {
            seconds: 0.0,
            total: 0.0,
            bytes: None
        }
    );
}

#[test]
fn the_preloaders_pods_are_told_by_their_daemonset_and_other_pods_of_its_namespace_are_workloads() {
    use crate::objects::Pod;
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::Node;
    use std::sync::Arc;
    let text = "namespace: kube-system\npools:\n  - name: web\n    images: [redis:7-alpine]\n";
    let file = crate::pools::PoolsFile::parse(text, "pools.yaml").unwrap();
    let mut ds: DaemonSet = crate::render::render_pool(&file, &file.pools[0]);
    ds.metadata.uid = Some("ds-web".into());
    let node: Node =
        serde_json::from_value(json!({"metadata": {"name": "web-1", "labels": {}}})).unwrap();
    let pod = |name: &str, owner: (&str, &str), finished: Option<&str>| -> Arc<Pod> {
        let mut status = json!({"name": "preload-redis", "image": "redis:7-alpine", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"running": {}}});
        if let Some(at) = finished {
            status["state"] = json!({"terminated": {"exitCode": 0, "finishedAt": at}});
        }
        Arc::new(serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-system", "uid": format!("uid-{name}"),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner.0, "name": "x", "uid": owner.1}]},
            "spec": {"nodeName": "web-1", "initContainers": [{"name": "preload-redis", "image": "redis:7-alpine"}],
                "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"initContainerStatuses": [status]}
        })).unwrap())
    };
    let snapshot = crate::progress::Snapshot {
        nodes: vec![Arc::new(node)],
        daemonsets: vec![Arc::new(ds)],
        pods: vec![
            pod(
                "preloader-a1b2c",
                ("DaemonSet", "ds-web"),
                Some("2026-12-01T09:00:00Z"),
            ),
            pod("api-7d9f-xk2p4", ("ReplicaSet", "rs-api"), None),
        ],
        ..Default::default()
    };
    let scopes = Scopes::of(&snapshot);
    assert_eq!(scopes.pools.len(), 1);
    let mut w = Window::default();
    // The preloader's own pod (by UID, whatever its name) is left out; the ReplicaSet's
    // pod in the same namespace is a workload, and found redis preloaded an hour before.
    let mut own = start(
        "web-1",
        "preloader-a1b2c",
        "redis:7-alpine",
        pulled(3.0, 3.0),
    );
    own.namespace = "kube-system".into();
    w.record(own, &scopes, NOW);
    let mut api = start(
        "web-1",
        "api-7d9f-xk2p4",
        "redis:7-alpine",
        Outcome::Present,
    );
    api.namespace = "kube-system".into();
    w.record(api, &scopes, NOW);
    assert_eq!(w.preloaders, 1);
    let f = w.figures("web", &refs(&["redis:7-alpine"]), None);
    assert_eq!((f.starts, f.present), (1, 1));
    assert_eq!(f.images[0].hit_rate_preloaded, Some(1.0));
}
