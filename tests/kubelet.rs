//! The simulated cluster's controllers and kubelets, seen through real kubectl: the
//! article's transcripts, pool targeting, failed pulls and rolling updates.

mod support;

use support::{Cluster, Kubectl, article};

/// The Events table of `kubectl describe`, as (reason, message) pairs in order.
fn events(describe: &str) -> Vec<(String, String)> {
    let mut lines = describe
        .lines()
        .skip_while(|l| !l.starts_with("Events:"))
        .skip(3);
    let mut out = Vec::new();
    for line in lines.by_ref() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 5 {
            break;
        }
        // Type, Reason, Age, From, Message…
        out.push((words[1].to_string(), words[4..].join(" ")));
    }
    out
}

#[test]
fn the_articles_preloader_pulls_in_order_and_tri_lang_starts_warm() {
    let cluster = Cluster::start("tests/fixtures/scenarios/article.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok(&["apply", "-f", &article("image-preloader.yaml")]);
    let out = k.rollout("kube-system", "image-preloader");
    assert!(
        out.ends_with("daemon set \"image-preloader\" successfully rolled out\n"),
        "{out}"
    );

    // What each init container printed, and the kubelet's words for a wrong container name.
    let logs = k.ok(&[
        "-n",
        "kube-system",
        "logs",
        "ds/image-preloader",
        "-c",
        "preload-golang",
    ]);
    assert_eq!(logs, "preloaded golang:1.23\n");
    let wrong = k.fails(
        &[
            "-n",
            "kube-system",
            "logs",
            "ds/image-preloader",
            "-c",
            "preload-java",
        ],
        None,
    );
    assert!(
        wrong.contains("container preload-java is not valid for pod image-preloader-"),
        "{wrong}"
    );

    let describe = k.ok(&[
        "-n",
        "kube-system",
        "describe",
        "pod",
        "-l",
        "app=image-preloader",
    ]);
    let ev = events(&describe);
    let reasons: Vec<&str> = ev.iter().map(|(r, _)| r.as_str()).collect();
    let mut expected = vec!["Scheduled"];
    for _ in 0..5 {
        expected.extend(["Pulling", "Pulled", "Created", "Started"]);
    }
    assert_eq!(reasons, expected, "{describe}");
    assert!(
        ev[0]
            .1
            .starts_with("Successfully assigned kube-system/image-preloader-"),
        "{}",
        ev[0].1
    );
    assert!(ev[0].1.ends_with(" to kind-control-plane"));
    let pulls: Vec<&str> = ev
        .iter()
        .filter(|(r, _)| r == "Pulling")
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(
        pulls,
        [
            "Pulling image \"g1g1/py-kube\"",
            "Pulling image \"python:3.12-slim\"",
            "Pulling image \"golang:1.23\"",
            "Pulling image \"rust:1.83\"",
            "Pulling image \"registry.k8s.io/pause:3.9\"",
        ]
    );
    let pulled: Vec<&str> = ev
        .iter()
        .filter(|(r, _)| r == "Pulled")
        .map(|(_, m)| m.as_str())
        .collect();
    for (message, size) in pulled
        .iter()
        .zip([129338587u64, 43474862, 293403951, 590583972, 268051])
    {
        assert!(
            message.starts_with("Successfully pulled image \""),
            "{message}"
        );
        assert!(
            message.contains(" including waiting). Image size: "),
            "{message}"
        );
        assert!(
            message.ends_with(&format!("Image size: {size} bytes.")),
            "{message}"
        );
    }
    // At 31 MiB/s, rust:1.83 (590 MB) takes about 18 s of simulated time, ±15 %.
    let rust = pulled[3];
    let secs: f64 = rust
        .split(" in ")
        .nth(1)
        .unwrap()
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((15.0..=21.0).contains(&secs), "{rust}");
    assert_eq!(
        ev.iter().filter(|(r, _)| r == "Created").nth(3).unwrap().1,
        "Created container: preload-rust"
    );

    let tri = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: tri-lang\nspec:\n  restartPolicy: Never\n  containers:\n  - name: python\n    image: python:3.12-slim\n    command: [\"sleep\",\"infinity\"]\n  - name: golang\n    image: golang:1.23\n    command: [\"sleep\",\"infinity\"]\n  - name: rust\n    image: rust:1.83\n    command: [\"sleep\",\"infinity\"]\n";
    assert_eq!(
        k.ok_with_input(&["apply", "-f", "-"], Some(tri)),
        "pod/tri-lang created\n"
    );
    assert_eq!(
        k.ok(&[
            "-n",
            "default",
            "wait",
            "--for=condition=Ready",
            "pod/tri-lang",
            "--timeout=60s"
        ]),
        "pod/tri-lang condition met\n"
    );
    let ev = events(&k.ok(&["describe", "po", "tri-lang"]));
    let present: Vec<&str> = ev
        .iter()
        .filter(|(r, _)| r == "Pulled")
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(
        present,
        [
            "Container image \"python:3.12-slim\" already present on machine",
            "Container image \"golang:1.23\" already present on machine",
            "Container image \"rust:1.83\" already present on machine",
        ]
    );
    assert!(
        !ev.iter().any(|(r, _)| r == "Pulling"),
        "nothing was pulled"
    );
}

#[test]
fn pool_preloaders_run_only_on_their_pools_nodes() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok(&["apply", "-f", &article("image-preloader-ml.yaml")]);
    k.ok(&["apply", "-f", &article("image-preloader-web.yaml")]);
    for ds in ["image-preloader-ml", "image-preloader-web"] {
        k.rollout("kube-system", ds);
    }
    let placed = k.ok(&[
        "get",
        "pods",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.app} {.spec.nodeName}{\"\\n\"}{end}",
    ]);
    let mut lines: Vec<&str> = placed.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "image-preloader-ml ml-1",
            "image-preloader-ml ml-2",
            "image-preloader-web web-1",
            "image-preloader-web web-2",
            "image-preloader-web web-3",
        ]
    );
    let ds = k.ok(&["get", "ds", "image-preloader-web", "-n", "kube-system", "-o", "jsonpath={.status.desiredNumberScheduled} {.status.numberReady} {.status.updatedNumberScheduled}"]);
    assert_eq!(ds, "3 3 3");
    // The web nodes now report the web images.
    let images = k.ok(&[
        "get",
        "node",
        "web-2",
        "-o",
        "jsonpath={.status.images[*].names}",
    ]);
    assert!(
        images.contains("docker.io/library/node:20-alpine"),
        "{images}"
    );
    assert!(!images.contains("pytorch"), "{images}");
}

