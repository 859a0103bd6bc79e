//! Real kubectl 1.37 against the simulator: the verbs and flags operators use.

use crate::support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Cluster, Kubectl, article};

const SCENARIO: &str = "tests/fixtures/scenarios/small.yaml";

#[test]
fn get_with_selectors_chunks_and_formats() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    assert_eq!(
        k.ok(&["get", "nodes", "-l", "workload-type=web", "-o", "name"]),
        "node/web-1\nnode/web-2\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "nodes",
            "-l",
            "workload-type notin (web)",
            "-o",
            "name"
        ]),
        "node/ml-1\n"
    );
    assert_eq!(
        k.ok(&["get", "nodes", "-l", "!gpu,workload-type", "-o", "name"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=web-1",
            "-o",
            "name"
        ]),
        "pod/api-0\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=web-2",
            "-o",
            "name"
        ]),
        ""
    );
    let err = k.fails(
        &["get", "pods", "--field-selector", "spec.colour=red"],
        None,
    );
    assert!(
        err.contains("field label not supported: spec.colour"),
        "{err}"
    );

    // Chunks of 2 still list all three nodes, in order.
    assert_eq!(
        k.ok(&["get", "nodes", "--chunk-size=2", "-o", "name"]),
        "node/ml-1\nnode/web-1\nnode/web-2\n"
    );

    let wide = k.ok(&["get", "nodes", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    assert!(wide.contains("containerd://2.1.1"));
    let pods = k.ok(&["get", "pods"]);
    assert!(
        pods.starts_with("NAME    READY   STATUS    RESTARTS   AGE\napi-0   0/1     Pending   0"),
        "{pods}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "node", "web-1", "-o", "json"])).unwrap();
    assert_eq!(json["metadata"]["labels"]["workload-type"], "web");
    assert_eq!(json["spec"]["taints"][0]["key"], "workload");
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&k.ok(&["get", "pod", "api-0", "-o", "yaml"])).unwrap();
    assert_eq!(yaml["spec"]["nodeName"].as_str(), Some("web-1"));
    assert!(
        yaml["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
}

#[test]
fn apply_then_change_and_reapply_uses_a_strategic_merge() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let original = std::fs::read_to_string(article("image-preloader-web.yaml")).unwrap();
    assert_eq!(
        k.ok_with_input(&["apply", "-f", "-"], Some(&original)),
        "daemonset.apps/image-preloader-web created\n"
    );
    // Someone else labels the object; a re-apply of the changed file must keep that label.
    k.ok(&[
        "label",
        "ds",
        "image-preloader-web",
        "-n",
        "kube-system",
        "team=web",
    ]);
    let changed = original
        .replace("nginx:1.25-alpine", "nginx:1.27-alpine")
        .replace("        - name: preload-redis\n          image: redis:7-alpine\n          imagePullPolicy: IfNotPresent\n          command: [ \"/bin/sh\", \"-c\", \"echo preloaded redis\" ]\n", "");
    assert_ne!(changed, original);
    assert_eq!(
        k.ok_with_input(&["apply", "-f", "-"], Some(&changed)),
        "daemonset.apps/image-preloader-web configured\n"
    );
    let images = k.ok(&[
        "get",
        "ds",
        "image-preloader-web",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.template.spec.initContainers[*].image}",
    ]);
    assert_eq!(
        images, "nginx:1.27-alpine node:20-alpine",
        "the removed init container is gone, the changed one changed"
    );
    let labels = k.ok(&[
        "get",
        "ds",
        "image-preloader-web",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.metadata.labels.team} {.metadata.generation}",
    ]);
    assert_eq!(labels, "web 2");
    assert_eq!(
        k.ok_with_input(&["apply", "-f", "-"], Some(&changed)),
        "daemonset.apps/image-preloader-web unchanged\n"
    );
}

#[test]
fn server_side_apply_conflicts_and_force() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let manifest = std::fs::read_to_string(article("image-preloader-ml.yaml")).unwrap();
    let out = k.ok_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager=kpreload",
            "-f",
            "-",
        ],
        Some(&manifest),
    );
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-ml serverside-applied\n"
    );
    let theirs = manifest.replace(
        "jupyter/scipy-notebook:latest",
        "jupyter/scipy-notebook:2024-01-01",
    );
    let err = k.fails(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-f",
            "-",
        ],
        Some(&theirs),
    );
    assert!(err.contains("Apply failed with 1 conflict: conflict with \"kpreload\": .spec.template.spec.initContainers[name=\"preload-jupyter\"].image"), "{err}");
    let image = || {
        k.ok(&[
            "get",
            "ds",
            "image-preloader-ml",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.template.spec.initContainers[2].image}",
        ])
    };
    assert_eq!(
        image(),
        "jupyter/scipy-notebook:latest",
        "a refused apply changes nothing"
    );
    k.ok_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&theirs),
    );
    assert_eq!(image(), "jupyter/scipy-notebook:2024-01-01");
    let managed = k.ok(&[
        "get",
        "ds",
        "image-preloader-ml",
        "-n",
        "kube-system",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(
        managed.contains("gitops") && managed.contains("kpreload"),
        "{managed}"
    );
}

#[test]
fn patches_of_every_type() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    k.ok(&["apply", "-f", &article("image-preloader-web.yaml")]);
    let ds = ["ds", "image-preloader-web", "-n", "kube-system"];
    let patch = |kind: &str, body: &str| {
        let mut args = vec!["patch"];
        args.extend(ds);
        args.extend(["--type", kind, "-p", body]);
        k.ok(&args)
    };
    patch(
        "strategic",
        r#"{"spec":{"template":{"spec":{"initContainers":[{"name":"preload-node","image":"node:22-alpine"}]}}}}"#,
    );
    patch("merge", r#"{"metadata":{"labels":{"tier":"web"}}}"#);
    patch(
        "json",
        r#"[{"op":"replace","path":"/spec/template/spec/initContainers/2/image","value":"redis:7.4-alpine"}]"#,
    );
    let got = k.ok(&[
        "get",
        "ds",
        "image-preloader-web",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.template.spec.initContainers[*].image} {.metadata.labels.tier}",
    ]);
    assert_eq!(
        got, "nginx:1.25-alpine node:22-alpine redis:7.4-alpine web",
        "a strategic patch merges the list by name"
    );
    let err = k.fails(
        &[
            "patch",
            "ds",
            "image-preloader-web",
            "-n",
            "kube-system",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/spec/nope"}]"#,
        ],
        None,
    );
    assert!(err.contains("is invalid"), "{err}");
}

