use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::fixtures;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn node(name: &str, labels: Value, taints: Value, images: Value) -> Arc<Node> {
    fixtures::node(name)
        .labels(labels)
        .taints(taints)
        .images(images)
        .build()
}

/// The article's cluster-wide preloader, verbatim.
fn article_daemonset() -> Arc<DaemonSet> {
    fixtures::daemonset(
        include_str!("../../../../tests/fixtures/article/image-preloader.yaml"),
        "ds-uid",
    )
}

fn pod(name: &str, node: &str, created: &str, init: Value) -> Arc<Pod> {
    fixtures::preloader_pod(
        &article_daemonset(),
        name,
        node,
        created,
        json!({"initContainerStatuses": init}),
    )
}

use crate::fixtures::waiting;

fn terminated(name: &str, code: i32) -> Value {
    fixtures::container_status(
        name,
        code == 0,
        json!({"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "StartError" },
            "message": if code == 0 { Value::Null } else { json!("exec: \"/bin/sh\": stat /bin/sh: no such file or directory") }}}),
    )
}

fn event(pod: &str, n: u32, at: &str, kind: &str, reason: &str, message: &str) -> Arc<Event> {
    fixtures::event_of(fixtures::event(pod, n, at, kind, reason, message))
}

/// The first pool's progress on one node.
fn node_in<'a>(o: &'a Overview, node: &str) -> &'a NodeProgress {
    o.pools[0].nodes.iter().find(|n| n.node == node).unwrap()
}

fn states(p: &NodeProgress) -> Vec<&'static str> {
    p.images.iter().map(|i| i.state.word()).collect()
}

/// node-a is half way: py-kube pulled, python already there, golang pulling, rust waiting. node-b finished long ago and reports golang's size in its image list.
fn half_way() -> Snapshot {
    let golang = json!([{"names": ["docker.io/library/golang:1.23"], "sizeBytes": 293_403_951}]);
    Snapshot {
        nodes: vec![
            node("node-a", json!({}), json!([]), json!([])),
            node("node-b", json!({}), json!([]), golang),
        ],
        pods: vec![
            pod(
                "image-preloader-aaaaa",
                "node-a",
                "2026-11-28T10:00:00Z",
                json!([
                    terminated("preload-py-kube", 0),
                    terminated("preload-python", 0),
                    waiting("preload-golang", "PodInitializing", ""),
                    waiting("preload-rust", "PodInitializing", ""),
                ]),
            ),
            pod(
                "image-preloader-bbbbb",
                "node-b",
                "2026-11-28T09:00:00Z",
                json!([
                    terminated("preload-py-kube", 0),
                    terminated("preload-python", 0),
                    terminated("preload-golang", 0),
                    terminated("preload-rust", 0),
                ]),
            ),
        ],
        daemonsets: vec![article_daemonset()],
        workloads: Vec::new(),
        events: vec![
            event(
                "image-preloader-aaaaa",
                1,
                "2026-11-28T10:00:01Z",
                "Normal",
                "Pulling",
                "Pulling image \"g1g1/py-kube\"",
            ),
            event(
                "image-preloader-aaaaa",
                2,
                "2026-11-28T10:00:05Z",
                "Normal",
                "Pulled",
                "Successfully pulled image \"g1g1/py-kube\" in 4.000s (4.000s including waiting). Image size: 100000000 bytes.",
            ),
            event(
                "image-preloader-aaaaa",
                3,
                "2026-11-28T10:00:05Z",
                "Normal",
                "Pulled",
                "Container image \"python:3.12-slim\" already present on machine",
            ),
            event(
                "image-preloader-aaaaa",
                4,
                "2026-11-28T10:00:06Z",
                "Normal",
                "Pulling",
                "Pulling image \"golang:1.23\"",
            ),
        ],
    }
}