#[test]
fn a_missing_image_fails_then_backs_off_and_retries() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok(&[
        "run",
        "ghost",
        "--image",
        "ghcr.io/nowhere/ghost:1.0",
        "--overrides",
        r#"{"spec":{"nodeSelector":{"workload-type":"general"}}}"#,
    ]);
    // 10 s of back-off at 50x is 0.2 s: within a few seconds there are several attempts.
    let mut seen = String::new();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        seen = k.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=ghost",
            "-o",
            "jsonpath={range .items[*]}{.reason}|{.message}{\"\\n\"}{end}",
        ]);
        if seen.lines().filter(|l| l.starts_with("Pulling|")).count() >= 3 {
            break;
        }
    }
    assert!(
        seen.lines().filter(|l| l.starts_with("Pulling|")).count() >= 3,
        "retries: {seen}"
    );
    assert!(
        seen.contains(
            "Failed|Failed to pull image \"ghcr.io/nowhere/ghost:1.0\": rpc error: code = NotFound"
        ),
        "{seen}"
    );
    assert!(seen.contains("Failed|Error: ErrImagePull"), "{seen}");
    assert!(
        seen.contains("BackOff|Back-off pulling image \"ghcr.io/nowhere/ghost:1.0\""),
        "{seen}"
    );
    let status = k.ok(&[
        "get",
        "pod",
        "ghost",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
    ]);
    assert!(
        status == "ImagePullBackOff" || status == "ErrImagePull",
        "{status}"
    );
    let table = k.ok(&["get", "pod", "ghost"]);
    assert!(
        table.contains("ImagePullBackOff") || table.contains("ErrImagePull"),
        "{table}"
    );
}

