//! The node runtime commands (`kpreload::runtime`) against a real containerd and registry:
//! images pulled through the CRI as a kubelet pulls them, planned, removed, re-checked; and
//! the simulator's emulated `ctr`/`crictl` compared with what the real ones print.

#[path = "../support/node.rs"]
mod node;
#[path = "../support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kpreload::core::planner::{Decision, NodePlan, Settings, plan_node};
use kpreload::runtime::local::Local;
use kpreload::runtime::{Candidate, NameResult, NodeRuntime, Outcome, Runner, Surface, Tool};
use kpreload::sim::world::runtime_cli::{ACTIVE, tabwriter};
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
    let mut tables: Vec<String> = Vec::new();
    // What kpreload shows of the pull: every reading through the tracker the TUI keeps.
    let mut tracker = kpreload::core::progress::bytes::Tracker::default();
    let mut shown: Vec<u64> = Vec::new();
    while !task.is_finished() {
        let raw = n.ctr_raw(&["-n", "k8s.io", "content", "active"]);
        tables.push(String::from_utf8_lossy(&raw.stdout).into_owned());
        let pulls = rt.active().await.expect("content active");
        let now = jiff::Timestamp::now();
        tracker.observe("node", &big.reference, None, &pulls, now);
        if let Some(live) = tracker.live("node", &big.reference, None, now) {
            shown.push(live.bytes.done);
        }
        for pull in pulls {
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
    // ctr prints offsets to four significant digits (go-units' HumanSize): a reading in the
    // last few hundred bytes reads as up to half a unit of the fourth digit above the blob.
    let size = big.layer_size as u64;
    let unit = 10u64.pow(size.ilog10().saturating_sub(3));
    assert!(
        *offsets.last().unwrap() <= size + unit / 2,
        "{offsets:?} for a layer of {size} bytes"
    );
    assert_eq!(rt.active().await.unwrap(), [], "done: nothing active");
    assert_eq!(n.names().len(), 3);
    // The figure kpreload shows only grows, and ends near the blobs' sizes: the layer (and
    // the small manifest and config, which come and go between readings), never past
    // them by more than ctr's rounding.
    assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{shown:?}");
    let most = *shown.last().unwrap();
    assert!(
        most * 10 >= size * 7,
        "the last reading came in the last second of six: {shown:?} for {size} bytes"
    );
    assert!(
        most <= size + 3 * (unit / 2) + 4096,
        "{shown:?} for {size} bytes"
    );

    // The simulator lays its `content active` out as containerd does: the same cells give
    // the same bytes, tabs and all.
    for table in tables.iter().filter(|t| t.lines().count() > 1) {
        let rows: Vec<Vec<String>> = table
            .lines()
            .map(|l| {
                l.split('\t')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        assert_eq!(&tabwriter(&rows, ACTIVE), table);
    }
    assert!(tables.iter().any(|t| t.lines().count() > 1), "{tables:?}");
}

/// Every image ID in `text` replaced by a placeholder of the same length that names the
/// image by its tag, so two stores with different IDs for the same images compare equal.
fn without_ids(text: &str, ids: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (id, tag) in ids {
        let label = format!(
            "{:0>64}",
            tag.len() + tag.bytes().map(usize::from).sum::<usize>()
        );
        out = out.replace(id.as_str(), &format!("sha256:{label}"));
    }
    out
}

/// A table's header, then its rows sorted (rows follow the names, and IDs differ).
fn rows_sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() > 1 {
        lines[1..].sort();
    }
    lines
}

fn times_cut(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| match l.split_once("\" level=") {
            Some((_, rest)) if l.starts_with("time=\"") => format!("time=\"T\" level={rest}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The image IDs a `ctr images ls` shows, each with its image's tag.
fn ids_by_tag(list: &str) -> BTreeMap<String, String> {
    kpreload::runtime::ctr::parse_images(list)
        .expect("ctr's table")
        .into_iter()
        .filter_map(|i| {
            let tag = i.refs.iter().find(|r| !r.contains('@'))?.clone();
            Some((i.id?, tag))
        })
        .collect()
}

#[test]
fn the_simulators_ctr_and_crictl_print_what_the_real_ones_print() {
    let Some(n) = Node::start() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let host = n.registry_host.clone();
    let images = [
        n.push("the-app", "1.0", 3_000_000),
        n.push("the-app", "1.10", 1_500_000),
        n.push("tools/cleaner", "2.1", 700_000),
    ];
    let cri: Vec<_> = rt.block_on(async {
        for i in &images {
            n.cri_pull(&i.reference).await;
        }
        n.cri_images().await
    });

    // The same node in the simulator: the same names and sizes in status.images, a cleanup
    // pod (privileged, hostPID) and a workload on it.
    let mut registry = String::new();
    let mut status_images = String::new();
    for i in &images {
        let c = cri
            .iter()
            .find(|c| c.repo_tags.contains(&i.reference))
            .unwrap();
        registry.push_str(&format!(
            "  - {{ image: \"{}\", size: {} }}\n",
            i.reference, c.size
        ));
        status_images.push_str(&format!(
            "    - {{ names: [\"{}\", \"{}\"], sizeBytes: {} }}\n",
            i.reference, c.repo_digests[0], c.size
        ));
    }
    let scenario = format!(
        r#"apiVersion: sim.kpreload.dev/v1
kind: Simulation
registry:
{registry}---
apiVersion: v1
kind: Node
metadata: {{ name: node-1, labels: {{ kubernetes.io/hostname: node-1 }} }}
status:
  conditions: [{{ type: Ready, status: "True" }}]
  nodeInfo: {{ kubeletVersion: v1.37.0, containerRuntimeVersion: containerd://1.6.20, osImage: Debian GNU/Linux 12 (bookworm), kernelVersion: 6.1.0, machineID: "", systemUUID: "", bootID: "", kubeProxyVersion: "", operatingSystem: linux, architecture: amd64 }}
  images:
{status_images}---
apiVersion: v1
kind: Pod
metadata: {{ name: cleaner, namespace: kube-system }}
spec:
  nodeName: node-1
  hostPID: true
  containers: [{{ name: cleanup, image: "{host}/tools/cleaner:2.1", securityContext: {{ privileged: true }} }}]
---
apiVersion: v1
kind: Pod
metadata: {{ name: app, namespace: default }}
spec:
  nodeName: node-1
  containers: [{{ name: app, image: "{host}/the-app:1.0" }}]
"#
    );
    let file = n.dir().join("scenario.yaml");
    std::fs::write(&file, scenario).unwrap();
    let cluster = support::Cluster::start(file.to_str().unwrap());
    let client = cluster
        .rt
        .block_on(support::kube_client(&cluster.kubeconfig));
    let exec = kpreload::runtime::exec::PodExec::new(client, "kube-system", "cleaner", "cleanup");
    let sim_node = NodeRuntime::new(Surface::node(Tool::Ctr), exec);
    let real_node = runtime(&n);
    let sim = |args: &[&str]| {
        let argv = sim_node.surface.command(args);
        let mut last = Err(String::new());
        // The pods start within the simulator's first seconds.
        for _ in 0..100 {
            last = cluster.rt.block_on(sim_node.runner.run(&argv));
            if last
                .as_ref()
                .is_ok_and(|o| !o.stderr.contains("container not found"))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        last.unwrap_or_else(|e| panic!("exec {args:?} in the simulator: {e}"))
    };
    let real = |args: &[&str]| {
        let argv = real_node.surface.command(args);
        rt.block_on(real_node.runner.run(&argv)).unwrap()
    };

    // ctr images ls: the same table, modulo the image IDs.
    let (s, r) = (sim(&["images", "ls"]), real(&["images", "ls"]));
    assert_eq!((s.code, r.code), (0, 0), "{s:?} {r:?}");
    let s_text = without_ids(&s.stdout, &ids_by_tag(&s.stdout));
    let r_text = without_ids(&r.stdout, &ids_by_tag(&r.stdout));
    assert_eq!(rows_sorted(&s_text), rows_sorted(&r_text));
    assert_eq!(
        sim(&["images", "ls", "-q"]).stdout.lines().count(),
        real(&["images", "ls", "-q"]).stdout.lines().count()
    );

    // ctr containers ls: recreate the simulator's containers in containerd, same IDs and
    // images, and the two tables must be the same bytes.
    let s = sim(&["containers", "ls"]);
    let listed = kpreload::runtime::ctr::parse_containers(&s.stdout).unwrap();
    assert_eq!(listed.len(), 2, "the cleanup container and the app: {s:?}");
    for c in &listed {
        n.create_container(&c.image, &c.id);
    }
    assert_eq!(s.stdout, real(&["containers", "ls"]).stdout);

    // ctr images rm of a name that is there and one that is not.
    let rm = [images[1].reference.as_str(), "127.0.0.1:1/missing:9"];
    let (s, r) = (
        sim(&[&["images", "rm"][..], &rm].concat()),
        real(&[&["images", "rm"][..], &rm].concat()),
    );
    assert_eq!(s.stdout, r.stdout);
    assert_eq!(times_cut(&s.stderr), times_cut(&r.stderr));
    assert_eq!(s.code, r.code);
    let (s, r) = (sim(&["images", "ls"]), real(&["images", "ls"]));
    let s_text = without_ids(&s.stdout, &ids_by_tag(&s.stdout));
    let r_text = without_ids(&r.stdout, &ids_by_tag(&r.stdout));
    assert_eq!(
        rows_sorted(&s_text).len(),
        rows_sorted(&r_text).len(),
        "the tag's record alone went:\n{s_text}\n{r_text}"
    );

    // ctr content active with nothing pulling.
    assert_eq!(
        sim(&["content", "active"]).stdout,
        real(&["content", "active"]).stdout
    );

    // crictl images -o json: the CRI's own answer, in crictl's JSON field names.
    let cri: Vec<_> = rt.block_on(n.cri_images());
    let argv = Surface::node(Tool::Crictl).list_images();
    let out = cluster.rt.block_on(sim_node.runner.run(&argv)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    for c in &cri {
        let Some(tag) = c.repo_tags.first() else {
            continue;
        };
        let s = json["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["repoTags"][0] == tag.as_str())
            .unwrap_or_else(|| panic!("{tag} in {json}"));
        let keys: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "id",
                "repoTags",
                "repoDigests",
                "size",
                "uid",
                "username",
                "spec",
                "pinned"
            ])
        );
        assert_eq!(s["repoTags"], serde_json::json!(c.repo_tags));
        assert_eq!(s["repoDigests"], serde_json::json!(c.repo_digests));
        assert_eq!(
            s["size"],
            serde_json::json!(c.size.to_string()),
            "uint64 as a string"
        );
        assert_eq!(s["pinned"], serde_json::json!(c.pinned));
    }
}