#[test]
fn a_pull_read_from_the_node_gives_its_bytes_and_its_eta_and_never_passes_the_size() {
    let now = ts("2026-11-28T10:00:10Z");
    let since = Some(ts("2026-11-28T10:00:06Z"));
    let mut live = super::bytes::Tracker::default();
    let read = |offset| crate::runtime::ActivePull {
        reference: "layer-sha256:aa".into(),
        offset,
        age_seconds: None,
    };
    live.observe(
        "node-a",
        "golang:1.23",
        since,
        &[read(40_000_000)],
        ts("2026-11-28T10:00:08Z"),
    );
    live.observe("node-a", "golang:1.23", since, &[read(140_000_000)], now);
    let o = derive_with(&half_way(), now, &live);
    let a = o.pools[0]
        .nodes
        .iter()
        .find(|n| n.node == "node-a")
        .unwrap();
    let ImageState::Pulling { bytes: Some(b), .. } = &a.images[2].state else {
        panic!("{:?}", a.images[2].state);
    };
    // 100 MB in the 2 s between the readings: 50 MB/s, read (not the earlier 25 MB/s).
    assert_eq!(
        (b.done, b.total, b.rate, b.estimated),
        (140_000_000, Some(293_403_951), Some(50_000_000.0), false)
    );
    // golang's 153.4 MB to go at 50 MB/s, then rust (its size unknown: no ETA at all).
    assert_eq!(a.eta_seconds, None);
    assert_eq!(a.bytes_under_way(), 140_000_000);
    assert_eq!(
        o.pools[0].bytes_with_pulls(),
        o.pools[0].bytes() + 140_000_000
    );
    assert!(!o.pools[0].estimated());
    // A reading past the size (ctr rounds to four digits) shows the size, no more.
    live.observe(
        "node-a",
        "golang:1.23",
        since,
        &[read(293_500_000)],
        ts("2026-11-28T10:00:11Z"),
    );
    let o = derive_with(&half_way(), ts("2026-11-28T10:00:11Z"), &live);
    let a = o.pools[0]
        .nodes
        .iter()
        .find(|n| n.node == "node-a")
        .unwrap();
    let ImageState::Pulling { bytes: Some(b), .. } = &a.images[2].state else {
        panic!();
    };
    assert_eq!(b.done, 293_403_951);
}

#[test]
fn a_node_half_way_through_the_articles_preloader() {
    let now = ts("2026-11-28T10:00:10Z");
    let o = derive(&half_way(), now);
    assert_eq!(o.pools.len(), 1);
    let pool = &o.pools[0];
    assert_eq!(pool.pool, "default");
    assert_eq!(pool.origin, Origin::HandWritten);
    assert!(o.unpooled.is_empty());
    let a = pool.nodes.iter().find(|n| n.node == "node-a").unwrap();
    assert_eq!(states(a), ["pulled", "present", "pulling", "queued"]);
    assert_eq!(
        a.images[0].state,
        ImageState::Pulled {
            seconds: Some(4.0),
            bytes: Some(100_000_000)
        }
    );
    assert_eq!(
        a.images[2].state,
        ImageState::Pulling {
            since: Some(ts("2026-11-28T10:00:06Z")),
            // Nothing read from the node: 4 s at the node's earlier 25 MB/s, an estimate,
            // of the size node-b reports for golang:1.23.
            bytes: Some(super::bytes::PullBytes {
                done: 100_000_000,
                total: Some(293_403_951),
                rate: Some(25_000_000.0),
                estimated: true,
                restarts: 0,
            }),
        }
    );
    assert!(!a.ready());
    assert_eq!(a.rate, Some(25_000_000.0));
    // rust's size is known from no node: the ETA is unknown, and said so.
    assert_eq!(a.eta_seconds, None);
    let b = pool.nodes.iter().find(|n| n.node == "node-b").unwrap();
    assert!(b.ready());
    // Events of node-b's pulls are gone: done, figures unknown.
    assert_eq!(
        b.images[2].state,
        ImageState::Pulled {
            seconds: None,
            bytes: None
        }
    );
    assert_eq!(pool.nodes_ready(), 1);
    assert_eq!((pool.images_done(), pool.images_total()), (6, 8));
    assert_eq!(pool.bytes(), 100_000_000);
    assert_eq!(pool.throughput, Some(25_000_000.0));
    assert_eq!(pool.slowest.as_deref(), Some("node-a"));
    // The log: pulls and outcomes in order, with their node.
    let texts: Vec<&str> = pool.recent.iter().map(|h| h.text.as_str()).collect();
    assert_eq!(texts.len(), 4);
    assert!(texts[3].starts_with("Pulling image \"golang"));
    assert!(pool.recent.iter().all(|h| h.node == "node-a"));
}

