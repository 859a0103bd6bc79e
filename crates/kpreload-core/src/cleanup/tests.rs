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

/// The TUI plans from the all-namespaces watch's records and the preloaders' pods whole;
/// `plan` reads every pod whole. On the same cluster the two plans are one.
#[test]
fn the_plan_from_the_watches_records_is_the_plan_from_the_pods() {
    use crate::fixtures;
    let file = crate::pools::PoolsFile::parse(
        "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\n\
         pools:\n- name: web\n  images: [nginx:1.25]\n",
        "p.yaml",
    )
    .unwrap();
    let ds = fixtures::daemonset(
        &crate::render::to_yaml(&[crate::render::render_pool(&file, &file.pools[0])]),
        "ds-web",
    );
    let images = |n: &str| {
        fixtures::node(n)
            .images(json!([
                {"names": ["docker.io/library/nginx:1.23"], "sizeBytes": 10},
                {"names": ["docker.io/library/nginx:1.24"], "sizeBytes": 10},
                {"names": ["docker.io/library/nginx:1.25"], "sizeBytes": 10},
                {"names": ["docker.io/library/redis:7.0"], "sizeBytes": 10},
                {"names": ["docker.io/library/redis:7.2"], "sizeBytes": 10},
                {"names": ["docker.io/library/redis:7.4"], "sizeBytes": 10}
            ]))
            .build()
    };
    let nodes = vec![images("n1"), images("n2")];
    let done = |name: &str| {
        json!({"initContainerStatuses": [fixtures::container_status(name, false,
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))]})
    };
    let init = ds.spec.template.spec.as_ref().unwrap();
    let first_init = init.init_containers.as_ref().unwrap()[0].name.clone();
    let preloaders = vec![
        fixtures::preloader_pod(
            &ds,
            "pre-1",
            "n1",
            "2026-11-28T10:00:00Z",
            done(&first_init),
        ),
        // An older pod of the same preloader on n1, and one on n2 still pulling.
        fixtures::preloader_pod(&ds, "pre-0", "n1", "2026-11-27T10:00:00Z", json!({})),
        fixtures::preloader_pod(&ds, "pre-2", "n2", "2026-11-28T10:00:00Z", json!({})),
    ];
    let mut pods = preloaders.clone();
    pods.push(fixtures::workload("shop", "cache-0", "n1", "redis:7.0"));
    pods.push(fixtures::workload("shop", "cache-1", "n2", "redis:7.2"));
    let options = PlanOptions::default();
    let from_pods = plan(
        gather(&nodes, &pods, std::slice::from_ref(&ds), &options),
        &options,
    );
    let records = crate::objects::records(&pods);
    let watched = plan(
        gather_watched(&nodes, &records, &preloaders, &[ds], &options),
        &options,
    );
    assert_eq!(watched, from_pods);
    // And the plan says something either way: in use, preloaded, and old versions out.
    let n1 = &watched.nodes[0].plan;
    let reason = |image: &str| {
        let i = n1
            .images
            .iter()
            .find(|i| i.refs.iter().any(|r| r.ends_with(image)));
        i.map(|i| (i.decision, i.reason.to_string()))
    };
    assert_eq!(
        reason("redis:7.0"),
        Some((Decision::Keep, "in use by shop/cache-0".into()))
    );
    assert_eq!(reason("nginx:1.23").map(|r| r.0), Some(Decision::Remove));
    assert_eq!(reason("nginx:1.25").map(|r| r.0), Some(Decision::Keep));
}