#[test]
fn a_template_change_rolls_across_the_pool() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let f = article("image-preloader-web.yaml");
    k.ok(&["apply", "-f", &f]);
    k.rollout("kube-system", "image-preloader-web");
    let before = k.ok(&["get", "pods", "-n", "kube-system", "-o", "name"]);
    let changed = std::fs::read_to_string(&f)
        .unwrap()
        .replace("nginx:1.25-alpine", "nginx:1.26-alpine");
    k.ok_with_input(&["apply", "-f", "-"], Some(&changed));
    let out = k.rollout("kube-system", "image-preloader-web");
    assert!(
        out.ends_with("daemon set \"image-preloader-web\" successfully rolled out\n"),
        "{out}"
    );
    let after = k.ok(&["get", "pods", "-n", "kube-system", "-o", "name"]);
    assert_eq!(after.lines().count(), 3);
    for pod in before.lines() {
        assert!(!after.contains(pod), "{pod} was replaced");
    }
    let images = k.ok(&[
        "get",
        "pods",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.items[*].spec.initContainers[0].image}",
    ]);
    assert_eq!(
        images,
        "nginx:1.26-alpine nginx:1.26-alpine nginx:1.26-alpine"
    );
    let generation = k.ok(&[
        "get",
        "ds",
        "image-preloader-web",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.metadata.generation} {.status.observedGeneration}",
    ]);
    assert_eq!(generation, "2 2");
}

#[test]
fn the_demo_world_preloads_web_and_fails_mls_missing_image() {
    let cluster = Cluster::start_at("config/scenarios/demo.yaml", Some(200.0));
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let out = k.rollout("kube-system", "image-preloader-web");
    assert!(out.ends_with("successfully rolled out\n"), "{out}");
    assert_eq!(
        k.ok(&["get", "ds", "-A", "-o", "name"]),
        "daemonset.apps/image-preloader-ml\ndaemonset.apps/image-preloader-web\n",
        "the general pool has no preloader"
    );
    // The ml pool's third image is not in the registry: every ml node gets stuck on it.
    let mut states = String::new();
    for _ in 0..100 {
        states = k.ok(&["get", "pods", "-n", "kube-system", "-l", "app=image-preloader-ml", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.status.initContainerStatuses[2].state.waiting.reason}{\"\\n\"}{end}"]);
        if states.lines().count() == 3
            && states
                .lines()
                .all(|l| l.ends_with("ImagePullBackOff") || l.ends_with("ErrImagePull"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(states.lines().count(), 3, "{states}");
    assert!(
        states
            .lines()
            .all(|l| l.ends_with("ImagePullBackOff") || l.ends_with("ErrImagePull")),
        "{states}"
    );
    // Workloads the scenario declares running read as running and ready.
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "api-0",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.containerStatuses[0].ready}"
        ]),
        "true"
    );
    // web-1 had the old versions the cleanup example needs, and now the preloaded ones too.
    let images = k.ok(&[
        "get",
        "node",
        "web-1",
        "-o",
        "jsonpath={.status.images[*].names}",
    ]);
    for want in [
        "nginx:1.23",
        "nginx:1.26",
        "the-app:v1.0",
        "the-app:v1.3",
        "python:3.12",
        "redis:7-alpine",
        "busybox:1.37.0-musl",
    ] {
        assert!(images.contains(want), "{want} missing from {images}");
    }
}

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
