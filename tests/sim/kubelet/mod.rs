//! The simulated cluster's controllers and kubelets, seen through real kubectl: the
//! article's transcripts, pool targeting, failed pulls and rolling updates.

use crate::support;

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
        // jupyter is the fifth init container: after the cleanup sidecar, the no-op
        // installer, pytorch and tensorflow.
        states = k.ok(&["get", "pods", "-n", "kube-system", "-l", "kpreload.dev/pool=ml", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.status.initContainerStatuses[4].state.waiting.reason}{\"\\n\"}{end}"]);
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

mod gc_exec;
