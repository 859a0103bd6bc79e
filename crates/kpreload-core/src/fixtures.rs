//! Builders for the objects tests feed the rules and the TUI: nodes, preloader and workload
//! pods, their container statuses, the kubelet's events, DaemonSets from YAML. One builder
//! per kind, shared by the core's unit tests and the integration tests (feature `fixtures`),
//! instead of a copy in each test file.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use crate::objects::{Event, Pod};

/// A Node: `node("web-1").labels(json!({…})).taints(json!([…])).images(json!([…])).build()`.
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    object: Value,
}

pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder {
        object: json!({"metadata": {"name": name}}),
    }
}

impl NodeBuilder {
    pub fn labels(mut self, labels: Value) -> Self {
        self.object["metadata"]["labels"] = labels;
        self
    }

    pub fn taints(mut self, taints: Value) -> Self {
        self.object["spec"]["taints"] = taints;
        self
    }

    /// `status.images`: `[{"names": […], "sizeBytes": N}]`.
    pub fn images(mut self, images: Value) -> Self {
        self.object["status"]["images"] = images;
        self
    }

    /// `status.capacity["ephemeral-storage"]`.
    pub fn storage(mut self, quantity: &str) -> Self {
        self.object["status"]["capacity"] = json!({"ephemeral-storage": quantity});
        self
    }

    /// The Ready condition, `True`.
    pub fn ready(mut self) -> Self {
        self.object["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        self
    }

    /// Any other field, by its JSON path from the top (`["status", "nodeInfo"]`).
    pub fn with(mut self, path: &[&str], value: Value) -> Self {
        let mut at = &mut self.object;
        for key in path {
            at = &mut at[*key];
        }
        *at = value;
        self
    }

    pub fn build(self) -> Arc<Node> {
        Arc::new(serde_json::from_value(self.object).expect("a Node"))
    }
}

/// A DaemonSet read from YAML, with a uid (the API server gives every object one).
pub fn daemonset(yaml: &str, uid: &str) -> Arc<DaemonSet> {
    let mut ds: DaemonSet = serde_yaml::from_str(yaml).expect("a DaemonSet");
    ds.metadata.uid = Some(uid.into());
    Arc::new(ds)
}

/// A pod of `ds` (its template's spec) bound to `node`, owned by the DaemonSet, created at
/// `created`, with this status. Given no main container statuses, once every init container
/// has completed the main containers run, as the kubelet starts them then.
pub fn preloader_pod(
    ds: &DaemonSet,
    name: &str,
    node: &str,
    created: &str,
    mut status: Value,
) -> Arc<Pod> {
    let completed = status["initContainerStatuses"]
        .as_array()
        .is_some_and(|all| {
            all.iter()
                .all(|s| s["state"]["terminated"]["exitCode"] == json!(0))
        });
    if completed && status.get("containerStatuses").is_none() {
        let mains: Vec<Value> = ds
            .spec
            .template
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .map(|c| container_status(&c.name, true, json!({"running": {"startedAt": created}})))
            .collect();
        status["containerStatuses"] = json!(mains);
    }
    let mut spec = serde_json::to_value(ds.spec.template.spec.clone()).expect("a pod spec");
    spec["nodeName"] = json!(node);
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
                "creationTimestamp": created,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                    "name": ds.metadata.name, "uid": ds.metadata.uid, "controller": true}]},
            "spec": spec,
            "status": status,
        }))
        .expect("a Pod"),
    )
}

/// A workload pod in `namespace` on `node` with one container running `image`.
pub fn workload(namespace: &str, name: &str, node: &str, image: &str) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": image}]},
        }))
        .expect("a Pod"),
    )
}

/// A container status in `state` (`{"waiting": …}`, `{"terminated": …}`, `{"running": …}`).
pub fn container_status(name: &str, ready: bool, state: Value) -> Value {
    json!({"name": name, "image": "", "imageID": "", "ready": ready, "restartCount": 0,
        "state": state})
}

/// Waiting, with the kubelet's reason and message.
pub fn waiting(name: &str, reason: &str, message: &str) -> Value {
    container_status(
        name,
        false,
        json!({"waiting": {"reason": reason, "message": message}}),
    )
}

/// The kubelet's event `n` about pod `pod` (its uid as [`preloader_pod`] gives it).
pub fn event(pod: &str, n: u32, at: &str, kind: &str, reason: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": format!("{pod}.{n:04}"), "namespace": "kube-system"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "kube-system",
            "uid": format!("uid-{pod}")},
        "reason": reason, "message": message, "type": kind,
        "lastTimestamp": at, "count": 1,
    })
}

/// An event as [`event`] writes it, read.
pub fn event_of(value: Value) -> Arc<Event> {
    Arc::new(serde_json::from_value(value).expect("an Event"))
}

/// A pool's progress as derivation gives it, with these nodes and nothing else said.
pub fn pool_progress(
    pool: &str,
    nodes: Vec<crate::progress::NodeProgress>,
) -> crate::progress::PoolProgress {
    crate::progress::PoolProgress {
        pool: pool.into(),
        namespace: "kube-system".into(),
        daemonset: format!("image-preloader-{pool}"),
        shards: Vec::new(),
        origin: crate::adopt::Origin::Rendered,
        images: Vec::new(),
        nodes,
        throughput: None,
        eta_seconds: None,
        slowest: None,
        recent: Vec::new(),
        problem: None,
        warning: None,
        pull_secrets: Vec::new(),
    }
}

/// A node's progress: no pod yet, these images.
pub fn node_progress(
    node: &str,
    images: Vec<crate::progress::ImageProgress>,
) -> crate::progress::NodeProgress {
    crate::progress::NodeProgress {
        node: node.into(),
        pod: None,
        images: images.into(),
        rate: None,
        eta_seconds: None,
        trouble: None,
        running: false,
    }
}
