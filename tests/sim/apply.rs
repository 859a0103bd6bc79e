//! `kpreload apply` against the simulator: server-side apply with the field manager
//! `kpreload`, dry runs, conflicts with other managers, hand-written preloaders left alone.

use crate::support;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use support::Cluster;

fn apply(cluster: &Cluster, extra: &[&str]) -> (bool, String, String) {
    let kc = cluster.kubeconfig.display().to_string();
    let mut args = vec![
        "--kubeconfig",
        kc.as_str(),
        "apply",
        "-f",
        "config/pools.yaml",
    ];
    args.extend_from_slice(extra);
    let o = support::kpreload(&args);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn daemonsets(cluster: &Cluster) -> Vec<DaemonSet> {
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        Api::<DaemonSet>::namespaced(client, "kube-system")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    })
}

#[test]
fn apply_creates_then_finds_nothing_to_change_and_the_dry_run_writes_nothing() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let (ok, out, err) = apply(&cluster, &["--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-default created (server dry run)\n\
         daemonset.apps/image-preloader-ml created (server dry run)\n\
         daemonset.apps/image-preloader-web created (server dry run)\n"
    );
    assert!(daemonsets(&cluster).is_empty(), "a dry run creates nothing");

    let (ok, out, err) = apply(&cluster, &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-default created\n\
         daemonset.apps/image-preloader-ml created\n\
         daemonset.apps/image-preloader-web created\n"
    );
    let (ok, out, err) = apply(&cluster, &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "daemonset.apps/image-preloader-default unchanged\n\
         daemonset.apps/image-preloader-ml unchanged\n\
         daemonset.apps/image-preloader-web unchanged\n"
    );
    let all = daemonsets(&cluster);
    for ds in &all {
        let managers: Vec<(String, String)> = ds
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| {
                (
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default(),
                )
            })
            .filter(|(_, op)| op == "Apply")
            .collect();
        assert_eq!(managers, [("kpreload".to_string(), "Apply".to_string())]);
    }
    // Each write left an audit Event on its DaemonSet; the unchanged run none.
    let audit: Vec<String> = cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        Api::<k8s_openapi::api::core::v1::Event>::namespaced(client, "kube-system")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("PreloaderApplied"))
            .filter_map(|e| e.involved_object.name)
            .collect()
    });
    let mut audit = audit;
    audit.sort();
    assert_eq!(
        audit,
        [
            "image-preloader-default",
            "image-preloader-ml",
            "image-preloader-web"
        ]
    );
    // Unchanged means unwritten: the spec's generation did not move.
    assert!(all.iter().all(|d| d.metadata.generation == Some(1)));
}

#[test]
fn a_field_another_manager_set_is_a_conflict_and_nothing_is_applied() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let (ok, _, err) = apply(&cluster, &[]);
    assert!(ok, "{err}");
    // Someone bumps nginx on the web preloader by hand.
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let api = Api::<DaemonSet>::namespaced(client, "kube-system");
        let patch = serde_json::json!({"spec": {"template": {"spec": {"initContainers": [
            {"name": "preload-nginx", "image": "nginx:1.26-alpine"}]}}}});
        let params = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        api.patch("image-preloader-web", &params, &Patch::Strategic(&patch))
            .await
            .unwrap();
    });
    let (ok, out, err) = apply(&cluster, &[]);
    assert!(!ok, "a conflict fails the command: {out}");
    assert!(
        out.is_empty(),
        "nothing was applied, so nothing is reported: {out}"
    );
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(err.contains("kubectl-edit"), "who: {err}");
    assert!(
        err.contains(".spec.template.spec.initContainers[name=\"preload-nginx\"].image"),
        "what: {err}"
    );
    let web = daemonsets(&cluster)
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some("image-preloader-web"))
        .unwrap();
    let init = web.spec.template.spec.unwrap().init_containers.unwrap();
    let nginx = init.iter().find(|c| c.name == "preload-nginx").unwrap();
    assert_eq!(
        nginx.image.as_deref(),
        Some("nginx:1.26-alpine"),
        "their change stands"
    );
}

#[test]
fn a_hand_written_preloader_is_left_alone_and_read_only_refuses() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let text = std::fs::read_to_string(support::article("image-preloader-web.yaml")).unwrap();
    let ds: DaemonSet = serde_yaml::from_str(&text).unwrap();
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        Api::<DaemonSet>::namespaced(client, "kube-system")
            .create(&Default::default(), &ds)
            .await
            .unwrap();
    });
    let (ok, out, err) = apply(&cluster, &[]);
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("image-preloader-web exists and was written by hand"),
        "{err}"
    );
    assert_eq!(
        daemonsets(&cluster).len(),
        1,
        "the other pools were not applied either"
    );

    let (ok, _, err) = apply(&cluster, &["--read-only"]);
    assert!(!ok);
    assert!(err.contains("--read-only"), "{err}");
}

