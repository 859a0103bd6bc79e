//! kpreload as the identity `kpreload rbac` grants, against a simulator that authenticates
//! and authorizes as an API server does (over HTTPS, so kubectl sends its token too).
//!
//! - With the printed role, every command and the TUI's data paths work.
//! - With the read-only role, reads work and every write is refused in kpreload's words.
//! - Every (role, resource, verb) printed is needed by an operation named in [`NEEDS`]:
//!   taken away alone, that operation fails naming what it lacks. And the table covers
//!   exactly what is printed, so a verb nothing needs cannot stay in the role.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use kpreload::cluster::watch::{self, Link, Links, PodScope, Update};
use kube::Api;
use serde_yaml::Value;
use support::{Cluster, Kubectl};

const NAMESPACE: &str = "kube-system";
const FULL: &str = "kpreload-sim:kpreload";
const READER: &str = "kpreload-sim:reader";
/// The account `kpreload render --cronjob --pool web` makes, as a token the simulator knows
/// (in a cluster, the token mounted in the CronJob's pod).
const CLEANUP_ACCOUNT: &str = "system:serviceaccount:kube-system:kpreload-cleanup-web";
const CLEANUP: &str = "kpreload-sim:system:serviceaccount:kube-system:kpreload-cleanup-web";
/// What that CronJob's pod runs.
const CLEANUP_ARGS: [&str; 6] = [
    "cleanup",
    "--yes",
    "--namespace",
    NAMESPACE,
    "--pool",
    "web",
];

/// The demo's cluster with two users besides the administrator, at 20 times its speed.
fn start() -> (Cluster, tempfile::TempDir) {
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios/demo.yaml"),
    )
    .unwrap();
    let marker = "kind: Simulation\n";
    assert!(demo.contains(marker));
    let scenario = demo.replacen(
        marker,
        &format!(
            "{marker}users:\n- {{name: kpreload, token: t-kpreload}}\n- {{name: reader, token: t-reader}}\n- {{name: \"{CLEANUP_ACCOUNT}\", token: t-cleanup}}\n"
        ),
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo-users.yaml");
    std::fs::write(&path, scenario).unwrap();
    let cluster = Cluster::start_at(path.to_str().unwrap(), Some(20.0));
    assert!(cluster.url().starts_with("https://"), "{}", cluster.url());
    (cluster, dir)
}

