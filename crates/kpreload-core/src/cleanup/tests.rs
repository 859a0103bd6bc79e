use super::*;
use crate::objects::Pod;
use crate::planner::{Preload, Usage};
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

#[test]
fn a_trimmed_pods_resolved_image_id_keeps_its_image() {
    // The pod was made from app:1.0, whose tag has since moved to another image; the
    // kubelet's resolved ID still names the old one by digest.
    let digest = format!("sha256:{}", "d".repeat(64));
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {"images": [
            {"names": [format!("docker.io/library/app@{digest}"), "docker.io/library/app:0.9"], "sizeBytes": 10},
            {"names": ["docker.io/library/app:1.0"], "sizeBytes": 10},
            {"names": ["docker.io/library/app:1.1"], "sizeBytes": 10},
            {"names": ["docker.io/library/app:1.2"], "sizeBytes": 10}]}
    }))
    .unwrap();
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "old", "namespace": "shop"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "app:1.0"}]}
    }))
    .unwrap();
    pod.status = Some(crate::objects::PodStatus {
        image_ids: vec![format!("docker.io/library/app@{digest}")],
        ..Default::default()
    });
    let options = PlanOptions::default();
    let facts = gather(&[Arc::new(node)], &[Arc::new(pod)], &[], &options);
    let p = plan(facts, &options);
    let old = p.nodes[0]
        .plan
        .images
        .iter()
        .find(|i| i.refs.iter().any(|r| r.ends_with("app:0.9")))
        .unwrap();
    assert_eq!(old.decision, Decision::Keep);
    assert_eq!(old.reason.to_string(), "in use by shop/old");
}

/// The streamed document is the one a JSON value of the plan prints: the same keys, in
/// the same (alphabetical) order, the same values.
#[test]
fn the_streamed_plan_is_the_plan_as_a_json_value() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "uid": "u1"},
        "status": {"images": [
            {"names": ["docker.io/library/app:1.0"], "sizeBytes": 10},
            {"names": ["docker.io/library/app:1.1"], "sizeBytes": 20},
            {"names": ["docker.io/library/app:1.2"], "sizeBytes": 30},
            {"names": ["docker.io/library/app:latest"], "sizeBytes": 40}]}
    }))
    .unwrap();
    let options = PlanOptions {
        protect: Some(vec!["registry.k8s.io/*".into()]),
        min_age_secs: Some(60),
        ..PlanOptions::default()
    };
    let mut p = plan(gather(&[Arc::new(node)], &[], &[], &options), &options);
    p.problems = vec!["a problem".into()];
    let mut streamed = Vec::new();
    write_json(&p, &mut streamed).unwrap();
    let value = to_json(&p);
    let printed = format!("{}\n", serde_json::to_string_pretty(&value).unwrap());
    assert_eq!(String::from_utf8(streamed).unwrap(), printed);
    // And the value is the contract's.
    assert_eq!(value["totals"]["remove_images"], 0, "{value}");
    assert_eq!(
        value["nodes"][0]["images"][0]["reason"],
        "age unknown and a minimum age is set"
    );
    assert_eq!(value["nodes"][0]["inventory"], "status.images");
    assert_eq!(value["settings"]["min_age_seconds"], 60);
}

/// One memo across nodes gives each node the plan it gets alone.
#[test]
fn a_shared_memo_plans_as_planning_alone() {
    let fixture = |name: &str, tags: &[&str], used: &str| NodeInput {
        node: name.into(),
        pool: Some("web".into()),
        images: tags
            .iter()
            .map(|t| crate::planner::InventoryImage {
                refs: vec![format!("docker.io/library/app:{t}")],
                size: 1,
                ..Default::default()
            })
            .collect(),
        in_use: vec![Usage {
            image: used.into(),
            by: format!("default/{name}"),
        }],
        preloaded: vec![Preload {
            image: "app:1.0".into(),
            pool: "web".into(),
        }],
    };
    let nodes = [
        fixture("a", &["1.0", "1.1", "1.2", "1.3"], "app:1.1"),
        fixture("b", &["1.0", "1.1", "1.2", "1.3", "main"], "app:1.3"),
        fixture("c", &["1.1", "1.2"], "not a reference!"),
    ];
    let settings = [
        Settings::default(),
        Settings {
            keep: 1,
            protect: vec!["docker.io/library/app:1.2".into()],
            ..Settings::default()
        },
    ];
    let mut memo = Memo::new();
    for s in &settings {
        for n in &nodes {
            assert_eq!(
                crate::planner::plan_node_with(n, s, &mut memo),
                crate::planner::plan_node(n, s)
            );
        }
    }
    // Different settings on the same names: the protect pattern is judged per list.
    let b = crate::planner::plan_node_with(&nodes[1], &settings[1], &mut memo);
    let twelve = b
        .images
        .iter()
        .find(|i| i.refs[0].ends_with(":1.2"))
        .unwrap();
    assert_eq!(
        twelve.reason.to_string(),
        "protected by pattern docker.io/library/app:1.2"
    );
    let a = crate::planner::plan_node_with(&nodes[1], &settings[0], &mut memo);
    let twelve = a
        .images
        .iter()
        .find(|i| i.refs[0].ends_with(":1.2"))
        .unwrap();
    assert_eq!(twelve.reason.to_string(), "newest 2");
    let eleven = a
        .images
        .iter()
        .find(|i| i.refs[0].ends_with(":1.1"))
        .unwrap();
    assert_eq!(eleven.decision, Decision::Remove);
}
