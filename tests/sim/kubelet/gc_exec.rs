//! The kubelet's image GC, exec into a preloader's cleanup container, and a node that stops reporting.

use super::*;

const THREE_IMAGES: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: image-preloader, namespace: kube-system}\nspec:\n  selector: {matchLabels: {app: image-preloader}}\n  template:\n    metadata: {labels: {app: image-preloader}}\n    spec:\n      initContainers:\n      - {name: preload-alpha, image: team/alpha:1.0, command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}\n      - {name: preload-beta, image: team/beta:1.0, command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}\n      - {name: preload-gamma, image: team/gamma:1.0, command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}\n      containers:\n      - {name: pause, image: registry.k8s.io/pause:3.9}\n";

fn node_images(k: &Kubectl) -> String {
    k.ok(&[
        "get",
        "node",
        "small-1",
        "-o",
        "jsonpath={.status.images[*].names}",
    ])
}

#[test]
fn the_kubelets_image_gc_evicts_a_preloaded_image_unless_it_is_off() {
    let cluster = Cluster::start("tests/fixtures/scenarios/gc.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok_with_input(&["apply", "-f", "-"], Some(THREE_IMAGES));
    k.rollout("kube-system", "image-preloader");
    // 3 × 320 MiB on a 1 GiB disk is 94 %: above 85 %, so the GC frees down to 80 %,
    // removing the least recently used image that no live container holds: alpha.
    let images = support::eventually(5, || node_images(&k), |i| !i.contains("team/alpha:1.0"));
    assert!(
        !images.contains("team/alpha:1.0"),
        "alpha was evicted: {images}"
    );
    assert!(images.contains("team/gamma:1.0"), "{images}");
    assert!(
        images.contains("registry.k8s.io/pause:3.9"),
        "the pinned sandbox image stays: {images}"
    );
    let summary = k.ok(&["get", "--raw", "/api/v1/nodes/small-1/proxy/stats/summary"]);
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let used = v["node"]["runtime"]["imageFs"]["usedBytes"]
        .as_u64()
        .unwrap();
    let capacity = v["node"]["runtime"]["imageFs"]["capacityBytes"]
        .as_u64()
        .unwrap();
    assert_eq!(capacity, 1 << 30);
    assert!(
        used * 100 / capacity <= 80,
        "GC freed down to the low threshold: {used}"
    );
    let configz = k.ok(&["get", "--raw", "/api/v1/nodes/small-1/proxy/configz"]);
    assert!(
        configz.contains("\"imageGCHighThresholdPercent\":85"),
        "{configz}"
    );
}

#[test]
fn with_the_gc_threshold_at_100_nothing_is_evicted() {
    let cluster = Cluster::start("tests/fixtures/scenarios/gc-off.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok_with_input(&["apply", "-f", "-"], Some(THREE_IMAGES));
    k.rollout("kube-system", "image-preloader");
    // Wait past several GC periods (5 simulated minutes is 3 s at 100x).
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let images = node_images(&k);
    for want in ["team/alpha:1.0", "team/beta:1.0", "team/gamma:1.0"] {
        assert!(images.contains(want), "{want}: {images}");
    }
}

#[test]
fn the_image_gc_never_evicts_an_image_in_use() {
    let cluster = Cluster::start("tests/fixtures/scenarios/gc.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok(&[
        "run",
        "uses-alpha",
        "--image",
        "team/alpha:1.0",
        "--command",
        "--",
        "sleep",
        "infinity",
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/uses-alpha",
        "--timeout=60s",
    ]);
    k.ok_with_input(&["apply", "-f", "-"], Some(THREE_IMAGES));
    k.rollout("kube-system", "image-preloader");
    let images = support::eventually(5, || node_images(&k), |i| !i.contains("team/beta:1.0"));
    assert!(
        images.contains("team/alpha:1.0"),
        "alpha is in use and stays: {images}"
    );
    assert!(
        !images.contains("team/beta:1.0"),
        "beta, unused and least recently used, goes: {images}"
    );
}

#[test]
fn exec_runs_the_runtimes_tools_in_a_rendered_preloaders_cleanup_container() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let rendered = support::kpreload(&["render", "-f", "config/pools.yaml", "--pool", "web"]);
    k.ok_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager=kpreload",
            "-f",
            "-",
        ],
        Some(&String::from_utf8(rendered.stdout).unwrap()),
    );
    k.rollout("kube-system", "image-preloader-web");
    let pod = k.ok(&[
        "get",
        "pods",
        "-n",
        "kube-system",
        "--field-selector",
        "spec.nodeName=web-1",
        "-o",
        "name",
    ]);
    let pod = pod.trim();
    // The cleanup container is a sidecar: the first init container, running and ready
    // while the pulls after it completed, and the pod runs.
    let states = k.ok(&[
        "get",
        "-n",
        "kube-system",
        pod,
        "-o",
        "jsonpath={.status.phase} {.status.initContainerStatuses[0].name} {.status.initContainerStatuses[0].ready} {.status.initContainerStatuses[0].state.running.startedAt} {.status.initContainerStatuses[2].state.terminated.reason}",
    ]);
    let words: Vec<&str> = states.split_whitespace().collect();
    assert_eq!(words.len(), 5, "{states}");
    assert_eq!(
        [words[0], words[1], words[2], words[4]],
        ["Running", "cleanup", "true", "Completed"],
        "{states}"
    );
    let on_host = |args: &[&str]| {
        let mut full = vec![
            "exec",
            "-n",
            "kube-system",
            pod,
            "-c",
            "cleanup",
            "--",
            "nsenter",
            "-t",
            "1",
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
        ];
        full.extend(args);
        k.run(&full)
    };
    let out = on_host(&["ctr", "-n", "k8s.io", "images", "ls", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    for want in [
        "docker.io/library/nginx:1.25-alpine",
        "docker.io/library/node:20-alpine",
        "docker.io/library/redis:7-alpine",
    ] {
        assert!(listed.lines().any(|l| l == want), "{want} in {listed}");
    }
    // Each pulled image has three records: tag, digest and sha256:<id>.
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("docker.io/library/redis@sha256:")),
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.starts_with("sha256:")), "{listed}");

    // Removing the tag alone leaves the image on the node: its other names keep it.
    let out = on_host(&[
        "ctr",
        "-n",
        "k8s.io",
        "images",
        "rm",
        "docker.io/library/redis:7-alpine",
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "docker.io/library/redis:7-alpine\n"
    );
    let json = on_host(&["crictl", "images", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let redis = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["repoDigests"][0]
                .as_str()
                .is_some_and(|d| d.contains("redis@"))
        })
        .expect("redis is still there");
    assert_eq!(redis["repoTags"].as_array().unwrap().len(), 0);
    // crictl rmi removes the image with every name, and the node reports it gone. With
    // no tag left, crictl names what it deleted by the digest.
    let id = redis["id"].as_str().unwrap().to_string();
    let digest_name = redis["repoDigests"][0].as_str().unwrap().to_string();
    let out = on_host(&["crictl", "rmi", &id]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("Deleted: {digest_name}\n")
    );
    let images = k.ok(&[
        "get",
        "node",
        "web-1",
        "-o",
        "jsonpath={.status.images[*].names}",
    ]);
    assert!(!images.contains("redis"), "{images}");
    // Removing again: not found, exit 1.
    let again = on_host(&["crictl", "rmi", &id]);
    assert_eq!(again.status.code(), Some(1));
    // Anything else is a shell's "not found".
    let other = k.run(&[
        "exec",
        "-n",
        "kube-system",
        pod,
        "-c",
        "cleanup",
        "--",
        "rm",
        "-rf",
        "/",
    ]);
    assert_eq!(other.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&other.stderr).contains("sh: rm: not found"));
}

