//! The registry client (`kpreload::registry`) against a real registry on loopback: an image
//! that exists, one that does not, a multi-platform index, a registry behind htpasswd basic
//! auth (no token service), and one that does not answer.

use kpreload::core::reference::ImageRef;
use kpreload::core::registry::{Answer, Platform};
use kpreload::registry::{Options, Registry};

use crate::local_registry::{self, PASSWORD};

fn image(text: &str) -> ImageRef {
    ImageRef::parse(text).expect("a reference")
}

fn amd64() -> Platform {
    Platform::new("linux", "amd64")
}

fn arm64() -> Platform {
    Platform::new("linux", "arm64")
}

/// A client that reads no credentials but those of `dir` (none when it holds no config).
fn client(dir: &std::path::Path) -> Registry {
    Registry::new(Options {
        docker_config: Some(dir.to_path_buf()),
        ..Default::default()
    })
}

#[tokio::test]
async fn an_image_that_exists_is_found_with_its_digest_and_compressed_size_once() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let pushed = r.push("web/api", "1.1", 300_000);
    let registry = client(r.dir());
    let answer = registry.check(&image(&pushed.reference), &[amd64()]).await;
    let Answer::Found(found) = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(found.digest, pushed.digest);
    assert!(!found.index);
    assert_eq!(found.bytes_for(Some(&amd64())), Some(pushed.bytes[0].1));
    // Layer bytes plus the config: more than the layer alone, which is 300,000.
    assert!(pushed.bytes[0].1 > 300_000);
    assert!(!answer.refuses(&[amd64()]));
    // Asked again: from memory.
    let again = registry.check(&image(&pushed.reference), &[amd64()]).await;
    assert_eq!(again, answer);
    assert_eq!(registry.asked(), 1);
}

#[tokio::test]
async fn a_missing_tag_or_repository_is_refused_in_the_registrys_words() {
    // The CNCF distribution answers MANIFEST_UNKNOWN ("manifest unknown") for both; other
    // registries say NAME_UNKNOWN for a repository: either is passed on as said.
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    r.push("web/api", "1.1", 1000);
    let registry = client(r.dir());
    let tag = registry
        .check(&image(&format!("{}/web/api:9.9", r.host)), &[])
        .await;
    let Answer::Missing {
        words,
        registry: host,
    } = &tag
    else {
        panic!("{tag:?}")
    };
    assert_eq!(host, &r.host);
    assert_eq!(words, "manifest unknown");
    assert!(tag.refuses(&[]));
    let repo = registry
        .check(&image(&format!("{}/web/nothing:1.0", r.host)), &[])
        .await;
    let Answer::Missing { words, .. } = &repo else {
        panic!("{repo:?}")
    };
    assert_eq!(words, "manifest unknown");
    let said = repo.sentence("web/nothing:1.0", &[]);
    assert_eq!(
        said,
        format!(
            "web/nothing:1.0 does not exist: {} answered \"manifest unknown\". Check the name and the tag.",
            r.host
        )
    );
}

#[tokio::test]
async fn an_index_is_sized_per_node_platform_and_a_platform_it_lacks_refuses() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let pushed = r.push_index(
        "ml/torch",
        "2.4",
        &[("linux", "amd64", 200_000), ("linux", "arm64", 150_000)],
    );
    let registry = client(r.dir());
    let both = registry
        .check(&image(&pushed.reference), &[amd64(), arm64()])
        .await;
    let Answer::Found(found) = &both else {
        panic!("{both:?}")
    };
    assert!(found.index);
    assert_eq!(found.digest, pushed.digest, "the tag names the index");
    assert_eq!(found.bytes_for(Some(&amd64())), Some(pushed.bytes[0].1));
    assert_eq!(found.bytes_for(Some(&arm64())), Some(pushed.bytes[1].1));
    assert_ne!(pushed.bytes[0].1, pushed.bytes[1].1);
    let s390x = Platform::new("linux", "s390x");
    let lacking = registry
        .check(&image(&pushed.reference), &[amd64(), s390x.clone()])
        .await;
    assert!(lacking.refuses(&[amd64(), s390x.clone()]));
    let said = lacking.sentence("ml/torch:2.4", &[amd64(), s390x]);
    assert!(said.contains("no image for linux/s390x"), "{said}");
    assert!(said.contains("linux/amd64, linux/arm64"), "{said}");
}

