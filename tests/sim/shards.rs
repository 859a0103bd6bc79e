//! A pool split over several preloader DaemonSets (`render --shards K`, `shards:` in the
//! pools file): images balanced by the sizes the cluster reports, each in exactly one shard;
//! the shards fold back into one pool; with `serializeImagePulls: false` the split pool is
//! complete sooner than with one DaemonSet; `apply` removes the DaemonSets a pool no longer has.

use crate::support;

use std::time::Instant;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use support::Cluster;

const SCENARIO: &str = "tests/fixtures/scenarios/parallel.yaml";
/// Simulated seconds per real second for the timing comparison: slow enough that the time
/// spent asking for the status is small beside the pulls.
const SPEED: f64 = 4.0;

fn pools_file(cluster: &Cluster, shards: usize) -> String {
    let path = cluster.dir.path().join(format!("pools-{shards}.yaml"));
    std::fs::write(
        &path,
        format!(
            "pools:\n  - name: batch\n    nodeSelector:\n      matchLabels: {{ workload-type: batch }}\n    \
             images: [team/a:1, team/b:1, team/c:1, team/d:1]\n    shards: {shards}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn run(cluster: &Cluster, args: &[&str]) -> (bool, String, String) {
    let kc = cluster.kubeconfig.display().to_string();
    let mut all = vec!["--kubeconfig", kc.as_str()];
    all.extend_from_slice(args);
    let o = support::kpreload(&all);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn status(cluster: &Cluster) -> Value {
    let (ok, out, err) = run(cluster, &["status", "-o", "json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Applies the pool with `shards` DaemonSets and returns the simulated seconds until both
/// nodes hold every image, and the pool's status then.
fn preload(cluster: &Cluster, shards: usize) -> (f64, Value) {
    let file = pools_file(cluster, shards);
    let (ok, out, err) = run(cluster, &["apply", "-f", &file]);
    let start = Instant::now();
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), shards, "{out}");
    let done = support::eventually(
        60,
        || status(cluster),
        |s| s["pools"][0]["nodes_ready"] == 2 && s["pools"][0]["nodes_total"] == 2,
    );
    let seconds = start.elapsed().as_secs_f64() * SPEED;
    assert_eq!(done["pools"][0]["nodes_ready"], 2, "{done:#}");
    (seconds, done["pools"][0].clone())
}

/// How long `image` took to pull on each node, as the kubelet's events say (waiting for
/// the events when the pods finished first).
fn pull_seconds(cluster: &Cluster, image: &str) -> Vec<f64> {
    let seconds = |s: &Value| -> Vec<Option<f64>> {
        s["pools"][0]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|n| n["images"].as_array().into_iter().flatten())
            .filter(|i| i["image"] == image)
            .map(|i| i["seconds"].as_f64())
            .collect()
    };
    let s = support::eventually(
        10,
        || status(cluster),
        |s| {
            let all = seconds(s);
            all.len() == 2 && all.iter().all(Option::is_some)
        },
    );
    let all: Vec<f64> = seconds(&s).into_iter().flatten().collect();
    assert_eq!(all.len(), 2, "{s:#}");
    all
}

fn daemonset_names(cluster: &Cluster) -> Vec<String> {
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let mut names: Vec<String> = Api::<DaemonSet>::namespaced(client, "kube-system")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        names.sort();
        names
    })
}

fn init_images(yaml_doc: &str) -> Vec<String> {
    let ds: DaemonSet = serde_yaml::from_str(yaml_doc).unwrap();
    // The pulls: not the cleanup sidecar, nor the no-op installer.
    ds.spec
        .template
        .spec
        .unwrap()
        .init_containers
        .unwrap()
        .iter()
        .filter(|c| c.restart_policy.as_deref() != Some("Always") && c.name != "kpreload-noop")
        .map(|c| c.image.clone().unwrap())
        .collect()
}

#[test]
fn render_balances_the_shards_by_the_sizes_the_cluster_reports() {
    let cluster = Cluster::start(SCENARIO);
    let file = pools_file(&cluster, 1);
    let (ok, out, err) = run(&cluster, &["render", "-f", &file, "--shards", "2"]);
    assert!(ok, "{err}");
    assert!(err.is_empty(), "sizes were known: {err}");
    let docs: Vec<&str> = out.split("---\n").collect();
    assert_eq!(docs.len(), 2);
    // 400, 300, 200, 100 MiB largest first onto the lighter shard: a | b, c → b's (500),
    // d → a's (500). Each shard keeps the pool's order.
    assert_eq!(init_images(docs[0]), ["team/a:1", "team/d:1"]);
    assert_eq!(init_images(docs[1]), ["team/b:1", "team/c:1"]);

    // No cluster: by count, and stderr says why; stdout is still the YAML alone.
    let o = support::kpreload(&[
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "render",
        "-f",
        &file,
        "--shards",
        "2",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("spread over the shards by count"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let docs: Vec<&str> = out.split("---\n").collect();
    assert_eq!(init_images(docs[0]), ["team/a:1", "team/c:1"]);
    assert_eq!(init_images(docs[1]), ["team/b:1", "team/d:1"]);

    let (ok, _, err) = run(&cluster, &["render", "-f", &file, "--shards", "99"]);
    assert!(!ok);
    assert!(err.contains("1 to 16"), "{err}");
}

#[test]
fn with_parallel_pulls_a_split_pool_completes_sooner_and_reads_as_one_pool() {
    let one = Cluster::start_at(SCENARIO, Some(SPEED));
    let (single, _) = preload(&one, 1);
    let alone = pull_seconds(&one, "team/a:1");
    drop(one);

    let two = Cluster::start_at(SCENARIO, Some(SPEED));
    let (split, pool) = preload(&two, 2);
    let shared = pull_seconds(&two, "team/a:1");
    // The kubelet's own figures (simulated seconds, not wall time): team/a, 400 MiB at
    // 20 MiB/s ±15 %, takes at most 23 s alone; beside the other shard's pulls on a 30 MiB/s
    // link it gets 15 MiB/s while they overlap (about 26.7 s when they start together).
    for s in &alone {
        assert!(*s <= 23.1, "alone: {alone:?}");
    }
    eprintln!("team/a alone: {alone:?} s; beside the other shard: {shared:?} s");
    // Whenever the pods start, a node's pulls at once never get more than its 30 MiB/s
    // link: its 1000 MiB take at least 33.3 simulated s (less the moment between the first
    // shard's creation and the start of the clock). Two pulls of 20 MiB/s each with no cap
    // would take 25 s (29 s at the slowest jitter).
    assert!(
        split > 31.0,
        "the link caps what a node's pulls at once get: {split:.1} simulated s"
    );
    // One pod pulls 1000 MiB in turn at 20 MiB/s: ~50 s. Two pods pull 500 MiB each at
    // once, sharing the node's 30 MiB/s link: ~33 s. Pull times vary ±15 % per image alone
    // (not while the link is shared); the margin leaves room for that and a busy machine.
    assert!(
        split < single * 0.8,
        "split over 2: {split:.1} simulated s; one DaemonSet: {single:.1} s"
    );
    assert!(single > 40.0, "one DaemonSet took {single:.1} simulated s");
    eprintln!(
        "simulated seconds to preload both nodes: one DaemonSet {single:.1}, two shards {split:.1}"
    );

    // Read back as one pool: both DaemonSets named, every image once per node, all pulled.
    assert_eq!(pool["pool"], "batch");
    assert_eq!(
        pool["shards"],
        serde_json::json!([
            "image-preloader-batch-1-of-2",
            "image-preloader-batch-2-of-2"
        ])
    );
    assert_eq!(pool["images_total"], 8);
    assert_eq!(pool["images_done"], 8);
    for node in pool["nodes"].as_array().unwrap() {
        let mut images: Vec<&str> = node["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["image"].as_str().unwrap())
            .collect();
        images.sort();
        assert_eq!(images, ["team/a:1", "team/b:1", "team/c:1", "team/d:1"]);
    }

    // Applying the same file again changes nothing: the live split is kept.
    let file = pools_file(&two, 2);
    let (ok, out, err) = run(&two, &["apply", "-f", &file]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-batch-1-of-2 unchanged\n\
         daemonset.apps/image-preloader-batch-2-of-2 unchanged\n"
    );

    // A shard deleted by hand: still one pool, not complete, the gap told by status and
    // check; cleanup refuses (the missing shard's images are not known to be preloaded).
    two.rt.block_on(async {
        let client = support::kube_client(&two.kubeconfig).await;
        Api::<DaemonSet>::namespaced(client, "kube-system")
            .delete("image-preloader-batch-2-of-2", &Default::default())
            .await
            .unwrap();
    });
    let gap = support::eventually(
        10,
        || status(&two),
        |s| s["pools"][0]["warning"].is_string(),
    );
    let pool = &gap["pools"][0];
    assert_eq!(pool["pool"], "batch");
    assert_eq!(pool["complete"], false, "{pool:#}");
    // A split with one shard left still names its DaemonSets.
    assert_eq!(
        pool["shards"],
        serde_json::json!(["image-preloader-batch-1-of-2"]),
        "{pool:#}"
    );
    let warning = pool["warning"].as_str().unwrap();
    assert!(
        warning.contains("missing 1 of its 2 DaemonSets (image-preloader-batch-2-of-2)"),
        "{warning}"
    );
    let (ok, out, _) = run(&two, &["check", "-o", "json"]);
    assert!(!ok, "a missing shard is a warning: check exits 1");
    let check: Value = serde_json::from_str(&out).unwrap();
    let codes: Vec<&str> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"split-incomplete"), "{check:#}");
    // `status --wait` does not wait out its timeout in silence: it says what it waits on,
    // and its last word names the gap, not "0 image pulls not done".
    let (ok, _, err) = run(&two, &["status", "--wait", "--timeout", "3s"]);
    assert!(!ok);
    assert!(
        err.contains(
            "kpreload: waiting: the pool batch is missing 1 of its 2 DaemonSets \
             (image-preloader-batch-2-of-2)"
        ) && err.contains("(giving up if this lasts 1m00s)"),
        "{err}"
    );
    assert!(
        err.contains("timed out after 3.0s: the pool batch is missing 1 of its 2"),
        "{err}"
    );
    assert!(!err.contains("image pulls not done"), "{err}");
    let (ok, _, err) = run(&two, &["cleanup", "--yes"]);
    assert!(!ok);
    assert!(
        err.contains("Cleanup cannot run") && err.contains("image-preloader-batch-2-of-2"),
        "{err}"
    );
    // Applying the file again puts back only the missing shard.
    let (ok, out, err) = run(&two, &["apply", "-f", &file]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-batch-1-of-2 unchanged\n\
         daemonset.apps/image-preloader-batch-2-of-2 created\n"
    );
    let whole = status(&two);
    assert!(whole["pools"][0]["warning"].is_null(), "{whole:#}");

    // Back to one DaemonSet: apply creates it, then deletes the shards.
    let file = pools_file(&two, 1);
    let (ok, out, err) = run(&two, &["apply", "-f", &file]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-batch created\n\
         daemonset.apps/image-preloader-batch-1-of-2 deleted (its pool is now split differently)\n\
         daemonset.apps/image-preloader-batch-2-of-2 deleted (its pool is now split differently)\n"
    );
    assert_eq!(daemonset_names(&two), ["image-preloader-batch"]);
}
