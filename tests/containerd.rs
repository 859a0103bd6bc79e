//! The node runtime commands (`kpreload::runtime`) against a real containerd and registry:
//! images pulled through the CRI as a kubelet pulls them, planned, removed, re-checked; and
//! the simulator's emulated `ctr`/`crictl` compared with what the real ones print.

#[path = "support/node.rs"]
mod node;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kpreload::core::planner::{Decision, NodePlan, Settings, plan_node};
use kpreload::runtime::local::Local;
use kpreload::runtime::{Candidate, NameResult, NodeRuntime, Outcome, Surface, Tool};
use node::{Node, Pushed};

/// The product's surface for this containerd: the node's `ctr -n k8s.io`, reached at the
/// test's socket instead of through nsenter.
fn runtime(n: &Node) -> NodeRuntime<Local> {
    let mut surface = Surface::node(Tool::Ctr);
    surface.host.clear();
    surface.ctr = n.ctr_argv();
    surface.ctr.extend(["-n".to_string(), "k8s.io".to_string()]);
    NodeRuntime::new(surface, Local)
}

async fn plan(rt: &NodeRuntime<Local>) -> NodePlan {
    let inventory = rt.inventory().await.expect("the inventory");
    plan_node(&inventory.node_input("node-1"), &Settings::default())
}

/// The tags the plan removes, `repo:tag` with the registry host cut off.
fn removed_tags(plan: &NodePlan, host: &str) -> BTreeSet<String> {
    plan.removals()
        .flat_map(|i| i.refs.iter())
        .filter(|r| !r.contains('@') && !r.starts_with("sha256:"))
        .map(|r| r.trim_start_matches(&format!("{host}/")).to_string())
        .collect()
}

/// Every name CRI pulls give an image: tag, digest and ID.
fn names_of(p: &Pushed) -> Vec<String> {
    let repo = p.reference.rsplit_once(':').unwrap().0;
    vec![
        p.reference.clone(),
        format!("{repo}@{}", p.index),
        p.id.clone(),
    ]
}