#[tokio::test]
async fn a_registry_behind_basic_auth_wants_the_login_from_the_docker_config() {
    let Some(r) = local_registry::Registry::start_with_login() else {
        return;
    };
    let pushed = r.push("private/app", "3.0", 5000);
    let reference = image(&pushed.reference);

    // No config: the registry's 401 (a Basic challenge, no token service) is "unchecked".
    let anonymous = client(&r.dir().join("no-config"))
        .check(&reference, &[])
        .await;
    let Answer::Denied {
        credentials: None, ..
    } = &anonymous
    else {
        panic!("{anonymous:?}")
    };
    assert!(!anonymous.refuses(&[]) && anonymous.unchecked());
    let said = anonymous.sentence(&pushed.reference, &[]);
    assert!(said.contains(&format!("docker login {}", r.host)), "{said}");

    // The right login, as `docker login` writes it.
    let good = client(&r.docker_config(PASSWORD))
        .check(&reference, &[])
        .await;
    let Answer::Found(found) = &good else {
        panic!("{good:?}")
    };
    assert_eq!(found.digest, pushed.digest);

    // A wrong password: refused, naming where it came from — and never the password.
    let dir = r.docker_config("not-the-password");
    let bad = client(&dir).check(&reference, &[]).await;
    let Answer::Denied {
        credentials: Some(place),
        ..
    } = &bad
    else {
        panic!("{bad:?}")
    };
    assert_eq!(place, &dir.join("config.json").display().to_string());
    let said = bad.sentence(&pushed.reference, &[]);
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(!said.contains("not-the-password") && !format!("{bad:?}").contains("not-the-password"));
}