/// The article's improved preloader's pool as a pools file: its images in its order, on every
/// node (it tolerates everything), kpreload's helper an image the article's registry has.
const ARTICLE_POOLS: &str = "apiVersion: kpreload.dev/v1
kind: Pools
namespace: kube-system
helperImage: alpine:3.19
pools:
  - name: default
    tolerations:
      - operator: Exists
    images:
      - g1g1/py-kube
      - python:3.12-slim
      - golang:1.23
      - rust:1.83
";

#[test]
fn apply_adopt_converts_the_articles_preloader_once_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&support::article_with_preloader(dir.path(), true));
    let file = dir.path().join("pools.yaml");
    std::fs::write(&file, ARTICLE_POOLS).unwrap();
    let kc = cluster.kubeconfig.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--kubeconfig",
            kc.as_str(),
            "apply",
            "-f",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = support::kpreload(&args);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let names = || -> Vec<String> {
        daemonsets(&cluster)
            .iter()
            .filter_map(|d| d.metadata.name.clone())
            .collect()
    };

    // Without --adopt: refused, and the refusal names the flag. Before, a second preloader
    // was created beside the hand-written one.
    let (ok, out, err) = run(&[]);
    assert!(!ok && out.is_empty(), "{out}{err}");
    assert!(
        err.contains("kube-system/image-preloader exists and was written by hand")
            && err.contains("kpreload apply --adopt"),
        "{err}"
    );
    assert_eq!(names(), ["image-preloader"]);

    // Under another pool's name, for the same nodes: refused too, the flag named.
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        ARTICLE_POOLS.replace("name: default", "name: everything"),
    )
    .unwrap();
    let o = support::kpreload(&[
        "--kubeconfig",
        kc.as_str(),
        "apply",
        "-f",
        other.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("kube-system/image-preloader exists and was written by hand: it is the pool everything's preloader")
            && err.contains("--adopt"),
        "{err}"
    );
    assert_eq!(names(), ["image-preloader"], "nothing beside it");

    // --adopt from a pipe without --yes: shown, not converted.
    let (ok, out, err) = run(&["--adopt"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("daemonset.apps/image-preloader (hand-written) → daemonset.apps/image-preloader-default (kpreload's):")
            && out.contains("its container cleanup removes images itself"),
        "{out}"
    );
    assert!(err.contains("run again with --yes"), "{err}");
    assert_eq!(names(), ["image-preloader"]);

    let (ok, out, err) = run(&["--adopt", "--yes"]);
    assert!(ok, "{err}");
    assert!(
        out.ends_with(
            "daemonset.apps/image-preloader converted to daemonset.apps/image-preloader-default\n"
        ),
        "{out}"
    );
    assert_eq!(names(), ["image-preloader-default"]);
    let converted = &daemonsets(&cluster)[0];
    let spec = converted.spec.template.spec.as_ref().unwrap();
    let images: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .filter_map(|c| c.image.as_deref())
        .filter(|i| !i.starts_with("alpine"))
        .collect();
    assert_eq!(
        images,
        [
            "g1g1/py-kube",
            "python:3.12-slim",
            "golang:1.23",
            "rust:1.83"
        ],
        "the images, in their order"
    );
    assert!(
        kpreload::core::adopt::own_removals(converted).is_empty(),
        "the loop is gone: {:?}",
        spec.containers
    );

    // A second run has nothing to do.
    let (ok, out, err) = run(&["--adopt", "--yes"]);
    assert!(ok, "{err}");
    assert_eq!(out, "daemonset.apps/image-preloader-default unchanged\n");
}

/// The web pool's preloader as an earlier kpreload rendered it: the privileged cleanup
/// container a main container, started only after the pulls.
fn old_shape_web() -> DaemonSet {
    let file =
        kpreload::core::pools::PoolsFile::load(std::path::Path::new("config/pools.yaml")).unwrap();
    let web = file.pools.iter().find(|p| p.name == "web").unwrap();
    let mut ds = kpreload::core::render::render_pool(&file, web);
    let spec = ds.spec.template.spec.as_mut().unwrap();
    let mut cleanup = spec.init_containers.as_mut().unwrap().remove(0);
    assert_eq!(cleanup.name, "cleanup");
    cleanup.restart_policy = None;
    spec.containers = vec![cleanup];
    ds
}

fn cleanup_place(cluster: &Cluster) -> (bool, bool) {
    let ds = daemonsets(cluster)
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some("image-preloader-web"))
        .unwrap();
    let spec = ds.spec.template.spec.unwrap();
    let in_main = spec.containers.iter().any(|c| c.name == "cleanup");
    let sidecar = spec
        .init_containers
        .iter()
        .flatten()
        .any(|c| c.name == "cleanup" && c.restart_policy.as_deref() == Some("Always"));
    (in_main, sidecar)
}

