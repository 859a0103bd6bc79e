//! The simulator's rules and kpreload's own, side by side on one table: where they disagree,
//! one of them is not what Kubernetes does. (Each is tested against Kubernetes' documented
//! behaviour on its own; this table keeps them from drifting apart.)

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, Taint as K8sTaint};
use kpreload_core::selector::{NodeSelector, Taint, Toleration, daemonset_tolerates_all};
use serde_json::{Value, json};

use super::placement::Placement;
use super::reference::ImageRef;

#[test]
fn image_references_normalise_alike() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let valid = [
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
    ];
    let invalid = [
        "".to_string(),
        "nginx:".into(),
        "Nginx:1".into(),
        "docker.io/Team/app".into(),
        "nginx@sha256:abc".into(),
        format!("nginx@sha256:{}", "a".repeat(40)),
        "-bad".into(),
        "a b".into(),
        "nginx:-1".into(),
        "0123456789abcdef".repeat(4),
    ];
    for text in &valid {
        let product = kpreload_core::reference::ImageRef::parse(text).map(|r| r.normalized());
        let simulator = ImageRef::parse(text).map(|r| r.normalized());
        match (&product, &simulator) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
            _ => panic!("{text:?}: kpreload says {product:?}, the simulator {simulator:?}"),
        }
    }
    for text in &invalid {
        let product = kpreload_core::reference::ImageRef::parse(text);
        let simulator = ImageRef::parse(text);
        assert!(
            product.is_err() && simulator.is_err(),
            "{text:?} is refused by the runtime: kpreload says {product:?}, the simulator {simulator:?}"
        );
    }
}

fn node(labels: Value, taints: Value) -> Value {
    json!({"metadata": {"name": "node-1", "labels": labels}, "spec": {"taints": taints}})
}

/// kpreload's prediction of where a preloader DaemonSet runs (`Pool::covers`' rule): its
/// node selector, its tolerations and those the DaemonSet controller adds.
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
    selector.matches(&labels) && daemonset_tolerates_all(&tolerations, &taints)
}

#[test]
fn where_a_daemonset_runs_is_predicted_as_it_is_simulated() {
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
        // A term with no requirement matches no node, beside others or alone.
        affinity(json!([{}, {"matchExpressions": [
            {"key": "workload-type", "operator": "In", "values": ["api"]}]}])),
        affinity(json!([{}])),
        affinity(json!([])),
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
        // The kubelet's and the node lifecycle's own taints: a DaemonSet's pods tolerate
        // these (but not unreachable's NoSchedule).
        node(
            json!({"workload-type": "web"}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        ),
        node(
            json!({"workload-type": "web"}),
            json!([{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
        ),
        node(
            json!({"workload-type": "web"}),
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
        ),
    ];
    let (mut runs, mut does_not) = (0, 0);
    for spec in &specs {
        for n in &nodes {
            let product = product_allows(spec, n);
            let simulator = Placement::for_daemonset(spec).allows(n);
            assert_eq!(
                product, simulator,
                "spec {spec} on node {n}: kpreload predicts {product}, the simulator places {simulator}"
            );
            if simulator {
                runs += 1;
            } else {
                does_not += 1;
            }
        }
    }
    // The table has both answers in it, many of each.
    assert!(runs > 20 && does_not > 20, "{runs} run, {does_not} do not");
}
