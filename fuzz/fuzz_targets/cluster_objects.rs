//! Nodes, Pods, DaemonSets and Events as the API server could send them: any JSON, a list
//! of objects (or a `kind: List`). Through the watches' trimming, progress derivation, the
//! findings and the cleanup planner:
//! - trimming (and dropping the events the watches do not keep) keeps everything derivation
//!   and the planner read (the same answers either way);
//! - no pulled size is reported that the kubelet did not state, and no pull's bytes pass
//!   the image's size;
//! - a pool is never complete while one of its nodes fails;
//! - the plan from the all-namespaces watch's records is the plan from the pods;
//! - no plan removes an image a pod on the node names or resolved, by name or by ID.
#![no_main]

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kpreload::cluster::trim;
use kpreload_core::cleanup::{self, PlanOptions};
use kpreload_core::objects::{Event, Pod, records};
use kpreload_core::planner::Decision;
use kpreload_core::progress::{ImageState, Snapshot, derive};
use kpreload_core::reference::ImageRef;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The snapshot, and every pod whole (the snapshot's workloads are their records).
fn snapshot(items: &[Value]) -> (Snapshot, Vec<Arc<Pod>>) {
    let mut s = Snapshot::default();
    let mut all = Vec::new();
    for v in items {
        match v["kind"].as_str() {
            Some("Node") => s
                .nodes
                .extend(serde_json::from_value::<Node>(v.clone()).ok().map(Arc::new)),
            Some("Pod") => {
                if let Ok(p) = serde_json::from_value::<Pod>(v.clone()) {
                    let p = Arc::new(p);
                    s.pods.push(p.clone());
                    all.push(p);
                }
            }
            Some("DaemonSet") => s.daemonsets.extend(
                serde_json::from_value::<DaemonSet>(v.clone())
                    .ok()
                    .map(Arc::new),
            ),
            Some("Event") => s.events.extend(
                serde_json::from_value::<Event>(v.clone())
                    .ok()
                    .map(Arc::new),
            ),
            _ => {}
        }
    }
    s.workloads = records(&all);
    (s, all)
}

/// Copies of `objects`, each trimmed by `trim`.
fn each<T: Clone>(objects: &[Arc<T>], trim: fn(&mut T)) -> Vec<Arc<T>> {
    objects
        .iter()
        .map(|o| {
            let mut o = (**o).clone();
            trim(&mut o);
            Arc::new(o)
        })
        .collect()
}

fn trimmed(s: &Snapshot) -> Snapshot {
    Snapshot {
        nodes: each(&s.nodes, trim::node),
        pods: each(&s.pods, trim::pod),
        workloads: s.workloads.clone(),
        daemonsets: each(&s.daemonsets, trim::daemonset),
        // Only the events the watches keep.
        events: each(&s.events, trim::event)
            .into_iter()
            .filter(|e| trim::event_read(e))
            .collect(),
    }
}

/// Every size the input states: the kubelet's "Image size: N bytes", and the nodes' images.
fn stated_sizes(items: &[Value]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for v in items {
        if let Some(m) = v["message"].as_str() {
            for part in m.split("Image size: ").skip(1) {
                if let Some(n) = part.split_whitespace().next().and_then(|n| n.parse().ok()) {
                    out.insert(n);
                }
            }
        }
        for i in v["status"]["images"].as_array().into_iter().flatten() {
            out.extend(i["sizeBytes"].as_u64());
        }
    }
    out
}

fn normal(name: &str) -> String {
    ImageRef::parse(name).map_or_else(|_| name.to_string(), |r| r.normalized())
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let items: Vec<Value> = match v {
        Value::Array(a) => a,
        Value::Object(ref o) if o.get("kind").and_then(Value::as_str) == Some("List") => {
            o["items"].as_array().cloned().unwrap_or_default()
        }
        other => vec![other],
    };
    let (snap, all) = snapshot(&items);
    let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    let overview = derive(&snap, now);
    let slim = trimmed(&snap);
    assert_eq!(
        derive(&slim, now),
        overview,
        "trimming changed what derivation reads"
    );

    let sizes = stated_sizes(&items);
    for pool in &overview.pools {
        for n in &pool.nodes {
            for i in n.images.iter() {
                match &i.state {
                    ImageState::Pulled { bytes: Some(b), .. } => {
                        assert!(sizes.contains(b), "{b} bytes stated nowhere: {sizes:?}")
                    }
                    ImageState::Pulling { bytes: Some(b), .. } => {
                        if let Some(total) = b.total {
                            assert!(b.done <= total, "{b:?}");
                        }
                    }
                    _ => {}
                }
            }
        }
        if pool.complete() {
            assert!(pool.nodes.iter().all(|n| n.failures() == 0), "{pool:#?}");
        }
    }

    let gathered = kpreload_core::findings::gather::gather(&snap, None);
    let _ = kpreload_core::findings::findings(&gathered.pools, &gathered.nodes);

    let options = PlanOptions::default();
    let plan = |s: &Snapshot, pods: &[Arc<Pod>]| {
        cleanup::plan(
            cleanup::gather(&s.nodes, pods, &s.daemonsets, &options),
            &options,
        )
    };
    let full = plan(&snap, &all);
    assert_eq!(
        plan(&slim, &each(&all, trim::pod)),
        full,
        "trimming changed what the planner reads"
    );
    // As the TUI plans: every namespace's pods as records, the preloaders' pods trimmed.
    let watched = cleanup::plan(
        cleanup::gather_watched(
            &slim.nodes,
            &slim.workloads,
            &slim.pods,
            &slim.daemonsets,
            &options,
        ),
        &options,
    );
    assert_eq!(watched, full, "the records changed what the planner reads");
    for n in &full.nodes {
        let node = n.plan.node.as_str();
        // What the pods on the node name and resolved.
        let mut named = BTreeSet::new();
        for p in all
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        {
            let spec = p.spec.as_ref().unwrap();
            for c in spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
            {
                if let Some(i) = &c.image {
                    named.insert(normal(i));
                }
            }
            for s in p.status.iter() {
                for c in s
                    .container_statuses
                    .iter()
                    .chain(s.init_container_statuses.iter())
                    .flatten()
                {
                    if !c.image_id.is_empty() {
                        named.insert(normal(&c.image_id));
                        named.insert(c.image_id.clone());
                    }
                }
                named.extend(s.image_ids.iter().cloned());
            }
        }
        for i in n
            .plan
            .images
            .iter()
            .filter(|i| i.decision == Decision::Remove)
        {
            for r in i.refs.iter().chain(i.id.iter()) {
                assert!(
                    !named.contains(r) && !named.contains(&normal(r)),
                    "{node}: {r} is used but removed: {i:?}"
                );
            }
        }
    }
});
