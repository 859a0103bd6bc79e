//! Real kubectl accepts what `kpreload render` prints, and reads the article's preloaders
//! back as they were written.

use crate::support;

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
        // Every field written comes back with the same value; the server adds its own
        // (defaults such as terminationMessagePath, and metadata), as a real one does.
        if let Some(path) = missing_from(&live, &written, "") {
            panic!("{name}: {path} did not come back as written");
        }
        assert_eq!(
            live["spec"]["template"]["spec"]["initContainers"][0]["terminationMessagePath"]
                .as_str(),
            Some("/dev/termination-log")
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

/// The first path at which `written` is not contained in `live`, if any.
fn missing_from(live: &serde_yaml::Value, written: &serde_yaml::Value, at: &str) -> Option<String> {
    use serde_yaml::Value;
    match (live, written) {
        (Value::Mapping(l), Value::Mapping(w)) => w.iter().find_map(|(k, wv)| {
            let key = format!("{at}.{}", k.as_str().unwrap_or("?"));
            match l.get(k) {
                Some(lv) => missing_from(lv, wv, &key),
                None => Some(key),
            }
        }),
        (Value::Sequence(l), Value::Sequence(w)) if l.len() == w.len() => l
            .iter()
            .zip(w)
            .enumerate()
            .find_map(|(i, (lv, wv))| missing_from(lv, wv, &format!("{at}[{i}]"))),
        (l, w) if l == w => None,
        _ => Some(at.to_string()),
    }
}
