//! The simulator's rules and kpreload's own, side by side on one table: where they disagree,
//! one of them is not what Kubernetes does. (Each is tested against Kubernetes' documented
//! behaviour on its own; this table keeps them from drifting apart.)

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, Taint as K8sTaint};
use kpreload_core::selector::{NodeSelector, Taint, Toleration, tolerates_all};
use serde_json::{Value, json};

use super::placement::Placement;
use super::reference::ImageRef;

#[test]
fn image_references_normalise_alike() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let table = [
        "nginx".to_string(),
        "nginx:1.25-alpine".into(),
        "library/nginx".into(),
        "docker.io/library/nginx:1.25".into(),
        "index.docker.io/library/nginx:1".into(),
        "jupyter/scipy-notebook:latest".into(),
        "registry.k8s.io/pause:3.10".into(),
        "localhost/app:1".into(),
        "localhost:5000/team/app:v1.2".into(),
        "127.0.0.1:5000/a/b/c:1".into(),
        "ghcr.io/org/img_name__x:2024.01.01".into(),
        format!("nginx@{digest}"),
        format!("nginx:1.25@{digest}"),
        format!("quay.io/prometheus/node-exporter@{digest}"),
        // Refused by both.
        "".into(),
        "nginx:".into(),
        "Nginx:1".into(),
        "docker.io/Team/app".into(),
        "nginx@sha256:abc".into(),
        "-bad".into(),
        "a b".into(),
        "nginx:-1".into(),
        "0123456789abcdef".repeat(4),
    ];
    for text in &table {
        let product = kpreload_core::reference::ImageRef::parse(text).map(|r| r.normalized());
        let simulator = ImageRef::parse(text).map(|r| r.normalized());
        match (&product, &simulator) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text:?}: kpreload says {product:?}, the simulator {simulator:?}"),
        }
    }
}

fn node(labels: Value, taints: Value) -> Value {
    json!({"metadata": {"name": "node-1", "labels": labels}, "spec": {"taints": taints}})
}

/// kpreload's prediction of placement: its node selector and tolerations against the node.
fn product_allows(spec: &Value, node: &Value) -> bool {
    let spec: PodSpec = serde_json::from_value(spec.clone()).unwrap();
    let Ok(selector) = NodeSelector::from_pod_spec(&spec) else {
        return false;
    };
    let labels: BTreeMap<String, String> =
        serde_json::from_value(node["metadata"]["labels"].clone()).unwrap_or_default();
    let tolerations: Vec<Toleration> = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| Toleration::from_k8s(t).unwrap())
        .collect();
    let taints: Vec<Taint> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Taint::from_k8s(&serde_json::from_value::<K8sTaint>(t.clone()).ok()?))
        .collect();
    selector.matches(&labels) && tolerates_all(&tolerations, &taints)
}

#[test]
fn placement_is_predicted_as_it_is_simulated() {
    let affinity = |terms: Value| {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": terms}}}})
    };
    let specs = [
        json!({}),
        json!({"nodeSelector": {"workload-type": "web"}}),
        json!({"nodeSelector": {"workload-type": "web", "zone": "a"}}),
        affinity(json!([{"matchExpressions": [
            {"key": "workload-type", "operator": "In", "values": ["web", "api"]}]}])),
        affinity(json!([{"matchExpressions": [
            {"key": "workload-type", "operator": "NotIn", "values": ["ml"]}]}])),
        affinity(
            json!([{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
            {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}]),
        ),
        affinity(json!([{"matchExpressions": [
            {"key": "cores", "operator": "Gt", "values": ["4"]}]}])),
        json!({"tolerations": [{"key": "workload", "operator": "Equal", "value": "web",
            "effect": "NoSchedule"}]}),
        json!({"tolerations": [{"key": "workload", "operator": "Exists"}]}),
        json!({"tolerations": [{"operator": "Exists"}]}),
        json!({"nodeSelector": {"workload-type": "ml"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}),
    ];
    let nodes = [
        node(json!({"workload-type": "web"}), json!([])),
        node(json!({"workload-type": "web", "zone": "a"}), json!([])),
        node(json!({"workload-type": "api", "cores": "8"}), json!([])),
        node(
            json!({"workload-type": "ml", "gpu": "1", "cores": "x"}),
            json!([]),
        ),
        node(
            json!({"workload-type": "web"}),
            json!([{"key": "workload", "value": "web", "effect": "NoSchedule"}]),
        ),
        node(
            json!({"workload-type": "web"}),
            json!([{"key": "workload", "value": "api", "effect": "NoExecute"}]),
        ),
        node(
            json!({"workload-type": "web"}),
            json!([{"key": "workload", "value": "web", "effect": "PreferNoSchedule"}]),
        ),
        node(
            json!({"workload-type": "ml", "gpu": "1"}),
            json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
        ),
        node(json!({}), json!([])),
    ];
    let mut agreed = 0;
    for spec in &specs {
        for n in &nodes {
            let product = product_allows(spec, n);
            let simulator = Placement::of(spec).allows(n);
            assert_eq!(
                product, simulator,
                "spec {spec} on node {n}: kpreload predicts {product}, the simulator places {simulator}"
            );
            agreed += 1;
        }
    }
    assert_eq!(agreed, specs.len() * nodes.len());
}
