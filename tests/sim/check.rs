//! `kpreload check` against the simulator, whose kubelets serve configz and stats/summary and
//! run the image GC: the risk is reported before the GC evicts a preloaded image, and the
//! missing image after; with the GC off, nothing is evicted, and what removes old versions
//! instead is asked for.

use crate::support;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use support::Cluster;

const THREE_IMAGES: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: image-preloader, namespace: kube-system}\nspec:\n  selector: {matchLabels: {app: image-preloader}}\n  template:\n    metadata: {labels: {app: image-preloader}}\n    spec:\n      initContainers:\n      - {name: preload-alpha, image: team/alpha:1.0, command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}\n      - {name: preload-beta, image: team/beta:1.0, command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}\n      - {name: preload-gamma, image: team/gamma:1.0, command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}\n      containers:\n      - {name: pause, image: registry.k8s.io/pause:3.9}\n";

fn check(cluster: &Cluster) -> (bool, serde_json::Value, String) {
    let kc = cluster.kubeconfig.display().to_string();
    let o = support::kpreload(&["--kubeconfig", &kc, "check", "-o", "json"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (o.status.success(), v, err)
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn preload(cluster: &Cluster) {
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let ds: DaemonSet = serde_yaml::from_str(THREE_IMAGES).unwrap();
        Api::<DaemonSet>::namespaced(client, "kube-system")
            .create(&Default::default(), &ds)
            .await
            .unwrap();
    });
}

fn node_images(cluster: &Cluster) -> Vec<String> {
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let n = Api::<Node>::all(client).get("small-1").await.unwrap();
        n.status
            .unwrap()
            .images
            .unwrap_or_default()
            .into_iter()
            .flat_map(|i| i.names.unwrap_or_default())
            .collect()
    })
}

#[test]
fn gc_at_85_is_a_risk_before_and_an_evicted_image_after() {
    let cluster = Cluster::start("tests/fixtures/scenarios/gc.yaml");
    preload(&cluster);
    let (ok, v, err) = check(&cluster);
    assert!(!ok, "a warning fails the check");
    assert!(err.contains("a warning or worse"), "{err}");
    let gc = &v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "image-gc")
        .unwrap()
        .clone();
    assert_eq!(gc["severity"], "warning");
    assert_eq!(gc["pool"], "default");
    assert_eq!(gc["nodes"], serde_json::json!(["small-1"]));
    assert!(
        gc["message"].as_str().unwrap().contains("starts at 85 %"),
        "{gc}"
    );
    assert_eq!(v["nodes_checked"], 1);

    // The GC evicts alpha once all three are in (94 % of 1 GiB), and check says so.
    let images = support::eventually(
        20,
        || node_images(&cluster),
        |i| {
            i.iter().any(|n| n.contains("team/gamma:1.0"))
                && !i.iter().any(|n| n.contains("team/alpha:1.0"))
        },
    );
    assert!(
        !images.iter().any(|n| n.contains("team/alpha:1.0")),
        "{images:?}"
    );
    let v = support::eventually(
        20,
        || check(&cluster).1,
        |v| codes(v).contains(&"evicted".to_string()),
    );
    let evicted = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "evicted")
        .unwrap();
    assert!(
        evicted["message"]
            .as_str()
            .unwrap()
            .contains("team/alpha:1.0 (evicted since)"),
        "{evicted}"
    );
}

