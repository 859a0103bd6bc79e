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

mod editor {
    //! The editor asking a real registry: the keys as typed, the loop's `CheckImages` done by
    //! the same client the TUI uses, its answers fed back as the loop does.

    use super::*;
    use crate::tui::{draw, edit::edit_app, press};
    use kpreload::tui::app::{Action, App, Effect};
    use kpreload::tui::registry::Registries;
    use kpreload::tui::screens::edit::Step;

    /// Asks the registry what the app asked for: those of `host` for real, the others (the
    /// fixtures' Docker Hub images) answered as unreachable, as offline.
    async fn answer(app: &mut App, registry: &Registry, host: &str) -> usize {
        let mut asked = 0;
        let effects: Vec<Effect> = std::mem::take(&mut app.effects);
        for effect in effects {
            match effect {
                Effect::CheckImages(images) => {
                    for (image, platforms) in images {
                        let answer = if image.registry() == host {
                            asked += 1;
                            registry.check(&image, &platforms).await
                        } else {
                            Answer::Unreachable {
                                registry: image.registry().to_string(),
                                why: "its name does not resolve".into(),
                            }
                        };
                        let more = app.update(Action::Checked(image, platforms, answer));
                        app.effects.extend(more);
                        app.refresh();
                    }
                }
                other => app.effects.push(other),
            }
        }
        asked
    }