#[test]
fn the_eta_counts_what_is_left_at_the_nodes_rate() {
    let mut snap = half_way();
    // Only golang is left on node-a once rust is taken out of the preloader's pod.
    let mut p = (*snap.pods[0]).clone();
    let spec = p.spec.as_mut().unwrap();
    spec.init_containers.as_mut().unwrap().truncate(3);
    p.status
        .as_mut()
        .unwrap()
        .init_container_statuses
        .as_mut()
        .unwrap()
        .truncate(3);
    snap.pods[0] = Arc::new(p);
    let o = derive(&snap, ts("2026-11-28T10:00:10Z"));
    let a = node_in(&o, "node-a");
    // golang: 293,403,951 bytes, 4 s in at 25 MB/s → 193,403,951 left → 7.736 s.
    let eta = a.eta_seconds.unwrap();
    assert!((eta - 7.736).abs() < 0.01, "{eta}");
    assert_eq!(o.pools[0].eta_seconds, Some(eta));
}

#[test]
fn a_missing_image_fails_with_the_kubelets_words_and_a_retry_estimate() {
    let mut snap = half_way();
    let msg = "Failed to pull image \"golang:1.23\": rpc error: code = NotFound desc = not found";
    snap.events.push(event(
        "image-preloader-aaaaa",
        5,
        "2026-11-28T10:00:07Z",
        "Warning",
        "Failed",
        msg,
    ));
    snap.events.push(event(
        "image-preloader-aaaaa",
        6,
        "2026-11-28T10:00:07Z",
        "Warning",
        "Failed",
        "Error: ErrImagePull",
    ));
    snap.events.push(event(
        "image-preloader-aaaaa",
        7,
        "2026-11-28T10:00:08Z",
        "Normal",
        "BackOff",
        "Back-off pulling image \"golang:1.23\"",
    ));
    snap.events.push(event(
        "image-preloader-aaaaa",
        8,
        "2026-11-28T10:00:18Z",
        "Normal",
        "Pulling",
        "Pulling image \"golang:1.23\"",
    ));
    snap.events.push(event(
        "image-preloader-aaaaa",
        9,
        "2026-11-28T10:00:19Z",
        "Warning",
        "Failed",
        msg,
    ));
    let mut p = (*snap.pods[0]).clone();
    p.status
        .as_mut()
        .unwrap()
        .init_container_statuses
        .as_mut()
        .unwrap()[2] = serde_json::from_value(waiting(
        "preload-golang",
        "ImagePullBackOff",
        "Back-off pulling image \"golang:1.23\"",
    ))
    .unwrap();
    snap.pods[0] = Arc::new(p);
    let o = derive(&snap, ts("2026-11-28T10:00:25Z"));
    let a = node_in(&o, "node-a");
    match &a.images[2].state {
        ImageState::Failed {
            reason,
            message,
            next_retry,
        } => {
            assert_eq!(reason, "ImagePullBackOff");
            assert_eq!(message, "Back-off pulling image \"golang:1.23\"");
            // Two failures: the second back-off is 20 s after the last one.
            assert_eq!(*next_retry, Some(ts("2026-11-28T10:00:39Z")));
        }
        other => panic!("{other:?}"),
    }
    // Later images wait behind it.
    assert_eq!(states(a)[3..], ["queued"]);
    assert_eq!(o.pools[0].failures(), 1);
    // A failed image is not waited for: the ETA covers what can still arrive.
    assert!(!o.pools[0].complete());
    assert!(o.pools[0].recent.iter().any(|h| h.warning && h.text == msg));
}

#[test]
fn between_the_failed_event_and_the_status_the_event_decides() {
    let mut snap = half_way();
    snap.events.push(event(
        "image-preloader-aaaaa",
        5,
        "2026-11-28T10:00:07Z",
        "Warning",
        "Failed",
        "Failed to pull image \"golang:1.23\": not found",
    ));
    let o = derive(&snap, ts("2026-11-28T10:00:08Z"));
    let a = node_in(&o, "node-a");
    assert!(a.images[2].state.is_failed(), "{:?}", a.images[2]);
}

#[test]
fn back_off_doubles_from_ten_seconds_to_five_minutes() {
    let b: Vec<f64> = (1..=7).map(back_off_seconds).collect();
    assert_eq!(b, [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]);
    assert_eq!(back_off_seconds(0), 10.0);
    assert_eq!(back_off_seconds(u32::MAX), 300.0);
}

#[test]
fn a_rerolled_preloader_shows_the_new_pod() {
    let mut snap = half_way();
    // The DaemonSet was edited: node-b's new pod is queued behind a fresh start.
    snap.pods.push(pod(
        "image-preloader-ccccc",
        "node-b",
        "2026-11-28T10:00:09Z",
        json!([waiting("preload-py-kube", "PodInitializing", "")]),
    ));
    let o = derive(&snap, ts("2026-11-28T10:00:10Z"));
    let b = node_in(&o, "node-b");
    assert_eq!(b.pod.as_deref(), Some("image-preloader-ccccc"));
    assert_eq!(states(b)[0], "queued");
    assert!(!b.ready());
}