#[tokio::test]
async fn a_registry_that_does_not_answer_leaves_the_image_unchecked_in_one_sentence() {
    let host = local_registry::silent_host();
    let dir = tempfile::tempdir().expect("a directory");
    let answer = client(dir.path())
        .check(&image(&format!("{host}/web/api:1.0")), &[])
        .await;
    let Answer::Unreachable { why, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(why, "connection refused");
    assert!(!answer.refuses(&[]));
    assert_eq!(
        answer.sentence("web/api:1.0", &[]),
        format!(
            "{host} could not be reached (connection refused), so web/api:1.0 was not checked."
        )
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_unreachable_not_missing() {
    let dir = tempfile::tempdir().expect("a directory");
    let answer = client(dir.path())
        .check(&image("registry.invalid/web/api:1.0"), &[])
        .await;
    let Answer::Unreachable { why, .. } = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!(why, "its name does not resolve");
}

const NODES: &str = r#"apiVersion: sim.kpreload.dev/v1
kind: Simulation
registry: []
---
apiVersion: v1
kind: Node
metadata: { name: web-1, labels: { kubernetes.io/hostname: web-1, workload-type: web } }
status:
  conditions: [{ type: Ready, status: "True" }]
  nodeInfo: { kubeletVersion: v1.37.0, containerRuntimeVersion: containerd://2.1.0, osImage: Debian, kernelVersion: 6.1.0, machineID: "", systemUUID: "", bootID: "", kubeProxyVersion: "", operatingSystem: linux, architecture: amd64 }
---
apiVersion: v1
kind: Node
metadata: { name: arm-1, labels: { kubernetes.io/hostname: arm-1, workload-type: arm } }
status:
  conditions: [{ type: Ready, status: "True" }]
  nodeInfo: { kubeletVersion: v1.37.0, containerRuntimeVersion: containerd://2.1.0, osImage: Debian, kernelVersion: 6.1.0, machineID: "", systemUUID: "", bootID: "", kubeProxyVersion: "", operatingSystem: linux, architecture: arm64 }
"#;

/// A pools file of one pool per `(name, workload-type, images)`.
fn pools_file(dir: &std::path::Path, pools: &[(&str, &str, &[&str])]) -> std::path::PathBuf {
    let mut text =
        String::from("apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: kube-system\npools:\n");
    for (name, label, images) in pools {
        text.push_str(&format!(
            "  - name: {name}\n    nodeSelector: {{ matchLabels: {{ workload-type: {label} }} }}\n    images:\n"
        ));
        for i in *images {
            text.push_str(&format!("      - {i}\n"));
        }
    }
    let path = dir.join(format!("pools-{}.yaml", text.len()));
    std::fs::write(&path, text).expect("pools file");
    path
}

fn daemonset_names(cluster: &crate::support::Cluster) -> Vec<String> {
    use k8s_openapi::api::apps::v1::DaemonSet;
    cluster.rt.block_on(async {
        let client = crate::support::kube_client(&cluster.kubeconfig).await;
        kube::Api::<DaemonSet>::namespaced(client, "kube-system")
            .list(&Default::default())
            .await
            .expect("DaemonSets listed")
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect()
    })
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn apply_and_render_refuse_a_pools_file_with_a_missing_image_and_write_nothing() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let there = r.push("web/api", "1.1", 2000);
    let missing = format!("{}/web/api:9.9", r.host);
    let dir = tempfile::tempdir().expect("a directory");
    let scenario = dir.path().join("nodes.yaml");
    std::fs::write(&scenario, NODES).expect("scenario");
    let cluster = crate::support::Cluster::start(&scenario.display().to_string());
    let kc = cluster.kubeconfig.display().to_string();
    let file = pools_file(
        dir.path(),
        &[("web", "web", &[there.reference.as_str(), missing.as_str()])],
    );
    let f = file.display().to_string();

    let o = crate::support::kpreload_asking(&["--kubeconfig", &kc, "apply", "-f", &f], r.dir());
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.starts_with(
            "kpreload: nothing was applied: an image of the pools file cannot be pulled:"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "pool web: {missing} does not exist: {} answered \"manifest unknown\". Check the name and the tag.",
            r.host
        )),
        "{err}"
    );
    assert!(
        !err.contains(&there.reference),
        "the image that exists is not named: {err}"
    );
    assert!(daemonset_names(&cluster).is_empty(), "nothing was written");

    let o = crate::support::kpreload_asking(&["render", "-f", &f], r.dir());
    assert!(!o.status.success());
    assert!(o.stdout.is_empty(), "no half a render on stdout");
    assert!(
        text(&o.stderr).starts_with("kpreload: nothing was rendered:"),
        "{}",
        text(&o.stderr)
    );

    // --no-registry: applied as written.
    let o = crate::support::kpreload_asking(
        &["--kubeconfig", &kc, "--no-registry", "apply", "-f", &f],
        r.dir(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(daemonset_names(&cluster), ["image-preloader-web"]);
}

#[test]
fn apply_refuses_an_index_without_the_platform_of_a_pools_nodes_only_for_that_pool() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let amd_only = r.push_index("ml/torch", "2.4", &[("linux", "amd64", 3000)]);
    let dir = tempfile::tempdir().expect("a directory");
    let scenario = dir.path().join("nodes.yaml");
    std::fs::write(&scenario, NODES).expect("scenario");
    let cluster = crate::support::Cluster::start(&scenario.display().to_string());
    let kc = cluster.kubeconfig.display().to_string();
    let web = pools_file(
        dir.path(),
        &[("web", "web", &[amd_only.reference.as_str()])],
    );
    let o = crate::support::kpreload_asking(
        &[
            "--kubeconfig",
            &kc,
            "apply",
            "-f",
            &web.display().to_string(),
        ],
        r.dir(),
    );
    assert!(
        o.status.success(),
        "amd64 nodes, an amd64 image: {}",
        text(&o.stderr)
    );
    let arm = pools_file(
        dir.path(),
        &[("arm", "arm", &[amd_only.reference.as_str()])],
    );
    let o = crate::support::kpreload_asking(
        &[
            "--kubeconfig",
            &kc,
            "apply",
            "-f",
            &arm.display().to_string(),
        ],
        r.dir(),
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "pool arm: {} has no image for linux/arm64 in {}: its index lists linux/amd64",
            amd_only.reference, r.host
        )),
        "{err}"
    );
    assert_eq!(daemonset_names(&cluster), ["image-preloader-web"]);
}

#[test]
fn apply_goes_on_past_a_registry_it_cannot_check_saying_so_once_per_registry() {
    let Some(r) = local_registry::Registry::start_with_login() else {
        return;
    };
    let private = r.push("private/app", "3.0", 1000);
    let silent = local_registry::silent_host();
    let a = format!("{silent}/web/a:1.0");
    let b = format!("{silent}/web/b:1.0");
    let dir = tempfile::tempdir().expect("a directory");
    let scenario = dir.path().join("nodes.yaml");
    std::fs::write(&scenario, NODES).expect("scenario");
    let cluster = crate::support::Cluster::start(&scenario.display().to_string());
    let kc = cluster.kubeconfig.display().to_string();
    let file = pools_file(
        dir.path(),
        &[(
            "web",
            "web",
            &[private.reference.as_str(), a.as_str(), b.as_str()],
        )],
    );
    let no_login = dir.path().join("no-login");
    let o = crate::support::kpreload_asking(
        &[
            "--kubeconfig",
            &kc,
            "apply",
            "-f",
            &file.display().to_string(),
        ],
        &no_login,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "one sentence per registry: {err}");
    assert!(lines.contains(&format!(
        "kpreload: {silent} could not be reached (connection refused), so 2 images ({a}, {b}) were not checked."
    ).as_str()), "{err}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "kpreload: {} asks for credentials to read {}",
            r.host, private.reference
        )) && l.contains(&format!("docker login {}", r.host))),
        "{err}"
    );
    assert_eq!(daemonset_names(&cluster), ["image-preloader-web"]);
    // With the login, nothing to say.
    let o = crate::support::kpreload_asking(
        &[
            "--kubeconfig",
            &kc,
            "apply",
            "-f",
            &pools_file(dir.path(), &[("web", "web", &[private.reference.as_str()])])
                .display()
                .to_string(),
        ],
        &r.docker_config(local_registry::PASSWORD),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "", "a checked image is not mentioned");
}