    /// A screen's text as one line of words: the borders out, wrapped lines joined.
    fn unwrapped(screen: &str) -> String {
        screen
            .lines()
            .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn draft(app: &App) -> Vec<String> {
        let e = app.edit.as_ref().expect("the editor is open");
        e.draft
            .images
            .iter()
            .map(|i| i.written().to_string())
            .collect()
    }

    fn picker_error(app: &App) -> Option<String> {
        match &app.edit.as_ref()?.step {
            Step::Add(p) => p.error.clone(),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_missing_image_is_refused_in_the_registrys_words_and_an_existing_one_added_with_its_size()
     {
        let Some(r) = local_registry::Registry::start() else {
            return;
        };
        let pushed = r.push("web/api", "1.1", 400_000);
        let registry = client(r.dir());
        let mut app = edit_app();
        app.registries = Registries::on();
        let before = draft(&app);

        press(&mut app, &format!("a{}/web/api:9.9\n", r.host));
        assert!(
            matches!(&app.edit.as_ref().unwrap().step, Step::Add(p) if p.checking.is_some()),
            "Enter waits for the registry"
        );
        assert!(draw(&mut app, 100, 30).contains(&format!("asking {} whether it has", r.host)));
        assert_eq!(answer(&mut app, &registry, &r.host).await, 1);
        assert_eq!(
            picker_error(&app).as_deref(),
            Some(
                format!(
                    "{}/web/api:9.9 does not exist: {} answered \"manifest unknown\". Check the name and the tag.",
                    r.host, r.host
                )
                .as_str()
            )
        );
        assert_eq!(draft(&app), before, "nothing was added");
        // On screen, whole (the dialog wraps it).
        let words = unwrapped(&draw(&mut app, 100, 30));
        assert!(
            words.contains(&format!(
                "{} answered \"manifest unknown\". Check the name and the tag.",
                r.host
            )),
            "{words}"
        );

        // Esc, then the image that exists: added, saying its compressed size.
        press(&mut app, &format!("\x1ba{}\n", pushed.reference));
        assert_eq!(answer(&mut app, &registry, &r.host).await, 1);
        assert!(draft(&app).contains(&pushed.reference), "{:?}", draft(&app));
        let size = kpreload::core::units::bytes(pushed.bytes[0].1);
        let notice = app.notice.clone().unwrap_or_default();
        assert!(
            notice.starts_with(&format!(
                "{} is in {} ({size} compressed",
                pushed.reference, r.host
            )),
            "{notice}"
        );
        // The list shows the registry's size for it.
        let screen = draw(&mut app, 120, 30);
        let row = screen
            .lines()
            .find(|l| l.contains(&pushed.reference))
            .expect("its row");
        assert!(row.contains(&size), "{row}");
    }

    #[tokio::test]
    async fn at_pins_the_digest_the_registry_names_the_tag_now() {
        let Some(r) = local_registry::Registry::start() else {
            return;
        };
        let pushed = r.push("web/api", "1.1", 1000);
        let registry = client(r.dir());
        let mut app = edit_app();
        app.registries = Registries::on();
        press(&mut app, &format!("a{}\n", pushed.reference));
        answer(&mut app, &registry, &r.host).await;
        // The added image is selected: @ pins it to what the registry said.
        press(&mut app, "@");
        let pinned = format!("{}@{}", pushed.reference, pushed.digest);
        assert!(draft(&app).contains(&pinned), "{:?}", draft(&app));
        assert_eq!(
            app.notice.as_deref(),
            Some(
                format!(
                    "pinned to {}, what {} names {} now (no node of the pool holds it yet)",
                    pushed.digest, r.host, pushed.reference
                )
                .as_str()
            )
        );
    }

    #[tokio::test]
    async fn a_registry_that_does_not_answer_lets_the_image_in_marked_unchecked() {
        let mut app = edit_app();
        app.registries = Registries::on();
        let silent = local_registry::silent_host();
        let dir = tempfile::tempdir().expect("a directory");
        let registry = client(dir.path());
        let image = format!("{silent}/web/api:2.0");
        press(&mut app, &format!("a{image}\n"));
        assert_eq!(answer(&mut app, &registry, &silent).await, 1);
        assert!(draft(&app).contains(&image));
        assert_eq!(
            app.notice.as_deref(),
            Some(format!("{silent} could not be reached (connection refused), so {image} was not checked.").as_str())
        );
        let screen = draw(&mut app, 120, 30);
        let row = screen
            .lines()
            .find(|l| l.contains(&image))
            .expect("its row");
        assert!(row.contains("unchecked: no answer"), "{row}");
    }

    #[tokio::test]
    async fn the_preview_sizes_a_new_image_from_its_manifest_and_says_where_it_does_not_fit() {
        use kpreload::tui::screens::edit::{Done, Previewed, Work};
        let Some(r) = local_registry::Registry::start() else {
            return;
        };
        let pushed = r.push("web/api", "1.1", 400_000);
        let bytes = pushed.bytes[0].1;
        let registry = client(r.dir());
        let mut app = edit_app();
        app.registries = Registries::on();
        press(&mut app, &format!("a{}\n", pushed.reference));
        answer(&mut app, &registry, &r.host).await;
        press(&mut app, "p");
        // The other images are asked about too (answered here as unreachable).
        answer(&mut app, &registry, &r.host).await;
        let Some(Effect::Edit(Work::Preview { nodes, .. })) = app.effects.pop() else {
            panic!("a preview was asked for");
        };
        assert_eq!(nodes, ["web-1", "web-2", "web-3"]);
        let free = std::collections::HashMap::from([
            ("web-1".to_string(), 80_000_000_000u64),
            ("web-2".to_string(), bytes / 2),
        ]);
        let desired = (*crate::tui::cleanup::rendered_web_daemonset()).clone();
        app.update(Action::Edit(Done::Previewed(Ok(Box::new(Previewed {
            diff: Vec::new(),
            diff_of: "DaemonSet kube-system/image-preloader-web (server-side dry run)".into(),
            work: Work::Apply {
                desired: Box::new(desired.clone()),
                seen: Some(Box::new(desired)),
                note: String::new(),
            },
            converts: None,
            note: None,
            free,
            free_note: None,
        })))));
        app.refresh();
        let Some(Step::Preview(p)) = app.edit.as_ref().map(|e| &e.step) else {
            panic!("the preview is open");
        };
        for n in &p.pulls {
            let new = n.images.iter().find(|(i, _)| *i == pushed.reference);
            assert_eq!(
                new,
                Some(&(pushed.reference.clone(), Some(bytes))),
                "{}: {n:?}",
                n.node
            );
            assert!(n.from_registry >= 1);
        }
        let web2 = p.pulls.iter().find(|n| n.node == "web-2").unwrap();
        assert_eq!(
            web2.fits(),
            Some(false),
            "half the image's size is free on web-2"
        );
        let web1 = p.pulls.iter().find(|n| n.node == "web-1").unwrap();
        assert_ne!(web1.fits(), Some(false));
        assert!(
            p.unchecked
                .iter()
                .any(|u| u.starts_with("docker.io could not be reached")),
            "{:?}",
            p.unchecked
        );
        let screen = draw(&mut app, 160, 48);
        assert!(
            screen.contains("Not enough free image-filesystem space on web-2"),
            "{screen}"
        );

        // A draft image the registry says is gone: applying is refused, saying which.
        let nginx = kpreload::core::reference::ImageRef::parse("nginx:1.25-alpine").unwrap();
        app.update(Action::Checked(
            nginx,
            Vec::new(),
            Answer::Missing {
                registry: "docker.io".into(),
                words: "manifest unknown".into(),
            },
        ));
        press(&mut app, "y");
        assert!(matches!(
            app.edit.as_ref().map(|e| &e.step),
            Some(Step::Preview(_))
        ));
        assert!(
            app.notice.as_deref().unwrap_or_default().starts_with(
                "not applied: pool web: nginx:1.25-alpine does not exist: docker.io answered \"manifest unknown\"."
            ),
            "{:?}",
            app.notice
        );
    }
}

#[test]
fn check_says_when_a_tag_names_another_image_in_its_registry_than_the_nodes_hold() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let moved = r.push("web/api", "1.1", 1000);
    let same = r.push("web/db", "2.0", 1000);
    let old = format!("sha256:{}", "0".repeat(64));
    let dir = tempfile::tempdir().expect("a directory");
    // web-1 holds web/api:1.1 as it was before the push, web/db:2.0 as it is.
    let scenario = NODES.replacen(
        "  conditions: [{ type: Ready, status: \"True\" }]\n",
        &format!(
            "  conditions: [{{ type: Ready, status: \"True\" }}]\n  images:\n    - {{ names: [\"{h}/web/api:1.1\", \"{h}/web/api@{old}\"], sizeBytes: 1000 }}\n    - {{ names: [\"{h}/web/db:2.0\", \"{h}/web/db@{d}\"], sizeBytes: 1000 }}\n",
            h = r.host,
            d = same.digest
        ),
        1,
    );
    let path = dir.path().join("nodes.yaml");
    std::fs::write(&path, scenario).expect("scenario");
    let cluster = crate::support::Cluster::start(&path.display().to_string());
    let kc = cluster.kubeconfig.display().to_string();
    let file = pools_file(
        dir.path(),
        &[(
            "web",
            "web",
            &[moved.reference.as_str(), same.reference.as_str()],
        )],
    );
    let o = crate::support::kpreload(&[
        "--kubeconfig",
        &kc,
        "apply",
        "-f",
        &file.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let o = crate::support::kpreload_asking(&["--kubeconfig", &kc, "check", "-o", "json"], r.dir());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check's JSON");
    let moved_findings: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "tag-moved")
        .collect();
    assert_eq!(moved_findings.len(), 1, "only web/api moved: {doc:#}");
    let f = moved_findings[0];
    assert_eq!(f["nodes"], serde_json::json!(["web-1"]));
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "{} names another image in {} now",
            moved.reference, r.host
        )),
        "{message}"
    );
    assert!(
        f["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("{}@{}", moved.reference, moved.digest)),
        "{f:#}"
    );
    assert!(!o.status.success(), "a warning: exit 1");

    // Not asked: nothing to compare with.
    let o = crate::support::kpreload(&["--kubeconfig", &kc, "check", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check's JSON");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["code"] != "tag-moved")
    );
}

#[test]
fn the_simulator_serves_its_registry_list_with_the_digests_its_nodes_record() {
    use k8s_openapi::api::core::v1::Node;
    let cluster = crate::support::Cluster::start("config/scenarios/demo.yaml");
    cluster.rt.block_on(async {
        let host = cluster.url().trim_start_matches("http://").to_string();
        let registry = Registry::new(Options {
            mirror: Some(host.clone()),
            ..Default::default()
        });
        let golang = image("golang:1.25");
        let answer = registry.check(&golang, &[amd64()]).await;
        let Answer::Found(found) = &answer else {
            panic!("{answer:?}")
        };
        // The scenario's size, whole: layers and config.
        let size = cluster
            .sim()
            .simulation
            .registry
            .iter()
            .find(|r| r.image.normalized() == "docker.io/library/golang:1.25")
            .unwrap()
            .size;
        assert_eq!(found.bytes_for(Some(&amd64())), Some(size));
        // The digest a node that holds it records is the one served.
        // The digest a node that holds it records (once its kubelet has reported) is the one
        // served.
        let client = crate::support::kube_client(&cluster.kubeconfig).await;
        let mut recorded: Vec<String> = Vec::new();
        for _ in 0..200 {
            let nodes = kube::Api::<Node>::all(client.clone())
                .list(&Default::default())
                .await
                .unwrap();
            recorded = nodes
                .items
                .iter()
                .flat_map(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.images.clone())
                        .unwrap_or_default()
                })
                .filter(|i| {
                    i.names
                        .iter()
                        .flatten()
                        .any(|n| n == "docker.io/library/golang:1.25")
                })
                .flat_map(|i| i.names.unwrap_or_default())
                .filter_map(|n| {
                    n.strip_prefix("docker.io/library/golang@")
                        .map(str::to_string)
                })
                .collect();
            if !recorded.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(!recorded.is_empty(), "some demo node holds golang:1.25");
        assert!(
            recorded.iter().all(|d| *d == found.digest),
            "{recorded:?} vs {}",
            found.digest
        );

        // `gol`, typed as is: no such image.
        let gol = registry.check(&image("gol"), &[]).await;
        assert_eq!(
            gol,
            Answer::Missing {
                registry: host.clone(),
                words: "manifest unknown".into()
            }
        );
        // By digest too.
        let by_digest = registry
            .check(&image(&format!("golang@{}", found.digest)), &[])
            .await;
        assert!(by_digest.found().is_some(), "{by_digest:?}");
    });
}

#[test]
fn the_scheduled_cleanups_image_is_asked_of_its_registry_before_anything_is_applied() {
    let Some(r) = local_registry::Registry::start() else {
        return;
    };
    let there = r.push("web/api", "1.1", 2000);
    let missing = format!("{}/kpreload:9.9", r.host);
    let dir = tempfile::tempdir().expect("a directory");
    let scenario = dir.path().join("nodes.yaml");
    std::fs::write(&scenario, NODES).expect("scenario");
    let cluster = crate::support::Cluster::start(&scenario.display().to_string());
    let kc = cluster.kubeconfig.display().to_string();
    let file = pools_file(dir.path(), &[("web", "web", &[there.reference.as_str()])]);
    let text_of = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text_of}cleanup:\n  image: {missing}\n")).unwrap();
    let f = file.display().to_string();

    let o = crate::support::kpreload_asking(&["--kubeconfig", &kc, "apply", "-f", &f], r.dir());
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "the scheduled cleanup: {missing} does not exist: {} answered \"manifest unknown\".",
            r.host
        )),
        "{err}"
    );
    assert!(daemonset_names(&cluster).is_empty(), "nothing was written");
    // With one pool only, the scheduled cleanup is not applied, and not asked about.
    let o = crate::support::kpreload_asking(
        &["--kubeconfig", &kc, "apply", "-f", &f, "--pool", "web"],
        r.dir(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(daemonset_names(&cluster), ["image-preloader-web"]);
}