#[test]
fn applying_again_moves_an_earlier_kpreloads_cleanup_container_beside_the_pulls() {
    // Written by kpreload (server-side apply as kpreload): the move is one apply.
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        Api::<DaemonSet>::namespaced(client, "kube-system")
            .patch(
                "image-preloader-web",
                &PatchParams::apply("kpreload"),
                &Patch::Apply(&old_shape_web()),
            )
            .await
            .unwrap();
    });
    assert_eq!(cleanup_place(&cluster), (true, false));
    let (ok, out, err) = apply(&cluster, &["--pool", "web"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("daemonset.apps/image-preloader-web configured"),
        "{out}"
    );
    assert_eq!(cleanup_place(&cluster), (false, true), "moved, not doubled");

    // Written by another tool: server-side apply cannot take its container away, and the
    // name would be taken twice. Nothing changes, and the sentence says what to do.
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        Api::<DaemonSet>::namespaced(client, "kube-system")
            .create(&Default::default(), &old_shape_web())
            .await
            .unwrap();
    });
    let (ok, out, err) = apply(&cluster, &["--pool", "web"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("still has an older kpreload's cleanup container among its main containers"),
        "{err}"
    );
    assert!(err.contains("kubectl apply -f -"), "{err}");
    assert_eq!(cleanup_place(&cluster), (true, false), "nothing changed");
}

