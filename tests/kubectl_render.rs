//! Real kubectl accepts what `kpreload render` prints, and reads the article's preloaders
//! back as they were written.

mod support;

use support::{Cluster, Kubectl, kpreload};

#[test]
fn kubectl_accepts_the_rendered_preloaders() {
    let cluster = Cluster::start("tests/fixtures/scenarios/small.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let rendered = kpreload(&["render", "-f", "config/pools.yaml"]);
    assert!(rendered.status.success());
    let yaml = String::from_utf8(rendered.stdout).unwrap();

    let out = k.ok_with_input(&["apply", "--dry-run=client", "-f", "-"], Some(&yaml));
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-default created (dry run)\n\
         daemonset.apps/image-preloader-ml created (dry run)\n\
         daemonset.apps/image-preloader-web created (dry run)\n"
    );
    // The server's own validation (strict field validation, schema, names) accepts them too.
    let out = k.ok_with_input(&["apply", "--dry-run=server", "-f", "-"], Some(&yaml));
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        k.ok(&["get", "ds", "-A", "-o", "name"]).is_empty(),
        "a dry run stores nothing"
    );

    // Applied for real, they read back as rendered.
    k.ok_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager=kpreload",
            "-f",
            "-",
        ],
        Some(&yaml),
    );
    let names = k.ok(&["get", "ds", "-n", "kube-system", "-o", "name"]);
    assert_eq!(
        names,
        "daemonset.apps/image-preloader-default\ndaemonset.apps/image-preloader-ml\ndaemonset.apps/image-preloader-web\n"
    );
}

#[test]
fn a_misspelt_field_is_refused_by_the_server() {
    let cluster = Cluster::start("tests/fixtures/scenarios/small.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    let rendered =
        String::from_utf8(kpreload(&["render", "-f", "config/pools.yaml", "--pool", "web"]).stdout)
            .unwrap();
    let broken = rendered.replace("imagePullPolicy:", "imagePulPolicy:");
    let err = k.fails(&["apply", "-f", "-"], Some(&broken));
    assert!(
        err.contains("unknown field \"spec.template.spec.containers[0].imagePulPolicy\""),
        "{err}"
    );
}

#[test]
fn the_articles_preloaders_apply_and_read_back_identically() {
    let cluster = Cluster::start("tests/fixtures/scenarios/small.yaml");
    let Some(k) = Kubectl::new(&cluster) else {
        return;
    };
    for name in [
        "image-preloader",
        "image-preloader-ml",
        "image-preloader-web",
    ] {
        let file = format!("tests/fixtures/article/{name}.yaml");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&file);
        let out = k.ok(&["apply", "-f", path.to_str().unwrap()]);
        assert_eq!(out, format!("daemonset.apps/{name} created\n"));
        let live = k.ok(&["get", "ds", name, "-n", "kube-system", "-o", "yaml"]);
        let live: serde_yaml::Value = serde_yaml::from_str(&live).unwrap();
        let written: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // Every field written comes back with the same value (the server adds its own).
        assert_eq!(
            live["spec"]["template"]["spec"]["initContainers"],
            written["spec"]["template"]["spec"]["initContainers"],
            "{name}"
        );
        assert_eq!(
            live["spec"]["template"]["spec"]["tolerations"],
            written["spec"]["template"]["spec"]["tolerations"],
            "{name}"
        );
        assert_eq!(
            live["spec"]["template"]["spec"]["affinity"],
            written["spec"]["template"]["spec"]["affinity"],
            "{name}"
        );
        assert_eq!(
            live["spec"]["selector"], written["spec"]["selector"],
            "{name}"
        );
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            written["spec"]["template"]["spec"]["containers"],
            "{name}"
        );
        // And kpreload recognises what kubectl reads back as a pool.
        let json = k.ok(&["get", "ds", name, "-n", "kube-system", "-o", "json"]);
        let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_json::from_str(&json).unwrap();
        let p = kpreload::core::adopt::read_preloader(&ds).unwrap().unwrap();
        assert_eq!(
            p.pool.images.len(),
            if name == "image-preloader" { 4 } else { 3 }
        );
    }
}
