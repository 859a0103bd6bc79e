//! `kpreload plan` and `kpreload cleanup` against the simulated cluster: the article's
//! cleanup example planned exactly, removed exactly (on the node's runtime and in
//! `status.images`), audited with Events, harmless twice, and safe when the cluster changes
//! between preview and removal, when a node cannot be reached, or when no one confirms.

use crate::support;

use std::collections::BTreeSet;
use std::process::Output;

use kpreload::commands::cleanup::{Ask, run};
use kpreload::commands::plan::Args;
use serde_json::Value;
use support::Cluster;

/// The cleanup cluster with the web pool's preloader rendered into it.
fn start() -> Cluster {
    let rendered = support::kpreload(&["render", "-f", "tests/fixtures/cleanup/pools.yaml"]);
    assert!(rendered.status.success(), "{rendered:?}");
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cleanup/cluster.yaml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.yaml");
    std::fs::write(
        &file,
        format!("{base}---\n{}", String::from_utf8(rendered.stdout).unwrap()),
    )
    .unwrap();
    let cluster = Cluster::start(file.to_str().unwrap());
    // The scenario is read at start; the file can go.
    drop(dir);
    wait_for_preloaders(&cluster);
    cluster
}

fn kpreload(cluster: &Cluster, args: &[&str]) -> Output {
    let mut all = vec!["--kubeconfig", cluster.kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    support::kpreload(&all)
}

fn plan_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["plan", "-o", "json"];
    all.extend_from_slice(args);
    let out = kpreload(cluster, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until every web node's cleanup container runs (the preloader has pulled).
fn wait_for_preloaders(cluster: &Cluster) {
    for _ in 0..150 {
        let plan = plan_json(cluster, &["--pool", "web"]);
        let nodes = plan["nodes"].as_array().unwrap();
        if nodes.len() == 3 && nodes.iter().all(|n| n["cleanup_possible"] == true) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the web preloaders did not start");
}

fn node_json<'a>(plan: &'a Value, node: &str) -> &'a Value {
    plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == node)
        .unwrap_or_else(|| panic!("{node} in {plan}"))
}