#[test]
fn a_node_that_stops_reporting_turns_unknown_and_comes_back() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let ready = || {
        k.ok(&[
            "get",
            "node",
            "web-2",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.taints[*].key}",
        ])
    };
    let wait_for = |want: &dyn Fn(&str) -> bool| {
        let mut last = String::new();
        for _ in 0..60 {
            last = ready();
            if want(&last) {
                return last;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("never reached the state; last: {last}");
    };
    wait_for(&|s| s.starts_with("True"));
    assert!(
        k.ok(&[
            "get",
            "node",
            "web-2",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}"
        ])
        .ends_with('Z')
    );
    cluster.faults(r#"{"silentNodes": ["web-2"]}"#);
    // 40 simulated seconds of grace at 50x is under a second.
    let state = wait_for(&|s| s.starts_with("Unknown"));
    assert!(state.contains("node.kubernetes.io/unreachable"), "{state}");
    let table = k.ok(&["get", "node", "web-2"]);
    assert!(table.contains("NotReady"), "{table}");
    assert!(
        k.ok(&["get", "node", "web-1"]).contains(" Ready "),
        "other nodes are unaffected"
    );
    cluster.faults(r#"{"silentNodes": []}"#);
    let state = wait_for(&|s| s.starts_with("True"));
    assert!(!state.contains("unreachable"), "{state}");
}