#[test]
fn delete_and_dry_runs() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let f = article("image-preloader.yaml");
    assert_eq!(
        k.ok(&["apply", "--dry-run=server", "-f", &f]),
        "daemonset.apps/image-preloader created (server dry run)\n"
    );
    assert_eq!(k.ok(&["get", "ds", "-A", "-o", "name"]), "");
    k.ok(&["apply", "-f", &f]);
    assert_eq!(
        k.ok(&[
            "delete",
            "ds",
            "image-preloader",
            "-n",
            "kube-system",
            "--dry-run=server"
        ]),
        "daemonset.apps \"image-preloader\" deleted from kube-system namespace (server dry run)\n"
    );
    assert_eq!(
        k.ok(&["get", "ds", "-A", "-o", "name"]),
        "daemonset.apps/image-preloader\n"
    );
    assert_eq!(
        k.ok(&["delete", "ds", "image-preloader", "-n", "kube-system"]),
        "daemonset.apps \"image-preloader\" deleted from kube-system namespace\n"
    );
    let err = k.fails(&["get", "ds", "image-preloader", "-n", "kube-system"], None);
    assert!(
        err.contains("Error from server (NotFound): daemonsets.apps \"image-preloader\" not found"),
        "{err}"
    );
}

#[test]
fn diff_shows_what_apply_would_change() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let f = article("image-preloader-web.yaml");
    k.ok(&["apply", "-f", &f]);
    let changed = std::fs::read_to_string(&f)
        .unwrap()
        .replace("redis:7-alpine", "redis:8-alpine");
    let o = k.run_with_input(&["diff", "-f", "-"], Some(&changed));
    assert_eq!(
        o.status.code(),
        Some(1),
        "kubectl diff exits 1 when there are differences"
    );
    let diff = String::from_utf8(o.stdout).unwrap();
    assert!(
        diff.contains("-        image: redis:7-alpine")
            && diff.contains("+        image: redis:8-alpine"),
        "{diff}"
    );
    let o = k.run(&["diff", "-f", &f]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn explain_reads_the_servers_schema() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let out = k.ok(&["explain", "daemonset.spec"]);
    assert!(out.contains("KIND:       DaemonSet"), "{out}");
    assert!(
        out.contains("DaemonSetSpec is the specification of a daemon set."),
        "{out}"
    );
    assert!(out.contains("updateStrategy"), "{out}");
    let out = k.ok(&["explain", "pods.spec.initContainers.imagePullPolicy"]);
    assert!(out.contains("Image pull policy"), "{out}");
}

#[test]
fn watch_sees_another_clients_change() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let mut watcher = Command::new(&k.path)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args(["get", "pods", "-w", "-o", "name", "--request-timeout=0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    k.ok(&["run", "late", "--image", "nginx:1.27"]);
    std::thread::sleep(Duration::from_millis(700));
    let _ = watcher.kill();
    let mut seen = String::new();
    watcher
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    let _ = watcher.wait();
    assert!(seen.lines().any(|l| l == "pod/api-0"), "{seen}");
    assert!(
        seen.lines().any(|l| l == "pod/late"),
        "the watch saw the new pod: {seen}"
    );
}

#[test]
fn bad_input_gets_the_apis_own_errors_and_the_server_keeps_serving() {
    let cluster = Cluster::start(SCENARIO);
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let cases: &[(&str, &str)] = &[
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: [{name: a, image: x}]}\n",
            "The Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\"",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: twins}\nspec: {containers: [{name: a, image: img-x}, {name: a, image: img-z}]}\n",
            "spec.containers[1].name: Duplicate value: \"a\"",
        ),
        (
            "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n",
            "no matches for kind \"Widget\" in version \"v1\"",
        ),
        (
            "apiVersion: apps/v2\nkind: DaemonSet\nmetadata: {name: d}\n",
            "no matches for kind \"DaemonSet\" in version \"apps/v2\"",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: shape}\nspec: {containers: \"nope\"}\n",
            "Error from server (BadRequest): error when creating \"STDIN\": Pod in version \"v1\" cannot be handled as a Pod: invalid type: string \"nope\", expected a sequence",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
            "error converting YAML to JSON",
        ),
    ];
    for (manifest, expected) in cases {
        let err = k.fails(&["create", "-f", "-"], Some(manifest));
        assert!(err.contains(expected), "for\n{manifest}\ngot: {err}");
        assert!(!err.contains("panic"), "{err}");
    }
    // Still serving.
    assert_eq!(k.ok(&["get", "nodes", "-o", "name"]).lines().count(), 3);
}