fn removed(plan: &Value, node: &str) -> BTreeSet<String> {
    node_json(plan, node)["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["decision"] == "remove")
        .map(tag_ref)
        .collect()
}

/// An image's `repo:tag` name in a plan.
fn tag_ref(image: &Value) -> String {
    image["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .find(|r| !r.contains('@') && !r.starts_with("sha256:"))
        .unwrap()
        .to_string()
}

fn lib(names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| format!("docker.io/library/{n}"))
        .collect()
}

/// The node's `status.images` names, as the kubelet reports them.
fn status_images(cluster: &Cluster, node: &str) -> BTreeSet<String> {
    let (code, body) = support::http(
        "GET",
        &format!("{}/api/v1/nodes/{node}", cluster.url()),
        "",
        "",
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["status"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["names"].as_array().unwrap().iter())
        .map(|n| n.as_str().unwrap().to_string())
        .filter(|n| !n.contains('@'))
        .collect()
}

/// What the node's runtime lists (`ctr images ls -q` through exec into its preloader).
fn runtime_names(cluster: &Cluster, node: &str) -> BTreeSet<String> {
    let plan = plan_json(cluster, &["--node", node]);
    let blocked = &node_json(&plan, node)["cleanup_blocked"];
    assert!(blocked.is_null(), "{blocked}");
    let (code, body) = support::http(
        "GET",
        &format!(
            "{}/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3D{node}",
            cluster.url()
        ),
        "",
        "",
    );
    assert_eq!(code, 200);
    let pods: Value = serde_json::from_str(&body).unwrap();
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.rt.block_on(async {
        use kpreload::runtime::{NodeRuntime, Surface, Tool};
        let client = support::kube_client(&cluster.kubeconfig).await;
        let exec = kpreload::runtime::exec::PodExec::new(client, "kube-system", &pod, "cleanup");
        let rt = NodeRuntime::new(Surface::node(Tool::Ctr), exec);
        rt.images()
            .await
            .unwrap()
            .into_iter()
            .flat_map(|i| i.refs)
            .filter(|r| !r.contains('@'))
            .collect()
    })
}

fn events(cluster: &Cluster) -> Vec<Value> {
    let (code, body) = support::http(
        "GET",
        &format!("{}/api/v1/namespaces/kube-system/events", cluster.url()),
        "",
        "",
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "ImagesRemoved")
        .cloned()
        .collect()
}

#[test]
fn plan_gives_the_articles_removals_and_says_why_system_images_stay() {
    let cluster = start();
    let plan = plan_json(&cluster, &["--node", "web-1"]);
    assert_eq!(plan["keep"], 2);
    assert_eq!(
        removed(&plan, "web-1"),
        lib(&[
            "nginx:1.23",
            "nginx:1.24",
            "python:3.12",
            "the-app:v1.0",
            "the-app:v1.1"
        ])
    );
    let reason = |r: &str| {
        node_json(&plan, "web-1")["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| tag_ref(i) == r)
            .map(|i| {
                format!(
                    "{}: {}",
                    i["decision"].as_str().unwrap(),
                    i["reason"].as_str().unwrap()
                )
            })
            .unwrap()
    };
    assert_eq!(
        reason("registry.k8s.io/pause:3.9"),
        "keep: protected by pattern registry.k8s.io/*"
    );
    assert_eq!(
        reason("registry.k8s.io/kube-proxy:v1.37.0"),
        "keep: protected by pattern registry.k8s.io/*"
    );
    assert_eq!(
        reason("docker.io/library/nginx:1.26"),
        "keep: preloaded by pool web"
    );
    assert_eq!(reason("docker.io/library/nginx:1.25"), "keep: newest 2");
    assert_eq!(
        reason("docker.io/library/python:3.12"),
        "remove: older than the newest 2"
    );
    let bytes = 57_011_234 + 58_110_000 + 372_150_000 + 212_000_000 + 214_880_000u64;
    assert_eq!(node_json(&plan, "web-1")["remove_bytes"], bytes);
    assert_eq!(plan["totals"]["remove_images"], 5);
    assert_eq!(plan["totals"]["remove_bytes"], bytes);

    // An image in use stays, with who uses it; a node in no pool is planned and marked.
    let all = plan_json(&cluster, &[]);
    assert!(!removed(&all, "web-2").contains("docker.io/library/the-app:v1.0"));
    let lonely = node_json(&all, "lonely-1");
    assert!(lonely["pool"].is_null());
    assert_eq!(lonely["cleanup_possible"], false);
    assert!(
        lonely["cleanup_blocked"]
            .as_str()
            .unwrap()
            .contains("no preloader runs on this node"),
        "{lonely}"
    );
    assert_eq!(
        removed(&all, "lonely-1"),
        lib(&["nginx:1.23", "nginx:1.24"])
    );

    // The table says the same, grouped by pool, with totals.
    let table = String::from_utf8(kpreload(&cluster, &["plan"]).stdout).unwrap();
    assert!(table.contains("POOL web: remove 11 images"), "{table}");
    assert!(table.contains("NO POOL: remove 2 images"), "{table}");
    assert!(
        table.contains("keep    the-app:v1.0") && table.contains("in use by shop/legacy-0"),
        "{table}"
    );
    assert!(table.contains("TOTAL: remove 13 images"), "{table}");

    // plan changes nothing.
    assert!(status_images(&cluster, "web-1").contains("docker.io/library/nginx:1.23"));
}

#[test]
fn cleanup_removes_exactly_the_plan_records_events_and_twice_removes_nothing() {
    let cluster = start();
    let plan = plan_json(&cluster, &["--pool", "web"]);
    let before: Vec<BTreeSet<String>> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|n| status_images(&cluster, n))
        .collect();

    let out = kpreload(&cluster, &["cleanup", "--pool", "web", "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Removed 11 images"), "{text}");
    assert!(text.contains("web-2: removed 4"), "{text}");

    for (i, node) in ["web-1", "web-2", "web-3"].iter().enumerate() {
        let gone = removed(&plan, node);
        let want: BTreeSet<String> = before[i].difference(&gone).cloned().collect();
        assert_eq!(
            status_images(&cluster, node),
            want,
            "{node}'s status.images"
        );
        assert_eq!(runtime_names(&cluster, node), want, "{node}'s runtime");
    }
    let recorded = events(&cluster);
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    let web1 = recorded
        .iter()
        .find(|e| e["involvedObject"]["name"] == "web-1")
        .unwrap();
    assert_eq!(web1["involvedObject"]["kind"], "Node");
    let message = web1["message"].as_str().unwrap();
    assert!(
        message.starts_with("Removed 5 images (") && message.contains("nginx:1.23"),
        "{message}"
    );

    let again = kpreload(&cluster, &["cleanup", "--pool", "web", "--yes"]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to remove."),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(events(&cluster).len(), 3, "no new Events");
}

#[test]
fn without_a_terminal_or_yes_it_refuses_and_removes_nothing() {
    let cluster = start();
    let before = status_images(&cluster, "web-1");
    let out = kpreload(&cluster, &["cleanup", "--pool", "web"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Refusing to remove images"), "{err}");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    assert_eq!(status_images(&cluster, "web-1"), before);

    let read_only = kpreload(&cluster, &["--read-only", "cleanup", "--yes"]);
    assert_eq!(read_only.status.code(), Some(1));
    assert_eq!(status_images(&cluster, "web-1"), before);
}

#[test]
fn a_node_that_cannot_be_reached_fails_alone() {
    let cluster = start();
    cluster.faults(r#"{"execUnreachable": ["web-2"]}"#);
    let before = status_images(&cluster, "web-2");
    let out = kpreload(&cluster, &["cleanup", "--pool", "web", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("web-2: failed:"), "{text}");
    assert!(text.contains("error dialing backend"), "{text}");
    assert!(err.contains("failed on 1 of 3 nodes (web-2)"), "{err}");
    assert_eq!(status_images(&cluster, "web-2"), before);
    assert!(!status_images(&cluster, "web-1").contains("docker.io/library/nginx:1.23"));
    assert!(!status_images(&cluster, "web-3").contains("docker.io/library/nginx:1.23"));
}

/// What to do to the cluster before answering a question.
type Before<'a> = Box<dyn Fn(&Cluster) + 'a>;

/// Answers the confirmations, doing something to the cluster first.
struct Scripted<'a> {
    cluster: &'a Cluster,
    answers: Vec<(&'static str, Before<'a>)>,
    asked: Vec<String>,
}

impl Ask for Scripted<'_> {
    fn interactive(&self) -> bool {
        true
    }

    fn ask(&mut self, question: &str) -> Option<String> {
        self.asked.push(question.to_string());
        if self.answers.is_empty() {
            return None;
        }
        let (answer, before) = self.answers.remove(0);
        before(self.cluster);
        Some(answer.to_string())
    }
}

fn run_cleanup(cluster: &Cluster, ask: &mut Scripted, pool: &str) -> (String, Result<(), String>) {
    let target = kpreload::cluster::Target {
        kubeconfig: Some(cluster.kubeconfig.clone()),
        ..Default::default()
    };
    let args = Args {
        pool: Some(pool.into()),
        concurrency: 10,
        ..Default::default()
    };
    let mut out = Vec::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt
        .block_on(run(&target, &args, false, ask, &mut out))
        .map_err(|e| e.to_string());
    (String::from_utf8(out).unwrap(), result)
}

#[test]
fn a_pod_that_starts_using_a_candidate_after_the_preview_keeps_it() {
    let cluster = start();
    let mut ask = Scripted {
        cluster: &cluster,
        answers: vec![(
            "yes",
            Box::new(|c: &Cluster| {
                let pod = r#"{"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "late", "namespace": "default"},
                    "spec": {"nodeName": "web-3", "containers": [{"name": "c", "image": "nginx:1.23"}]}}"#;
                let (code, body) = support::http(
                    "POST",
                    &format!("{}/api/v1/namespaces/default/pods", c.url()),
                    "application/json",
                    pod,
                );
                assert_eq!(code, 201, "{body}");
            }),
        )],
        asked: Vec::new(),
    };
    let (out, result) = run_cleanup(&cluster, &mut ask, "web");
    assert!(result.is_ok(), "{result:?}\n{out}");
    assert!(ask.asked[0].contains("Remove 11 images"), "{:?}", ask.asked);
    let web3 = status_images(&cluster, "web-3");
    assert!(
        web3.contains("docker.io/library/nginx:1.23"),
        "in use now, kept: {web3:?}"
    );
    assert!(!web3.contains("docker.io/library/nginx:1.24"), "{web3:?}");
    assert!(out.contains("Removed 10 images"), "{out}");
}

#[test]
fn a_removal_that_was_not_in_the_preview_needs_its_own_yes() {
    let cluster = start();
    let mut ask = Scripted {
        cluster: &cluster,
        answers: vec![
            (
                "yes",
                // The workload on web-2 goes away: the-app:v1.0 becomes removable there.
                Box::new(|c: &Cluster| {
                    let (code, body) = support::http(
                        "DELETE",
                        &format!("{}/api/v1/namespaces/shop/pods/legacy-0", c.url()),
                        "",
                        "",
                    );
                    assert_eq!(code, 200, "{body}");
                }),
            ),
            ("no", Box::new(|_: &Cluster| {})),
        ],
        asked: Vec::new(),
    };
    let (out, result) = run_cleanup(&cluster, &mut ask, "web");
    assert!(result.is_ok(), "{result:?}\n{out}");
    assert!(
        out.contains("Since the preview, 1 more image became removable:\n  web-2: the-app:v1.0"),
        "{out}"
    );
    assert!(out.contains("They are left for the next run."), "{out}");
    assert_eq!(ask.asked.len(), 2);
    assert!(status_images(&cluster, "web-2").contains("docker.io/library/the-app:v1.0"));
    assert!(!status_images(&cluster, "web-2").contains("docker.io/library/the-app:v1.1"));
}

#[test]
fn a_preloader_that_cannot_be_read_stops_every_cleanup() {
    let cluster = start();
    // A rendered-looking preloader whose keep annotation is not a number: what it
    // preloads, and with which settings, cannot be trusted.
    let ds = r#"{"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "image-preloader-api", "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "kpreload", "kpreload.dev/pool": "api"},
            "annotations": {"kpreload.dev/keep": "lots"}},
        "spec": {"selector": {"matchLabels": {"app": "api-preloader"}},
            "template": {"metadata": {"labels": {"app": "api-preloader"}},
                "spec": {"nodeSelector": {"workload-type": "api"},
                    "initContainers": [{"name": "preload-redis", "image": "redis:7"}],
                    "containers": [{"name": "cleanup", "image": "busybox:1.37.0-musl"}]}}}}"#;
    let (code, body) = support::http(
        "POST",
        &format!(
            "{}/apis/apps/v1/namespaces/kube-system/daemonsets",
            cluster.url()
        ),
        "application/json",
        ds,
    );
    assert_eq!(code, 201, "{body}");

    let plan = plan_json(&cluster, &["--pool", "web"]);
    let problems = plan["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{plan}");
    assert!(problems[0].as_str().unwrap().contains("kpreload.dev/keep"));
    let table = String::from_utf8(kpreload(&cluster, &["plan", "--pool", "web"]).stdout).unwrap();
    assert!(
        table.contains("WARNING: the preloader image-preloader-api"),
        "{table}"
    );

    let before = status_images(&cluster, "web-1");
    let out = kpreload(&cluster, &["cleanup", "--pool", "web", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cleanup cannot run while the images a pool preloads are not all known")
            && err.contains("the preloader image-preloader-api"),
        "{err}"
    );
    assert_eq!(status_images(&cluster, "web-1"), before);
}

/// `--pool` and `--node` read only their part of the cluster (a pool's nodes by its
/// selector and the pods on them node by node) and plan it as the whole cluster's plan
/// does; a pool or a node that is not there is said before anything is listed.
#[test]
fn a_pool_or_a_node_is_planned_as_the_whole_cluster_plans_it() {
    let cluster = start();
    let all = plan_json(&cluster, &[]);
    let web = plan_json(&cluster, &["--pool", "web"]);
    let from_all: Vec<&Value> = all["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["pool"] == "web")
        .collect();
    assert_eq!(from_all.len(), 3, "{all}");
    assert_eq!(
        web["nodes"].as_array().unwrap().iter().collect::<Vec<_>>(),
        from_all
    );
    assert_eq!(web["totals"]["nodes"], 3);
    assert!(
        all["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node"] == "lonely-1")
    );
    // The pod on web-2 was found through its node: its image is kept, and says by whom.
    let one = plan_json(&cluster, &["--node", "web-2"]);
    assert_eq!(one["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(&one["nodes"][0], node_json(&all, "web-2"));
    let app = node_json(&web, "web-2")["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| tag_ref(i) == "docker.io/library/the-app:v1.0")
        .unwrap();
    assert_eq!(app["reason"], "in use by shop/legacy-0");

    let out = kpreload(&cluster, &["plan", "--pool", "nope"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "kpreload: There is no pool nope in namespace kube-system; the pools there are: web."
    );
    let out = kpreload(&cluster, &["plan", "--node", "nope-1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("There is no node nope-1 in the cluster; `kubectl get nodes` lists them."),
        "{out:?}"
    );
}

/// The whole cluster's plan is read page by page into the planner's facts (500 objects a
/// page, nodes and pods at once); a pool's plan is fetched and gathered whole. Over 1,200
/// pods, three pages, they must agree node for node, and every page's pods must count.
#[test]
fn a_cluster_read_page_by_page_is_planned_as_its_pools_are() {
    let scenario = r#"apiVersion: sim.kpreload.dev/v1
kind: Simulation
registry:
  - { image: "nginx:1.24", size: 1000 }
  - { image: "nginx:1.25", size: 2000 }
  - { image: "nginx:1.26", size: 3000 }
  - { image: "redis:7.2", size: 4000 }
  - { image: "redis:7.4", size: 5000 }
  - { image: "busybox:1.37.0-musl", size: 100 }
generate:
  - { pool: web, count: 30, podsPerNode: 20, labels: { workload-type: web },
      images: ["nginx:1.24", "nginx:1.25", "nginx:1.26", "busybox:1.37.0-musl"] }
  - { pool: api, count: 30, podsPerNode: 20, labels: { workload-type: api },
      images: ["redis:7.2", "redis:7.4", "nginx:1.24"] }
"#;
    let rendered = support::kpreload(&["render", "-f", "tests/fixtures/cleanup/pools.yaml"]);
    assert!(rendered.status.success(), "{rendered:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.yaml");
    std::fs::write(
        &file,
        format!(
            "{scenario}---\n{}",
            String::from_utf8(rendered.stdout).unwrap()
        ),
    )
    .unwrap();
    let cluster = Cluster::start(file.to_str().unwrap());
    let mut web = Value::Null;
    for _ in 0..300 {
        web = plan_json(&cluster, &["--pool", "web"]);
        let nodes = web["nodes"].as_array().unwrap();
        if nodes.len() == 30 && nodes.iter().all(|n| n["cleanup_possible"] == true) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let all = plan_json(&cluster, &[]);
    let nodes = all["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 60, "{all}");
    let from_all: Vec<&Value> = nodes.iter().filter(|n| n["pool"] == "web").collect();
    assert_eq!(
        web["nodes"].as_array().unwrap().iter().collect::<Vec<_>>(),
        from_all
    );
    assert!(from_all.iter().all(|n| n["cleanup_possible"] == true));
    // Every node's 20 workload pods run its images in turn: each image is kept, in use —
    // the pods of the last page as much as those of the first.
    for n in nodes {
        for i in n["images"].as_array().unwrap() {
            let reason = i["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("in use by ") || reason.starts_with("preloaded"),
                "{}: {i}",
                n["node"]
            );
        }
    }
    // The api nodes run no preloader: none of their images is preloaded, and they cannot
    // be cleaned.
    let api: Vec<&Value> = nodes.iter().filter(|n| n["pool"].is_null()).collect();
    assert_eq!(api.len(), 30, "{all}");
    assert!(api.iter().all(|n| n["cleanup_possible"] == false));
}