#[test]
fn gc_at_100_evicts_nothing_and_asks_for_a_scheduled_cleanup_until_one_runs() {
    let cluster = Cluster::start("tests/fixtures/scenarios/gc-off.yaml");
    preload(&cluster);
    let images = support::eventually(
        20,
        || node_images(&cluster),
        |i| {
            ["team/alpha:1.0", "team/beta:1.0", "team/gamma:1.0"]
                .iter()
                .all(|want| i.iter().any(|n| n.contains(want)))
        },
    );
    // Past several GC periods (5 simulated minutes is 3 s at 100x).
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let (_, v, _) = check(&cluster);
    let codes = codes(&v);
    assert!(
        !codes.iter().any(|c| {
            c == "image-gc" || c == "evicted" || c == "gc-headroom" || c == "max-gc-age"
        }),
        "{codes:?}"
    );
    // Nothing about the GC evicting; what remains is that nothing removes old versions
    // instead (no scheduled cleanup), the pull setting, and the sizing, which a 1 GiB disk
    // fails by the article's formula (10 GB for the OS alone).
    let rest = |v: &serde_json::Value| -> Vec<(String, String)> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |c: &str, s: &str| (c.to_string(), s.to_string());
    assert_eq!(
        rest(&v),
        [
            pair("no-cleanup", "warning"),
            pair("sizing", "warning"),
            pair("serial-pulls", "info")
        ]
    );
    let after = node_images(&cluster);
    assert_eq!(after.len(), images.len(), "nothing evicted: {after:?}");

    // With the scheduled cleanup in the cluster, that finding goes; suspended, it is back.
    let Some(kubectl) = support::Kubectl::new(&cluster) else {
        return;
    };
    let rendered = support::kpreload(&[
        "render",
        "-f",
        "config/pools.yaml",
        "--cronjob",
        "--image",
        "registry.local:5000/kpreload:0.1.0",
    ]);
    assert!(rendered.status.success(), "{rendered:?}");
    kubectl.ok_with_input(
        &["apply", "-f", "-"],
        Some(&String::from_utf8(rendered.stdout).unwrap()),
    );
    let (_, v, _) = check(&cluster);
    assert_eq!(
        rest(&v),
        [pair("sizing", "warning"), pair("serial-pulls", "info")]
    );
    kubectl.ok(&[
        "patch",
        "cronjob",
        "-n",
        "kube-system",
        "kpreload-cleanup",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    let (_, v, _) = check(&cluster);
    assert_eq!(rest(&v)[0], pair("no-cleanup", "warning"));
}

/// Three web nodes: two hold nginx:1.25 as one image, the third as another (the tag was
/// pushed again between their pulls); a preloader of nginx:1.25 on all three.
fn drifted_scenario(dir: &std::path::Path) -> String {
    let node = |name: &str, digest: char| {
        format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{workload-type: web}}}}\n\
             status:\n  conditions: [{{type: Ready, status: \"True\", reason: KubeletReady}}]\n  \
             images:\n  - names: [\"docker.io/library/nginx@sha256:{}\", \"docker.io/library/nginx:1.25\"]\n    \
             sizeBytes: 67000000\n",
            digest.to_string().repeat(64)
        )
    };
    let text = format!(
        "apiVersion: sim.kpreload.dev/v1\nkind: Simulation\nspeed: 50\nregistry:\n  \
         - {{ image: nginx:1.25, size: 67000000 }}\n  - {{ image: registry.k8s.io/pause:3.9, size: 268051 }}\n\
         nodeDefaults: {{ bandwidth: 400MiB/s }}\n{}{}{}---\n\
         apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: image-preloader-web, namespace: kube-system}}\n\
         spec:\n  selector: {{matchLabels: {{app: image-preloader-web}}}}\n  template:\n    \
         metadata: {{labels: {{app: image-preloader-web}}}}\n    spec:\n      \
         nodeSelector: {{workload-type: web}}\n      initContainers:\n      \
         - {{name: preload-nginx, image: \"nginx:1.25\", command: [\"/bin/sh\", \"-c\", \"echo preloaded\"]}}\n      \
         containers:\n      - {{name: pause, image: registry.k8s.io/pause:3.9}}\n",
        node("web-1", 'a'),
        node("web-2", 'a'),
        node("web-10", 'b'),
    );
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn one_tag_held_as_two_images_is_tag_drift_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&drifted_scenario(dir.path()));
    let (ok, v, _) = check(&cluster);
    assert!(!ok, "a warning fails the check");
    let drift: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "tag-drift")
        .collect();
    assert_eq!(drift.len(), 1, "{v}");
    let f = drift[0];
    assert_eq!(f["pool"], "web");
    assert_eq!(f["severity"], "warning");
    // Natural order: web-10 after web-2.
    assert_eq!(f["nodes"], serde_json::json!(["web-1", "web-2", "web-10"]));
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("sha256:aaaaaaaaaaaa on web-1, web-2")
            && message.contains("sha256:bbbbbbbbbbbb on web-10"),
        "{message}"
    );
    let remedy = f["remedy"].as_str().unwrap();
    assert!(
        remedy.contains(&format!(
            "nginx:1.25@sha256:{} is the one most nodes hold",
            "a".repeat(64)
        )),
        "{remedy}"
    );
}
