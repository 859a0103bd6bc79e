use super::*;
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