/// The DaemonSet controller rewrites a preloader's status on every pod change, so the
/// resourceVersion a person's confirmation read is often stale by the time the delete goes
/// out. A status that moved is no reason to refuse; a spec someone changed is.
#[test]
fn a_preloader_whose_status_moved_is_deleted_and_one_whose_spec_changed_is_kept() {
    use k8s_openapi::api::apps::v1::DaemonSetStatus;
    use kpreload::cluster::apply::{self, ApplyError};
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let (ok, _, err) = apply(&cluster, &[]);
    assert!(ok, "{err}");
    cluster.rt.block_on(async {
        let client = support::kube_client(&cluster.kubeconfig).await;
        let api = Api::<DaemonSet>::namespaced(client.clone(), "kube-system");
        let seen_web = api.get("image-preloader-web").await.unwrap();
        let seen_ml = api.get("image-preloader-ml").await.unwrap();
        let status = |n: i32| {
            serde_json::json!({"status": DaemonSetStatus {
                current_number_scheduled: n,
                desired_number_scheduled: n,
                number_misscheduled: 0,
                number_ready: 0,
                observed_generation: Some(1),
                ..Default::default()
            }})
        };
        let by = |m: &str| PatchParams {
            field_manager: Some(m.into()),
            ..Default::default()
        };
        api.patch_status(
            "image-preloader-web",
            &by("daemon-set-controller"),
            &Patch::Merge(&status(7)),
        )
        .await
        .unwrap();
        let moved = api.get("image-preloader-web").await.unwrap();
        assert_ne!(
            moved.metadata.resource_version, seen_web.metadata.resource_version,
            "the status write moved the resourceVersion, or this test proves nothing"
        );
        apply::delete(&client, &seen_web)
            .await
            .expect("only the status moved");
        assert!(api.get_opt("image-preloader-web").await.unwrap().is_none());

        // Someone labels ml after it was shown: kept, with who and what.
        let patch = serde_json::json!({"metadata": {"labels": {"team": "vision"}}});
        api.patch(
            "image-preloader-ml",
            &by("kubectl-label"),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
        let Err(ApplyError::Conflict(c)) = apply::delete(&client, &seen_ml).await else {
            panic!("a changed preloader must not be deleted");
        };
        assert!(c.summary.contains("kubectl-label"), "{}", c.summary);
        assert!(
            c.changes
                .iter()
                .any(|l| l.starts_with('+') && l.contains("team: vision")),
            "{:?}",
            c.changes
        );
        assert!(api.get_opt("image-preloader-ml").await.unwrap().is_some());
    });
}

/// config/pools.yaml with a `cleanup:` section, in a file of its own.
fn with_cleanup(dir: &std::path::Path, name: &str, schedule: &str, extra_web: &str) -> String {
    let text = std::fs::read_to_string("config/pools.yaml").unwrap();
    let text = text.replace(
        "      - redis:7-alpine\n",
        &format!("      - redis:7-alpine\n{extra_web}"),
    );
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("{text}\ncleanup:\n  schedule: \"{schedule}\"\n  image: registry.local:5000/kpreload:0.1.0\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn apply_file(cluster: &Cluster, file: &str, extra: &[&str]) -> (bool, String, String) {
    let kc = cluster.kubeconfig.display().to_string();
    let mut args = vec!["--kubeconfig", kc.as_str(), "apply", "-f", file];
    args.extend_from_slice(extra);
    let o = support::kpreload(&args);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const SCHEDULED: [&str; 6] = [
    "serviceaccount/kpreload-cleanup",
    "clusterrole.rbac.authorization.k8s.io/kpreload-cleanup",
    "clusterrolebinding.rbac.authorization.k8s.io/kpreload-cleanup",
    "role.rbac.authorization.k8s.io/kpreload-cleanup",
    "rolebinding.rbac.authorization.k8s.io/kpreload-cleanup",
    "cronjob.batch/kpreload-cleanup",
];

/// The lines apply prints for the scheduled cleanup's objects, each with `word`.
fn scheduled_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| SCHEDULED.iter().any(|s| l.starts_with(&format!("{s} "))))
        .collect()
}

#[test]
fn the_files_cleanup_section_is_applied_with_the_preloaders_and_a_conflict_stops_both() {
    let cluster = Cluster::start("tests/fixtures/scenarios/pools.yaml");
    let Some(kubectl) = support::Kubectl::new(&cluster) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = with_cleanup(dir.path(), "pools.yaml", "0 4 * * *", "");
    let cronjobs = || kubectl.ok(&["get", "cronjobs", "-n", "kube-system", "-o", "name"]);

    let (ok, out, err) = apply_file(&cluster, &file, &["--dry-run"]);
    assert!(ok, "{err}");
    let expect =
        |word: &str| -> Vec<String> { SCHEDULED.iter().map(|s| format!("{s} {word}")).collect() };
    assert_eq!(
        scheduled_lines(&out),
        expect("created (server dry run)"),
        "{out}"
    );
    assert_eq!(cronjobs(), "", "a dry run creates nothing");

    let (ok, out, err) = apply_file(&cluster, &file, &[]);
    assert!(ok, "{err}");
    assert_eq!(scheduled_lines(&out), expect("created"), "{out}");
    // The DaemonSets first, then the account and its permissions, then what runs as it.
    assert!(out.starts_with("daemonset.apps/"), "{out}");
    let got = kubectl.ok(&[
        "get",
        "cronjob",
        "-n",
        "kube-system",
        "kpreload-cleanup",
        "-o",
        "jsonpath={.spec.schedule}|{.spec.jobTemplate.spec.template.spec.containers[0].args}|{.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation}",
    ]);
    assert_eq!(
        got,
        r#"0 4 * * *|["cleanup","--yes","--namespace","kube-system"]|kpreload Apply"#
    );
    let (ok, out, err) = apply_file(&cluster, &file, &[]);
    assert!(ok, "{err}");
    assert_eq!(scheduled_lines(&out), expect("unchanged"), "{out}");

    // The file's schedule moves: only the CronJob is configured.
    let file = with_cleanup(dir.path(), "pools.yaml", "30 4 * * *", "");
    let (ok, out, err) = apply_file(&cluster, &file, &[]);
    assert!(ok, "{err}");
    let mut want = expect("unchanged");
    want[5] = "cronjob.batch/kpreload-cleanup configured".into();
    assert_eq!(scheduled_lines(&out), want, "{out}");

    // Someone sets the schedule by hand. The next apply changes it and adds an image to
    // web: the conflict is said with who set what, and nothing is applied, web included.
    kubectl.ok(&[
        "patch",
        "cronjob",
        "-n",
        "kube-system",
        "kpreload-cleanup",
        "--type",
        "merge",
        "--field-manager",
        "night-shift",
        "-p",
        r#"{"spec":{"schedule":"0 1 * * *"}}"#,
    ]);
    let file = with_cleanup(
        dir.path(),
        "pools.yaml",
        "0 5 * * *",
        "      - memcached:1.6\n",
    );
    let (ok, out, err) = apply_file(&cluster, &file, &[]);
    assert!(!ok, "{out}");
    assert!(err.starts_with("kpreload: nothing was applied:"), "{err}");
    assert!(
        err.contains(
            "cronjob.batch/kpreload-cleanup has fields that night-shift set (.spec.schedule)"
        ),
        "{err}"
    );
    let web = kubectl.ok(&[
        "get",
        "daemonset",
        "-n",
        "kube-system",
        "image-preloader-web",
        "-o",
        "jsonpath={.spec.template.spec.initContainers[*].image}",
    ]);
    assert!(
        !web.contains("memcached"),
        "web was applied beside a conflict: {web}"
    );

    // `--pool` applies one pool's preloaders and says the scheduled cleanup waits for the
    // whole file.
    let file = with_cleanup(dir.path(), "pools.yaml", "30 4 * * *", "");
    let (ok, out, err) = apply_file(&cluster, &file, &["--pool", "web"]);
    assert!(ok, "{err}");
    assert!(scheduled_lines(&out).is_empty(), "{out}");
    assert!(
        out.ends_with(&format!(
            "(the scheduled cleanup in {file} is applied with the whole file, not with --pool)\n"
        )),
        "{out}"
    );
    // A section for the web pool makes that pool's CronJob and names the one left over.
    let web_only =
        with_cleanup(dir.path(), "web.yaml", "30 4 * * *", "").replace("pools.yaml", "web.yaml");
    let text = std::fs::read_to_string(&web_only).unwrap();
    std::fs::write(&web_only, format!("{text}  pool: web\n")).unwrap();
    let (ok, out, err) = apply_file(&cluster, &web_only, &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("cronjob.batch/kpreload-cleanup-web created\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("cronjob.batch/kpreload-cleanup stays: the cleanup: section of {web_only} makes kpreload-cleanup-web instead; `kubectl delete -n kube-system cronjob,rolebinding,role,serviceaccount kpreload-cleanup && kubectl delete clusterrolebinding,clusterrole kpreload-cleanup` removes it and its permissions")),
        "{out}"
    );
    // A file without the section leaves them and says how to remove them.
    let (ok, out, err) = apply_file(&cluster, "config/pools.yaml", &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "cronjob.batch/kpreload-cleanup stays: config/pools.yaml has no cleanup: section;"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "cronjob.batch/kpreload-cleanup-web stays: config/pools.yaml has no cleanup: section;"
        ),
        "{out}"
    );
    assert_eq!(
        cronjobs().lines().collect::<Vec<_>>(),
        [
            "cronjob.batch/kpreload-cleanup",
            "cronjob.batch/kpreload-cleanup-web"
        ]
    );
    // The DaemonSets come first, then the scheduled cleanup's objects.
    // (The first file still conflicts on its schedule; the web one applies.)
    let (ok, out, err) = apply_file(&cluster, &web_only, &[]);
    assert!(ok, "{err}");
    let first_scheduled = out
        .lines()
        .position(|l| l.starts_with("serviceaccount/"))
        .unwrap();
    assert!(
        out.lines()
            .take(first_scheduled)
            .all(|l| l.starts_with("daemonset.apps/")),
        "{out}"
    );
}

#[test]
fn render_prints_the_files_scheduled_cleanup_with_the_whole_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = with_cleanup(dir.path(), "pools.yaml", "@daily", "");
    let kinds = |args: &[&str]| -> Vec<String> {
        let o = support::kpreload(args);
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        kinds(&["render", "-f", &file]),
        [
            "DaemonSet",
            "DaemonSet",
            "DaemonSet",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "CronJob"
        ]
    );
    assert_eq!(
        kinds(&["render", "-f", &file, "--pool", "web"]),
        ["DaemonSet"]
    );
    // --cronjob takes the image and schedule from the section, and the flags over it.
    let o = support::kpreload(&[
        "render",
        "-f",
        &file,
        "--cronjob",
        "--schedule",
        "0 2 * * *",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("schedule: \"0 2 * * *\""), "{text}");
    assert!(
        text.contains("image: \"registry.local:5000/kpreload:0.1.0\""),
        "{text}"
    );
    // Without the section, the image must be given.
    let o = support::kpreload(&["render", "-f", "config/pools.yaml", "--cronjob"]);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "kpreload: render --cronjob needs the image holding the kpreload binary: give --image IMAGE, or image: in the cleanup: section of config/pools.yaml."
    );
}