#[test]
fn a_shell_less_image_under_the_articles_echo_fails_to_start() {
    let mut snap = half_way();
    let mut p = (*snap.pods[0]).clone();
    p.status
        .as_mut()
        .unwrap()
        .init_container_statuses
        .as_mut()
        .unwrap()[2] = serde_json::from_value(terminated("preload-golang", 128)).unwrap();
    snap.pods[0] = Arc::new(p);
    let o = derive(&snap, ts("2026-11-28T10:00:10Z"));
    let a = node_in(&o, "node-a");
    match &a.images[2].state {
        ImageState::Failed {
            reason, message, ..
        } => {
            assert_eq!(reason, "StartError");
            assert!(message.contains("/bin/sh"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_covered_node_without_a_pod_yet_is_all_queued_and_a_complete_pool_has_no_eta_left() {
    let mut snap = half_way();
    snap.pods.clear();
    snap.events.clear();
    let o = derive(&snap, ts("2026-11-28T10:00:10Z"));
    let pool = &o.pools[0];
    assert_eq!(pool.nodes.len(), 2);
    assert!(
        pool.nodes
            .iter()
            .all(|n| n.pod.is_none() && n.images.iter().all(|i| i.state == ImageState::Queued))
    );
    assert_eq!(pool.eta_seconds, None);

    let mut done = half_way();
    done.pods.remove(0);
    done.nodes.remove(0);
    let o = derive(&done, ts("2026-11-28T10:00:10Z"));
    assert!(o.pools[0].complete());
    assert_eq!(o.pools[0].eta_seconds, Some(0.0));
}

#[test]
fn nodes_the_preloader_does_not_select_or_tolerate_are_in_no_pool() {
    let mut snap = half_way();
    snap.nodes
        .push(node("gpu-1", json!({"gpu": "true"}), json!([]), json!([])));
    let mut ds = (*snap.daemonsets[0]).clone();
    let spec = ds.spec.template.spec.as_mut().unwrap();
    spec.node_selector = Some([("pool".to_string(), "cpu".to_string())].into());
    snap.daemonsets = vec![Arc::new(ds)];
    snap.nodes[0] = node("node-a", json!({"pool": "cpu"}), json!([]), json!([]));
    let o = derive(&snap, ts("2026-11-28T10:00:10Z"));
    // node-b carries a preloader pod (from before the selector): it is still shown.
    let names: Vec<&str> = o.pools[0].nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["node-a", "node-b"]);
    assert_eq!(o.unpooled, ["gpu-1"]);
}

#[test]
fn a_daemonset_that_is_not_a_preloader_is_no_pool() {
    let mut snap = half_way();
    let mut ds = (*snap.daemonsets[0]).clone();
    ds.metadata.name = Some("kube-proxy".into());
    snap.daemonsets = vec![Arc::new(ds)];
    let o = derive(&snap, ts("2026-11-28T10:00:10Z"));
    assert!(o.pools.is_empty());
    assert_eq!(o.unpooled.len(), 2);
}

mod deriver;
mod trouble;

/// A pool keeps its latest fifty happenings, in time and then name order, however many its
/// nodes told.
#[test]
fn a_pool_keeps_its_latest_fifty_happenings_in_order() {
    let mut snap = half_way();
    // Seventy more, three to a second, written out of order.
    let mut told = Vec::new();
    for n in (100..170).rev() {
        let at = format!("2026-11-28T10:01:{:02}Z", (n - 100) / 3);
        let text = format!("Pulling image \"img-{n}\"");
        snap.events.push(event(
            "image-preloader-aaaaa",
            n,
            &at,
            "Normal",
            "Pulling",
            &text,
        ));
        told.push((at, format!("image-preloader-aaaaa.{n:04}"), text));
    }
    let o = derive(&snap, ts("2026-11-28T10:02:00Z"));
    let texts: Vec<&str> = o.pools[0].recent.iter().map(|h| h.text.as_str()).collect();
    // All seventy are later than the snapshot's own events: the latest fifty are theirs.
    told.sort();
    let want: Vec<&str> = told[told.len() - 50..]
        .iter()
        .map(|(_, _, t)| t.as_str())
        .collect();
    assert_eq!(texts, want);
    assert_eq!(texts.first(), Some(&"Pulling image \"img-120\""));
    assert_eq!(texts.last(), Some(&"Pulling image \"img-169\""));
}