async fn pull_versions(n: &Node, repo: &str, tags: &[&str]) -> BTreeMap<String, Pushed> {
    let mut out = BTreeMap::new();
    for (i, tag) in tags.iter().enumerate() {
        let p = n.push(repo, tag, 200_000 + i * 10_000);
        n.cri_pull(&p.reference).await;
        out.insert(tag.to_string(), p);
    }
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn keep_last_two_removes_every_name_of_the_old_versions_and_twice_is_harmless() {
    let Some(n) = Node::start() else { return };
    let host = n.registry_host.clone();
    let v = pull_versions(&n, "the-app", &["1.0", "1.1", "1.2", "1.10"]).await;
    assert_eq!(
        n.names().len(),
        12,
        "three names per image: {:?}",
        n.names()
    );

    let rt = runtime(&n);
    let plan = plan(&rt).await;
    assert_eq!(
        removed_tags(&plan, &host),
        BTreeSet::from(["the-app:1.0".to_string(), "the-app:1.1".to_string()]),
        "1.10 is newer than 1.2, not older: {plan:#?}"
    );
    let candidates: Vec<Candidate> = plan.removals().map(Candidate::from).collect();
    let removals = rt.remove(&candidates).await.expect("removal runs");
    for r in &removals {
        assert_eq!(r.outcome, Outcome::Removed, "{r:#?}");
        assert_eq!(r.names.len(), 3, "tag, digest and ID: {r:#?}");
        assert!(r.names.iter().all(|(_, res)| *res == NameResult::Removed));
    }
    let mut left: Vec<String> = names_of(&v["1.2"]);
    left.extend(names_of(&v["1.10"]));
    assert_eq!(n.names(), sorted(left), "exactly 1.10 and 1.2 remain");

    // Again: nothing to do, nothing sent, nothing changed.
    let again = rt.remove(&candidates).await.expect("removal runs");
    assert!(
        again
            .iter()
            .all(|r| r.outcome == Outcome::AlreadyGone && r.freed() == 0),
        "{again:#?}"
    );
    assert_eq!(n.names().len(), 6);
}

#[tokio::test]
async fn a_registry_port_is_not_a_repository() {
    let Some(n) = Node::start() else { return };
    let host = n.registry_host.clone();
    pull_versions(&n, "a", &["1.0", "1.1", "1.2"]).await;
    pull_versions(&n, "b", &["1.0", "1.1"]).await;
    let plan = plan(&runtime(&n)).await;
    // Taken as one repository `127.0.0.1`, five versions would lose three.
    assert_eq!(
        removed_tags(&plan, &host),
        BTreeSet::from(["a:1.0".to_string()]),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn an_image_in_use_by_a_created_container_and_a_pinned_one_are_kept() {
    let Some(n) = Node::start() else { return };
    let host = n.registry_host.clone();
    let v = pull_versions(&n, "the-app", &["1.0", "1.1", "1.2", "1.3", "1.4"]).await;
    n.create_container(&v["1.0"].reference, "never-started");
    n.pin(&v["1.1"].reference);

    let rt = runtime(&n);
    let plan = plan(&rt).await;
    assert_eq!(
        removed_tags(&plan, &host),
        BTreeSet::from(["the-app:1.2".to_string()])
    );
    let reason = |tag: &str| {
        plan.images
            .iter()
            .find(|i| {
                i.refs
                    .iter()
                    .any(|r| r.ends_with(&format!("/the-app:{tag}")))
            })
            .map(|i| (i.decision, i.reason.to_string()))
            .unwrap()
    };
    assert_eq!(
        reason("1.0"),
        (Decision::Keep, "in use by container never-started".into())
    );
    assert_eq!(reason("1.1"), (Decision::Keep, "pinned".into()));

    // Asked to remove them anyway (a stale plan), the module refuses on its own re-check.
    let all: Vec<Candidate> = ["1.0", "1.1", "1.2"]
        .iter()
        .map(|t| Candidate {
            id: Some(v[*t].id.clone()),
            refs: names_of(&v[*t]),
            size: 0,
        })
        .collect();
    let removals = rt.remove(&all).await.expect("removal runs");
    assert_eq!(
        removals[0].outcome,
        Outcome::Skipped("in use by container never-started".into())
    );
    assert_eq!(removals[1].outcome, Outcome::Skipped("pinned".into()));
    assert_eq!(removals[2].outcome, Outcome::Removed);
    let names = n.names();
    for t in ["1.0", "1.1", "1.3", "1.4"] {
        for name in names_of(&v[t]) {
            assert!(names.contains(&name), "{name} kept: {names:?}");
        }
    }
    assert_eq!(names.len(), 12);
}

#[tokio::test]
async fn a_candidate_that_comes_into_use_after_the_plan_is_not_removed() {
    let Some(n) = Node::start() else { return };
    let v = pull_versions(&n, "the-app", &["1.0", "1.1", "1.2", "1.3"]).await;
    let rt = runtime(&n);
    let plan = plan(&rt).await;
    let candidates: Vec<Candidate> = plan.removals().map(Candidate::from).collect();
    assert_eq!(candidates.len(), 2);

    // A container starts from 1.0 by its digest name, between the plan and the removal.
    let by_digest = names_of(&v["1.0"])[1].clone();
    n.create_container(&by_digest, "late");
    let removals = rt.remove(&candidates).await.expect("removal runs");
    let of = |tag: &str| {
        removals
            .iter()
            .find(|r| r.candidate.refs.contains(&v[tag].reference))
            .unwrap()
    };
    assert_eq!(
        of("1.0").outcome,
        Outcome::Skipped("in use by container late".into())
    );
    assert!(of("1.0").names.is_empty(), "nothing sent for it");
    assert_eq!(of("1.1").outcome, Outcome::Removed);
    let names = n.names();
    for name in names_of(&v["1.0"]) {
        assert!(names.contains(&name), "{name} kept: {names:?}");
    }
    for name in names_of(&v["1.1"]) {
        assert!(!names.contains(&name), "{name} removed: {names:?}");
    }
}

#[tokio::test]
async fn a_name_removed_behind_the_plans_back_is_reported_already_gone() {
    let Some(n) = Node::start() else { return };
    let v = pull_versions(&n, "the-app", &["1.0", "1.1", "1.2"]).await;
    let rt = runtime(&n);
    let plan = plan(&rt).await;
    let candidates: Vec<Candidate> = plan.removals().map(Candidate::from).collect();
    // Someone removes the tag by hand (the trap: the other two names stay).
    n.ctr(&["images", "rm", &v["1.0"].reference]);
    assert_eq!(n.names().len(), 8);
    let removals = rt.remove(&candidates).await.expect("removal runs");
    assert_eq!(removals[0].outcome, Outcome::Removed, "{removals:#?}");
    assert_eq!(removals[0].names.len(), 2, "the two names left");
    assert_eq!(n.names().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_active_reports_growing_offsets_during_a_slow_pull() {
    let Some(mut n) = Node::start() else { return };
    // 6 MiB through a proxy that sends 1 MiB/s: about six seconds of pulling.
    let proxy = n.throttled_proxy(1 << 20);
    let big = n.push_to(&proxy, "big", "1.0", 6 << 20);
    let rt = runtime(&n);
    assert_eq!(rt.active().await.unwrap(), [], "nothing pulls yet");

    let pulling = {
        let socket_node = std::sync::Arc::new(n);
        let for_pull = socket_node.clone();
        let reference = big.reference.clone();
        let task = tokio::spawn(async move { for_pull.cri_pull(&reference).await });
        (socket_node, task)
    };
    let (n, task) = pulling;
    let layer_ref = format!("layer-{}", big.layer);
    let mut offsets: Vec<u64> = Vec::new();
    while !task.is_finished() {
        for pull in rt.active().await.expect("content active") {
            if pull.reference == layer_ref && offsets.last() != Some(&pull.offset) {
                offsets.push(pull.offset);
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    task.await.expect("the pull finished");
    assert!(
        offsets.len() >= 3,
        "several readings while the layer came in: {offsets:?}"
    );
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets only grow: {offsets:?}"
    );
    assert!(
        *offsets.last().unwrap() <= big.layer_size as u64,
        "{offsets:?}"
    );
    assert_eq!(rt.active().await.unwrap(), [], "done: nothing active");
    assert_eq!(n.names().len(), 3);
}
