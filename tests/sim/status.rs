//! `kpreload status` against the simulated demo cluster, through a kubeconfig like any cluster.

use crate::support;

use serde_json::Value;
use support::{Cluster, kpreload};

fn status(cluster: &Cluster, extra: &[&str]) -> std::process::Output {
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let mut args = vec!["--kubeconfig", kubeconfig, "status"];
    args.extend(extra);
    kpreload(&args)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn progress_moves_to_complete_and_wait_exits_0() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(20.0));
    let first = status(&cluster, &["--pool", "web", "-o", "json"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = json(&first);
    let web = &first["pools"][0];
    assert_eq!(web["pool"], "web");
    assert_eq!(web["daemonset"]["name"], "image-preloader-web");
    assert_eq!(web["daemonset"]["namespace"], "kube-system");
    assert_eq!(web["nodes_total"], 4);
    // Four nodes, three images each; at the start not all are there.
    assert_eq!(web["images_total"], 12);
    assert!(web["images_done"].as_u64().unwrap() < 12, "{web}");
    assert_eq!(web["complete"], false);

    let done = status(
        &cluster,
        &["--pool", "web", "-o", "json", "--wait", "--timeout", "120s"],
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let done = json(&done);
    let web = &done["pools"][0];
    assert_eq!(web["complete"], true, "{web}");
    assert_eq!(web["nodes_ready"], 4);
    assert_eq!(web["images_done"], 12);
    for node in web["nodes"].as_array().unwrap() {
        for image in node["images"].as_array().unwrap() {
            let state = image["state"].as_str().unwrap();
            assert!(state == "pulled" || state == "present", "{image}");
            if state == "pulled" {
                // The kubelet's figures, read back from its event.
                assert!(image["seconds"].as_f64().unwrap() > 0.0, "{image}");
                assert!(image["bytes"].as_u64().unwrap() > 1_000_000, "{image}");
            }
        }
    }
    assert!(web["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_missing_image_makes_wait_exit_1_and_name_it() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(50.0));
    let out = status(&cluster, &["--pool", "ml", "--wait", "--timeout", "120s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("kpreload: preloading failed: "),
        "{stderr}"
    );
    assert!(stderr.contains("jupyter/scipy-notebook"), "{stderr}");
    assert!(
        stderr.contains("ErrImagePull") || stderr.contains("ImagePullBackOff"),
        "{stderr}"
    );
    // The table still shows where things stand.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failed in ml:"), "{stdout}");
}

#[test]
fn a_pool_that_does_not_exist_and_an_unreachable_cluster_are_plain_errors() {
    let cluster = Cluster::start("config/scenarios/demo.yaml");
    let out = status(&cluster, &["--pool", "gpu"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "kpreload: there is no pool named \"gpu\" in kube-system; its pools are ml, web.\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = kpreload(&["--kubeconfig", missing.to_str().unwrap(), "status"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("kpreload: cannot read the kubeconfig"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_preloader_whose_main_container_cannot_start_is_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&support::article_with_preloader(dir.path(), false));
    let out = status(&cluster, &["--wait", "--timeout", "120s", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("kpreload: preloading failed: the container cleanup (alpine:3.19): "),
        "{stderr}"
    );
    assert!(stderr.contains("on kind-control-plane"), "{stderr}");
    let v = json(&out);
    let pool = &v["pools"][0];
    // Every image is pulled, yet the pool is not complete: its pod does not run.
    assert_eq!(pool["images_done"], pool["images_total"], "{pool}");
    assert_eq!(pool["complete"], false);
    assert_eq!(pool["failures"], 1);
    let node = &pool["nodes"][0];
    assert_eq!(node["ready"], false);
    assert_eq!(node["problem"]["container"], "cleanup");
    assert_eq!(node["problem"]["image"], "alpine:3.19");
    let reason = node["problem"]["reason"].as_str().unwrap();
    assert!(
        reason == "ErrImagePull" || reason == "ImagePullBackOff",
        "{node}"
    );
    // The table names it too.
    let table = status(&cluster, &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("kind-control-plane the container cleanup (alpine:3.19): "),
        "{text}"
    );

    // And the cleanup says why it cannot run there, not that the container is "not running yet".
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let plan = kpreload(&["--kubeconfig", kubeconfig, "plan", "-o", "json"]);
    let v = json(&plan);
    let node = &v["nodes"][0];
    assert_eq!(node["cleanup_possible"], false, "{node}");
    let why = node["cleanup_blocked"].as_str().unwrap();
    assert!(
        why.starts_with("the preloader's container cleanup in pod ")
            && why.contains("is not running: ")
            && why.contains("pull secrets"),
        "{why}"
    );
}

#[test]
fn the_same_preloader_with_a_pullable_main_image_completes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&support::article_with_preloader(dir.path(), true));
    let out = status(&cluster, &["--wait", "--timeout", "120s", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["pools"][0]["complete"], true);
    assert_eq!(v["pools"][0]["nodes"][0]["problem"], Value::Null);

    // Complete, and still removing images every night on its own: check says so.
    let kubeconfig = cluster.kubeconfig.to_str().unwrap();
    let check = kpreload(&["--kubeconfig", kubeconfig, "check", "-o", "json"]);
    let v = json(&check);
    let found: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "own-cleanup-loop")
        .collect();
    assert_eq!(found.len(), 1, "{v}");
    assert_eq!(found[0]["severity"], "warning");
    assert_eq!(found[0]["pool"], "default");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("ctr -n k8s.io images rm"),
        "{}",
        found[0]
    );
    // A warning: check exits 1 for a pipeline to stop on.
    assert_eq!(check.status.code(), Some(1));
}

#[test]
fn status_lists_every_node_pool_with_the_label_it_came_from() {
    let cluster = Cluster::start("config/scenarios/demo.yaml");
    let out = status(&cluster, &["-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let pools = v["node_pools"].as_array().unwrap();
    let names: Vec<&str> = pools.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["general-m6i", "ml-g5", "web-m6i"]);
    let general = &pools[0];
    assert_eq!(general["source"], "eks.amazonaws.com/nodegroup");
    assert_eq!(general["daemonset"], Value::Null, "nothing preloads for it");
    assert_eq!(
        general["nodes"],
        serde_json::json!(["general-1", "general-2", "general-3"])
    );
    assert_eq!(general["nodes_covered"], 0);
    let web = &pools[2];
    assert_eq!(web["daemonset"]["name"], "image-preloader-web");
    assert_eq!(web["pools"], serde_json::json!(["web"]));
    assert_eq!(web["nodes_covered"], 4);
    // The table names the uncovered one too.
    let table = String::from_utf8_lossy(&status(&cluster, &[]).stdout).into_owned();
    assert!(
        table.contains("  general-m6i (eks.amazonaws.com/nodegroup): 3 nodes, no preloader\n"),
        "{table}"
    );
    // With --pool, only the node pools that pool serves.
    let v = json(&status(&cluster, &["--pool", "web", "-o", "json"]));
    let names: Vec<&str> = v["node_pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-m6i"]);
}

/// The private registry's pool, with these pull secrets (none: the line is left out).
fn private_pools(dir: &std::path::Path, secrets: &[&str]) -> String {
    let line = if secrets.is_empty() {
        String::new()
    } else {
        format!("    pullSecrets: [{}]\n", secrets.join(", "))
    };
    let text = format!(
        "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\npools:\n  - name: app\n    \
         nodeSelector: {{ matchLabels: {{ workload-type: app }} }}\n{line}    images: [registry.example.com/team/app:1.0]\n"
    );
    let path = dir.join(format!("pools-{}.yaml", secrets.join("-")));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_private_image_fails_without_its_pull_secret_and_pulls_once_the_pool_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start("tests/fixtures/scenarios/private.yaml");
    let kubeconfig = cluster.kubeconfig.to_str().unwrap().to_string();
    let apply = |file: &str| {
        let o = kpreload(&["--kubeconfig", &kubeconfig, "apply", "-f", file]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };

    // No secret: the registry refuses, and the remedy names pull secrets.
    apply(&private_pools(dir.path(), &[]));
    let out = status(&cluster, &["--wait", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registry.example.com/team/app:1.0 on app-"),
        "{stderr}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("pull access denied"), "{table}");
    assert!(
        table.contains("→ the registry wants credentials: give the pool a pull secret")
            && table.contains("the pool has none"),
        "{table}"
    );

    // A secret that is not in the namespace: the kubelet says so, and so does status.
    apply(&private_pools(dir.path(), &["regcerd"]));
    let out = status(&cluster, &["--wait", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "FailedToRetrieveImagePullSecret: the pull secret regcerd is not in kube-system"
        ),
        "{stderr}"
    );

    // The right one: every node pulls it.
    let applied = apply(&private_pools(dir.path(), &["regcred"]));
    assert_eq!(applied, "daemonset.apps/image-preloader-app configured\n");
    let out = status(&cluster, &["--wait", "--timeout", "60s", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["pools"][0]["complete"], true, "{v}");
    assert_eq!(v["pools"][0]["images_done"], 2);
}