/// `kpreload rbac …`'s YAML.
fn printed(args: &[&str]) -> String {
    let mut all = vec!["rbac"];
    all.extend_from_slice(args);
    let out = support::kpreload(&all);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Applies RBAC objects as the administrator, with real kubectl over HTTPS.
fn grant(kubectl: &Kubectl, yaml: &str) {
    kubectl.ok_with_input(&["apply", "-f", "-"], Some(yaml));
}

/// What an operation left: whether it succeeded, and everything it said.
struct Outcome {
    ok: bool,
    said: String,
}

fn kpreload_as(cluster: &Cluster, context: &str, args: &[&str]) -> Outcome {
    let mut all = vec![
        "--kubeconfig",
        cluster.kubeconfig.to_str().unwrap(),
        "--context",
        context,
    ];
    all.extend_from_slice(args);
    let out = support::kpreload(&all);
    Outcome {
        ok: out.status.success(),
        said: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

async fn client_as(kubeconfig: &Path, context: &str) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// The TUI's watches (every namespace's pods, the starts): live within 15 s, or the first
/// trouble a watch reported.
fn watches_as(cluster: &Cluster, context: &str) -> Outcome {
    cluster.rt.block_on(async {
        let client = client_as(&cluster.kubeconfig, context).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tasks = watch::spawn_all(&client, NAMESPACE, PodScope::AllNamespaces, &tx);
        let mut links = Links::expecting(&watch::watches(PodScope::AllNamespaces));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut settled = None;
        let outcome = loop {
            // Live after the first list; the watch itself starts right after and may be
            // refused, so the links are read a while longer.
            if links.all_live() && settled.is_none() {
                settled = Some(tokio::time::Instant::now() + Duration::from_secs(3));
            }
            let until = settled.unwrap_or(deadline).min(deadline);
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(Update::Link(w, link))) => {
                    if let Link::Retrying(why) = &link {
                        break Outcome {
                            ok: false,
                            said: format!("{w:?}: {why}"),
                        };
                    }
                    links.set(w, link);
                }
                Ok(Some(_)) => {}
                _ if links.all_live() => {
                    break Outcome {
                        ok: true,
                        said: "every watch is live".into(),
                    };
                }
                _ => {
                    break Outcome {
                        ok: false,
                        said: format!("not live within 15 s: {:?}", links.trouble()),
                    };
                }
            }
        };
        for t in tasks {
            t.abort();
        }
        outcome
    })
}

/// The TUI's delete of a preloader (`d` on a pool, then `y`), as `context`.
fn delete_as(cluster: &Cluster, context: &str, name: &str) -> Outcome {
    cluster.rt.block_on(async {
        let client = client_as(&cluster.kubeconfig, context).await;
        let admin = client_as(&cluster.kubeconfig, "kpreload-sim").await;
        let seen = Api::<DaemonSet>::namespaced(admin, NAMESPACE)
            .get(name)
            .await
            .unwrap();
        match kpreload::cluster::apply::delete(&client, &seen).await {
            Ok(()) => Outcome {
                ok: true,
                said: format!("{name} deleted"),
            },
            Err(e) => Outcome {
                ok: false,
                said: e.to_string(),
            },
        }
    })
}

/// A pools file: the demo's ml and web pools (web with `extra` images and `shards`), and
/// the default pool, which the demo has no preloader for, when `new_pool`.
fn pools(dir: &Path, extra: &[&str], shards: Option<u32>, new_pool: bool) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pools.yaml"))
            .unwrap();
    let mut doc: Value = serde_yaml::from_str(&text).unwrap();
    let list = doc["pools"].as_sequence_mut().unwrap();
    if !new_pool {
        list.retain(|p| p["name"] != "default");
    }
    let web = list.iter_mut().find(|p| p["name"] == "web").unwrap();
    let images = web["images"].as_sequence_mut().unwrap();
    images.extend(extra.iter().map(|i| Value::from(*i)));
    if let Some(k) = shards {
        web["shards"] = Value::from(k);
    }
    let path = dir.join(format!("pools-{}.yaml", rand_name()));
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    path
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// An operation kpreload does, run as a context.
#[derive(Clone, Copy, Debug)]
enum Op {
    Status,
    Plan,
    PlanNode,
    PlanDeep,
    Check,
    Watches,
    ApplyChange,
    ApplyNewPool,
    ApplySplit,
    Delete,
}

fn run(op: Op, cluster: &Cluster, dir: &Path, context: &str) -> Outcome {
    let k = |args: &[&str]| kpreload_as(cluster, context, args);
    match op {
        Op::Status => k(&["status"]),
        Op::Plan => k(&["plan"]),
        Op::PlanNode => k(&["plan", "--node", "web-1"]),
        Op::PlanDeep => k(&["plan", "--deep", "--pool", "web"]),
        // `check` exits 1 for a finding of warning or worse: that is its answer, and it ran.
        Op::Check => {
            let mut o = k(&["check", "--pool", "web"]);
            let last = o.said.trim_end().lines().last().unwrap_or_default();
            if !o.ok && last.starts_with("kpreload: ") && last.ends_with("a warning or worse.") {
                o.ok = true;
            }
            o
        }
        Op::Watches => watches_as(cluster, context),
        Op::ApplyChange => {
            let file = pools(dir, &["busybox:1.36"], None, false);
            k(&["apply", "-f", file.to_str().unwrap(), "--pool", "web"])
        }
        Op::ApplyNewPool => {
            let file = pools(dir, &[], None, true);
            k(&["apply", "-f", file.to_str().unwrap(), "--pool", "default"])
        }
        Op::ApplySplit => {
            let file = pools(dir, &[], Some(2), false);
            k(&["apply", "-f", file.to_str().unwrap(), "--pool", "web"])
        }
        Op::Delete => delete_as(cluster, context, "image-preloader-web"),
    }
}

/// One (role kind, resource, verb) `kpreload rbac` prints, the operation that needs it, what
/// that operation says when it lacks it, and whether it stops there. `check` reports what it
/// could not read as a finding, a deep plan falls back to status.images with a note, and an
/// apply whose audit Event is refused is still applied: they say so and go on.
struct Need {
    kind: &'static str,
    resource: &'static str,
    verb: &'static str,
    op: Op,
    says: &'static str,
    stops: bool,
}

const NEEDS: &[Need] = &[
    Need {
        kind: "ClusterRole",
        resource: "nodes",
        verb: "get",
        op: Op::PlanNode,
        says: "read node web-1: User \"kpreload\" cannot get resource \"nodes\"",
        stops: true,
    },
    Need {
        kind: "ClusterRole",
        resource: "nodes",
        verb: "list",
        op: Op::Status,
        says: "nodes",
        stops: true,
    },
    Need {
        kind: "ClusterRole",
        resource: "nodes",
        verb: "watch",
        op: Op::Watches,
        says: "may not list and watch nodes",
        stops: true,
    },
    Need {
        kind: "ClusterRole",
        resource: "nodes/proxy",
        verb: "get",
        op: Op::Check,
        says: "nodes/proxy",
        stops: false,
    },
    Need {
        kind: "ClusterRole",
        resource: "pods",
        verb: "list",
        op: Op::Plan,
        says: "cannot list resource \"pods\"",
        stops: true,
    },
    Need {
        kind: "ClusterRole",
        resource: "pods",
        verb: "watch",
        op: Op::Watches,
        says: "may not list and watch pods",
        stops: true,
    },
    Need {
        kind: "ClusterRole",
        resource: "events",
        verb: "list",
        op: Op::Watches,
        says: "may not list and watch events",
        stops: true,
    },
    Need {
        kind: "ClusterRole",
        resource: "events",
        verb: "watch",
        op: Op::Watches,
        says: "may not list and watch events",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "daemonsets",
        verb: "get",
        op: Op::ApplyChange,
        says: "cannot get resource \"daemonsets\"",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "daemonsets",
        verb: "list",
        op: Op::Status,
        says: "daemonsets",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "daemonsets",
        verb: "watch",
        op: Op::Watches,
        says: "may not list and watch daemonsets",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "daemonsets",
        verb: "create",
        op: Op::ApplyNewPool,
        says: "cannot create resource \"daemonsets\"",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "daemonsets",
        verb: "patch",
        op: Op::ApplyChange,
        says: "cannot patch resource \"daemonsets\"",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "daemonsets",
        verb: "delete",
        op: Op::Delete,
        says: "Not allowed to delete the DaemonSet image-preloader-web: User \"kpreload\" cannot delete",
        stops: true,
    },
    Need {
        kind: "Role",
        resource: "cronjobs",
        verb: "list",
        op: Op::Check,
        says: "Not allowed to list the CronJobs in kube-system",
        stops: false,
    },
    Need {
        kind: "Role",
        resource: "pods/exec",
        verb: "get",
        op: Op::PlanDeep,
        says: "pods/exec",
        stops: false,
    },
    Need {
        kind: "Role",
        resource: "pods/exec",
        verb: "create",
        op: Op::PlanDeep,
        says: "pods/exec",
        stops: false,
    },
    Need {
        kind: "Role",
        resource: "events",
        verb: "create",
        op: Op::ApplyChange,
        says: "cannot create resource \"events\"",
        stops: false,
    },
];

/// Every (kind, resource, verb) in printed RBAC YAML.
fn rules(yaml: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
        let kind = doc["kind"].as_str().unwrap().to_string();
        let Some(rules) = doc["rules"].as_sequence() else {
            continue;
        };
        for rule in rules {
            for resource in rule["resources"].as_sequence().unwrap() {
                for verb in rule["verbs"].as_sequence().unwrap() {
                    out.insert((
                        kind.clone(),
                        resource.as_str().unwrap().to_string(),
                        verb.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

/// The printed YAML with one verb taken from one resource of one role.
fn without(yaml: &str, kind: &str, resource: &str, verb: &str) -> String {
    let mut out = String::new();
    let mut removed = 0;
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let mut doc: Value = serde::Deserialize::deserialize(doc).unwrap();
        if doc["kind"] == kind
            && let Some(rules) = doc["rules"].as_sequence_mut()
        {
            let mut split = Vec::new();
            for rule in rules.iter() {
                let has = rule["resources"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|r| r == resource);
                if !has {
                    split.push(rule.clone());
                    continue;
                }
                // This resource keeps the other verbs; the rule's other resources keep all.
                let mut others = rule.clone();
                let rest: Vec<Value> = rule["resources"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .filter(|r| *r != resource)
                    .cloned()
                    .collect();
                if !rest.is_empty() {
                    others["resources"] = Value::Sequence(rest);
                    split.push(others);
                }
                let mut mine = rule.clone();
                mine["resources"] = Value::Sequence(vec![Value::from(resource)]);
                let verbs: Vec<Value> = rule["verbs"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .filter(|v| *v != verb)
                    .cloned()
                    .collect();
                removed += rule["verbs"].as_sequence().unwrap().len() - verbs.len();
                if !verbs.is_empty() {
                    mine["verbs"] = Value::Sequence(verbs);
                    split.push(mine);
                }
            }
            *rules = split;
        }
        out += "---\n";
        out += &serde_yaml::to_string(&doc).unwrap();
    }
    assert_eq!(removed, 1, "{kind} {resource} {verb} is printed once");
    out
}

/// Waits until the web pool's preloaders have pulled (their cleanup containers run), so
/// that a deep plan has something to exec into.
fn wait_for_preloaders(cluster: &Cluster) {
    let out = support::eventually(
        60,
        || {
            kpreload_as(
                cluster,
                "kpreload-sim",
                &["plan", "--deep", "--pool", "web", "-o", "json"],
            )
        },
        |o| o.ok && !o.said.contains("\"error\""),
    );
    assert!(out.ok, "{}", out.said);
}

#[test]
fn the_printed_role_lets_every_command_and_the_tuis_data_paths_work() {
    let (cluster, dir) = start();
    let Some(kubectl) = Kubectl::new(&cluster) else {
        return;
    };
    // Before any binding, the user may not read nodes.
    let before = kpreload_as(&cluster, FULL, &["status"]);
    assert!(!before.ok && before.said.contains("403"), "{}", before.said);
    grant(&kubectl, &printed(&[]));
    wait_for_preloaders(&cluster);
    for op in [
        Op::Status,
        Op::Plan,
        Op::PlanNode,
        Op::PlanDeep,
        Op::Check,
        Op::Watches,
        Op::ApplyChange,
        Op::ApplyNewPool,
    ] {
        let o = run(op, &cluster, dir.path(), FULL);
        // "403" as a status, not inside a container ID's hex.
        for refused in ["(403", " 403 ", "Not allowed", "may not", "forbidden"] {
            assert!(
                !o.said.contains(refused),
                "{op:?} said {refused:?}:\n{}",
                o.said
            );
        }
        // `check` exits 1 for the demo's warnings; the others succeed.
        assert!(o.ok || matches!(op, Op::Check), "{op:?}:\n{}", o.said);
    }
    // Cleanup removes, and its audit Event is written, as this user.
    let cleanup = kpreload_as(&cluster, FULL, &["cleanup", "--pool", "web", "--yes"]);
    assert!(cleanup.ok, "{}", cleanup.said);
    assert!(
        cleanup.said.contains("Removed 7 images"),
        "{}",
        cleanup.said
    );
    let events = kubectl.ok(&[
        "get",
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        "reason=ImagesRemoved",
        "-o",
        "name",
    ]);
    assert_eq!(events.lines().count(), 3, "one per cleaned node: {events}");
    // Splitting a pool deletes its unsplit preloader; the TUI's delete removes a preloader.
    let split = run(Op::ApplySplit, &cluster, dir.path(), FULL);
    assert!(split.ok, "{}", split.said);
    assert!(
        split.said.contains("image-preloader-web deleted"),
        "{}",
        split.said
    );
    let ml = delete_as(&cluster, FULL, "image-preloader-ml");
    assert!(ml.ok, "{}", ml.said);
    let left = kubectl.ok(&["get", "ds", "-n", NAMESPACE, "-o", "name"]);
    assert!(!left.contains("image-preloader-ml\n"), "{left}");
}

#[test]
fn the_read_only_role_reads_and_every_write_is_refused_in_words() {
    let (cluster, dir) = start();
    let Some(kubectl) = Kubectl::new(&cluster) else {
        return;
    };
    let role = printed(&["--read-only", "--user", "reader"]);
    grant(&kubectl, &role);
    // The full role for another user, applied after, takes nothing from the reader.
    grant(&kubectl, &printed(&[]));
    wait_for_preloaders(&cluster);
    for op in [Op::Status, Op::Plan, Op::PlanNode, Op::Check, Op::Watches] {
        let o = run(op, &cluster, dir.path(), READER);
        // "403" as a status, not inside a container ID's hex.
        for refused in ["(403", " 403 ", "Not allowed", "may not", "forbidden"] {
            assert!(
                !o.said.contains(refused),
                "{op:?} said {refused:?}:\n{}",
                o.said
            );
        }
    }
    // A deep plan falls back to status.images, saying why on every node.
    let deep = run(Op::PlanDeep, &cluster, dir.path(), READER);
    assert!(deep.ok, "{}", deep.said);
    assert_eq!(
        deep.said
            .matches("could not read the runtime's images (Not allowed to exec into pod kube-system/image-preloader-web-")
            .count(),
        4,
        "{}",
        deep.said
    );
    for (op, words) in [
        (
            Op::ApplyChange,
            "Not allowed to apply the DaemonSet image-preloader-web",
        ),
        (Op::ApplyNewPool, "Not allowed to apply the DaemonSet"),
        (
            Op::Delete,
            "Not allowed to delete the DaemonSet image-preloader-web: User \"reader\" cannot delete",
        ),
    ] {
        let o = run(op, &cluster, dir.path(), READER);
        assert!(!o.ok, "{op:?} succeeded as the reader:\n{}", o.said);
        assert!(
            o.said.contains(words),
            "{op:?} does not say {words:?}:\n{}",
            o.said
        );
        assert!(o.said.contains("kpreload rbac"), "{op:?}:\n{}", o.said);
        assert!(!o.said.contains("panicked"), "{}", o.said);
    }
    let cleanup = kpreload_as(&cluster, READER, &["cleanup", "--pool", "web", "--yes"]);
    assert!(!cleanup.ok);
    assert!(
        cleanup
            .said
            .contains("Cleanup failed on every node it had work on"),
        "{}",
        cleanup.said
    );
    assert!(
        cleanup.said.contains("(pods/exec, verbs get and create)"),
        "{}",
        cleanup.said
    );
    // Nothing was written: the web preloader is as the scenario made it.
    let images = kubectl.ok(&[
        "get",
        "ds",
        "-n",
        NAMESPACE,
        "image-preloader-web",
        "-o",
        "jsonpath={.spec.template.spec.initContainers[*].image}",
    ]);
    assert!(!images.contains("busybox:1.36"), "{images}");
}

#[test]
fn each_printed_verb_is_needed_and_its_absence_is_named() {
    let full = printed(&[]);
    let table: BTreeSet<(String, String, String)> = NEEDS
        .iter()
        .map(|n| {
            (
                n.kind.to_string(),
                n.resource.to_string(),
                n.verb.to_string(),
            )
        })
        .collect();
    assert_eq!(table.len(), NEEDS.len(), "a row is in the table twice");
    assert_eq!(
        rules(&full),
        table,
        "the printed role and the table of what needs it differ"
    );
    let (probe, _dir) = start();
    if Kubectl::new(&probe).is_none() {
        return;
    }
    drop(probe);
    for need in NEEDS {
        let (cluster, dir) = start();
        let kubectl = Kubectl::new(&cluster).unwrap();
        grant(
            &kubectl,
            &without(&full, need.kind, need.resource, need.verb),
        );
        if matches!(need.op, Op::PlanDeep) {
            wait_for_preloaders(&cluster);
        }
        let o = run(need.op, &cluster, dir.path(), FULL);
        let context = format!(
            "without {} on {} ({}), {:?}",
            need.verb, need.resource, need.kind, need.op
        );
        assert!(
            o.said.contains(need.says),
            "{context} does not say {:?}:\n{}",
            need.says,
            o.said
        );
        assert!(
            o.said.contains("kpreload rbac"),
            "{context} does not point to the role:\n{}",
            o.said
        );
        assert_eq!(o.ok, !need.stops, "{context}:\n{}", o.said);
    }
}

/// `kpreload render -f config/pools.yaml --cronjob` with `extra`.
fn render_cronjob(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["render", "-f", "config/pools.yaml", "--cronjob"];
    args.extend_from_slice(extra);
    support::kpreload(&args)
}

/// The web pool's scheduled cleanup, as YAML.
fn web_cronjob() -> String {
    let rendered = render_cronjob(&[
        "--image",
        "registry.local:5000/kpreload:0.1.0",
        "--pool",
        "web",
    ]);
    assert!(rendered.status.success(), "{rendered:?}");
    String::from_utf8(rendered.stdout).unwrap()
}

#[test]
fn the_rendered_cronjob_is_accepted_and_its_account_may_clean_and_nothing_more() {
    let (cluster, _dir) = start();
    let Some(kubectl) = Kubectl::new(&cluster) else {
        return;
    };
    let yaml = web_cronjob();
    // The server's own validation (schema, strict fields, the CronJob's rules) accepts it.
    let dry = kubectl.ok_with_input(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(&yaml),
    );
    assert_eq!(dry.lines().count(), 6, "{dry}");
    assert!(
        dry.contains("cronjob.batch/kpreload-cleanup-web serverside-applied (server dry run)"),
        "{dry}"
    );
    grant(&kubectl, &yaml);
    let got = kubectl.ok(&[
        "get",
        "cronjob",
        "-n",
        NAMESPACE,
        "kpreload-cleanup-web",
        "-o",
        "jsonpath={.spec.schedule} {.spec.concurrencyPolicy} {.spec.jobTemplate.spec.template.spec.serviceAccountName}",
    ]);
    assert_eq!(got, "0 3 * * * Forbid kpreload-cleanup-web");
    // `kubectl get` prints the API server's columns for it.
    let table = kubectl.ok(&["get", "cronjob", "-n", NAMESPACE, "-o", "wide"]);
    let head: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST",
            "SCHEDULE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{table}"
    );
    assert!(
        table.contains("registry.local:5000/kpreload:0.1.0") && table.contains("False"),
        "{table}"
    );
    wait_for_preloaders(&cluster);
    // What the CronJob's pod runs, as its account: the web pool's old versions go.
    let cleanup = kpreload_as(&cluster, CLEANUP, &CLEANUP_ARGS);
    assert!(cleanup.ok, "{}", cleanup.said);
    assert!(
        cleanup.said.contains("Removed 7 images"),
        "{}",
        cleanup.said
    );
    // It may not change a preloader, nor read what cleanup does not need.
    let apply = {
        let dir = tempfile::tempdir().unwrap();
        let file = pools(dir.path(), &["busybox:1.36"], None, false);
        kpreload_as(
            &cluster,
            CLEANUP,
            &["apply", "-f", file.to_str().unwrap(), "--pool", "web"],
        )
    };
    assert!(!apply.ok, "{}", apply.said);
    // (It is refused at its first read of the preloader: the account only lists them.)
    assert!(
        apply.said.contains("resource \"daemonsets\"") && apply.said.contains("403 Forbidden"),
        "{}",
        apply.said
    );
    let delete = delete_as(&cluster, CLEANUP, "image-preloader-web");
    assert!(!delete.ok, "{}", delete.said);
    // A schedule that is not cron is said before anything is printed.
    let bad = render_cronjob(&["--image", "x", "--schedule", "daily"]);
    assert!(!bad.status.success() && bad.stdout.is_empty(), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a cron schedule"));
}

#[test]
fn each_rule_of_the_cronjobs_roles_is_needed_by_its_cleanup() {
    let yaml = {
        let out = render_cronjob(&["--image", "x", "--pool", "web"]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let all = rules(&yaml);
    assert_eq!(all.len(), 6, "{all:?}");
    for (kind, resource, verb) in &all {
        let (cluster, _dir) = start();
        let Some(kubectl) = Kubectl::new(&cluster) else {
            return;
        };
        grant(&kubectl, &without(&yaml, kind, resource, verb));
        wait_for_preloaders(&cluster);
        let o = kpreload_as(&cluster, CLEANUP, &CLEANUP_ARGS);
        // Without it the cleanup fails or says what was refused (the audit Event: it
        // cleans and says so); it never goes on as if nothing were missing.
        let said_refused = o.said.contains(resource.as_str())
            && ["cannot", "403", "may not", "Not allowed"]
                .iter()
                .any(|w| o.said.contains(w));
        assert!(
            said_refused,
            "without {verb} {resource} ({kind}) the cleanup said nothing of it (ok: {}):\n{}",
            o.ok, o.said
        );
    }
}

/// kpreload inside the CronJob's pod: no kubeconfig, the account's token and the cluster's CA
/// mounted at /var/run/secrets/kubernetes.io/serviceaccount, the API server in
/// $KUBERNETES_SERVICE_HOST and _PORT. The mount is made in a mount namespace of the test's
/// own (`unshare -m`, as root): nothing outside it sees the files.
#[test]
fn inside_the_cronjobs_pod_kpreload_cleans_as_the_pods_service_account() {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    // Root without CAP_SYS_ADMIN (an unprivileged container) cannot: ask it to.
    let unshare = std::process::Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !root || !unshare {
        support::missing(
            "root (with CAP_SYS_ADMIN) and unshare (util-linux)",
            "it mounts a pod's service account in a mount namespace of its own",
        );
        return;
    }
    let (cluster, dir) = start();
    let Some(kubectl) = Kubectl::new(&cluster) else {
        return;
    };
    grant(&kubectl, &web_cronjob());
    wait_for_preloaders(&cluster);

    // What the kubelet mounts in the pod: the account's token, the cluster's CA, the namespace.
    let kubeconfig: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&cluster.kubeconfig).unwrap()).unwrap();
    let ca = kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca)
        .unwrap();
    let account = dir.path().join("serviceaccount");
    std::fs::create_dir(&account).unwrap();
    std::fs::write(account.join("token"), "t-cleanup").unwrap();
    std::fs::write(account.join("ca.crt"), ca).unwrap();
    std::fs::write(account.join("namespace"), NAMESPACE).unwrap();
    let url = cluster.url();
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let in_pod = |args: &[&str]| -> Outcome {
        let script = "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io \
                      && cp -r \"$1\" /run/secrets/kubernetes.io/serviceaccount \
                      && shift && exec \"$@\"";
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(&account)
            .arg("env")
            .arg("-i")
            .arg(format!("HOME={}", home.display()))
            .arg("KUBERNETES_SERVICE_HOST=127.0.0.1")
            .arg(format!("KUBERNETES_SERVICE_PORT={port}"))
            .arg("KPRELOAD_NO_REGISTRY=1")
            .arg(env!("CARGO_BIN_EXE_kpreload"))
            .args(args)
            .output()
            .unwrap();
        Outcome {
            ok: out.status.success(),
            said: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    };
    // The CronJob's own command line cleans the web pool's old versions.
    let cleanup = in_pod(&CLEANUP_ARGS);
    assert!(cleanup.ok, "{}", cleanup.said);
    assert!(
        cleanup.said.contains("Removed 7 images"),
        "{}",
        cleanup.said
    );
    // And it is that account, not an administrator: a preloader it may not change is
    // refused in words naming it.
    let file = pools(dir.path(), &["busybox:1.36"], None, false);
    let apply = in_pod(&["apply", "-f", file.to_str().unwrap(), "--pool", "web"]);
    assert!(!apply.ok, "{}", apply.said);
    assert!(
        apply.said.contains(&format!(
            "User \"{CLEANUP_ACCOUNT}\" cannot get resource \"daemonsets\""
        )) && apply.said.contains("403 Forbidden"),
        "{}",
        apply.said
    );
    // Without the mounted token, it says what to do (unless this machine is a pod itself).
    if Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").exists() {
        return;
    }
    let outside = std::process::Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .env_clear()
        .env("HOME", &home)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", port)
        .args(["status"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&outside.stderr);
    assert!(!outside.status.success());
    assert!(
        said.contains("this pod's service account cannot be read"),
        "{said}"
    );
}

/// The printed role applies preloaders but not RBAC: a file with a `cleanup:` section is
/// refused as a whole, saying whose the scheduled cleanup is to apply.
#[test]
fn the_printed_role_does_not_apply_the_scheduled_cleanup_and_nothing_of_the_file_is_applied() {
    let (cluster, dir) = start();
    let Some(kubectl) = Kubectl::new(&cluster) else {
        return;
    };
    grant(&kubectl, &printed(&[]));
    let file = pools(dir.path(), &["busybox:1.36"], None, false);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{text}cleanup:\n  image: registry.local:5000/kpreload:0.1.0\n"),
    )
    .unwrap();
    let o = kpreload_as(&cluster, FULL, &["apply", "-f", file.to_str().unwrap()]);
    assert!(!o.ok, "{}", o.said);
    assert!(
        o.said.contains("kpreload: nothing was applied:")
            && o.said.contains("Not allowed to read serviceaccount/kpreload-cleanup: User \"kpreload\" cannot get resource \"serviceaccounts\" in API group \"\" in the namespace \"kube-system\" (403 Forbidden): the scheduled cleanup's account, roles and CronJob are a cluster administrator's to apply")
            && o.said.matches("403 Forbidden").count() == 1,
        "{}",
        o.said
    );
    assert!(!o.said.contains("kpreload rbac` prints"), "{}", o.said);
    let web = kubectl.ok(&[
        "get",
        "daemonset",
        "-n",
        NAMESPACE,
        "image-preloader-web",
        "-o",
        "jsonpath={.spec.template.spec.initContainers[*].image}",
    ]);
    assert!(!web.contains("busybox:1.36"), "{web}");
}
