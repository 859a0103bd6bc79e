//! One round's faults and actions, and what each action checks as it goes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kpreload::sim::Sim;
use kpreload::sim::faults::FaultSettings;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

use crate::driver::{EXTRA, Intent, NAMESPACE, PRELOADER, Report, WEB, WORKLOAD_IMAGES};
use crate::support;

/// xorshift64*: the same seed, the same soak.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn pick<'a, T>(&mut self, of: &'a [T]) -> &'a T {
        &of[self.below(of.len() as u64) as usize]
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub(crate) fn pick_faults(rng: &mut Rng, report: &mut Report) -> FaultSettings {
    let mut f = FaultSettings::default();
    // Half the rounds, watches end sooner still.
    if rng.chance(50) {
        f.watch_seconds = Some(0.2 + rng.below(600) as f64 / 1000.0);
        *report.faults.entry("watch drops").or_default() += 1;
    }
    for _ in 0..1 + rng.below(3) {
        let name = match rng.below(8) {
            0 => {
                f.watch_seconds = Some(0.2 + rng.below(1300) as f64 / 1000.0);
                "watch drops"
            }
            1 => {
                f.watch_gone = 1 + rng.below(3) as u32;
                "410 Gone"
            }
            2 => {
                f.too_many = 2 + rng.below(5) as u32;
                f.retry_after = 1;
                "429 Retry-After"
            }
            3 => {
                f.errors = 2 + rng.below(5) as u32;
                "500"
            }
            4 => {
                f.delay_ms = 50 + rng.below(350);
                "slow answers"
            }
            5 => {
                f.exec_unreachable = vec![rng.pick(&WEB).to_string()];
                "exec unreachable"
            }
            6 => {
                f.conflict_on = Some(PRELOADER.to_string());
                "409 on the preloader"
            }
            _ => {
                f.silent_nodes = vec![rng.pick(&WEB).to_string()];
                "kubelet silent"
            }
        };
        *report.faults.entry(name).or_default() += 1;
    }
    f
}

thread_local! {
    /// What the last command that failed said.
    static LAST_REFUSAL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Keeps what a refused action said for the summary; false, for the action's outcome.
fn refused(words: impl std::fmt::Display) -> bool {
    LAST_REFUSAL.with(|l| *l.borrow_mut() = words.to_string().trim().to_string());
    false
}

/// Keeps what the soak's own request (through the admin client) was refused with, marked
/// as such so the summary does not take it for something kpreload said.
fn own(e: impl std::fmt::Display) -> bool {
    refused(format!("(the soak's own request) {e}"))
}

/// The outcome of a write through the admin client: true, or false with its words kept.
fn done<T>(r: Result<T, kube::Error>) -> bool {
    r.map(|_| true).unwrap_or_else(own)
}

/// A command's outcome: whether it succeeded, and what it said.
pub(crate) struct Said {
    pub(crate) ok: bool,
    pub(crate) out: String,
    pub(crate) err: String,
}

pub(crate) async fn kpreload(kubeconfig: &Path, args: &[&str]) -> Result<Said, String> {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kpreload"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KPRELOAD_NO_REGISTRY", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .map_err(|_| format!("kpreload {} did not end within 120 s", args.join(" ")))?
        .map_err(|e| e.to_string())?;
    let said = Said {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let code = out.status.code();
    // 1 is a failure said in words; 2 (a usage error) would mean the soak asked wrongly.
    if said.err.contains("panicked") || !matches!(code, Some(0 | 1)) {
        return Err(format!(
            "kpreload {} ended with {code:?}: {}",
            args.join(" "),
            said.err
        ));
    }
    if !said.ok && said.err.trim().is_empty() {
        return Err(format!("kpreload {} failed without a word", args.join(" ")));
    }
    if !said.ok {
        refused(&said.err);
    }
    Ok(said)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn act(
    rng: &mut Rng,
    cluster: &support::Cluster,
    sim: &Arc<Sim>,
    kubectl: &support::Kubectl,
    admin: &kube::Client,
    dir: &Path,
    intent: &mut Intent,
    report: &mut Report,
) {
    let kc = cluster.kubeconfig.as_path();
    intent.serial += 1;
    let n = intent.serial;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let nodes: Api<Node> = Api::all(admin.clone());
    let (name, result): (&str, Result<bool, String>) = match rng.below(12) {
        0 => {
            let pod = format!("soak-{n}");
            let spec = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": "default"},
                "spec": {"nodeName": rng.pick(&WEB), "containers": [{"name": "c", "image": rng.pick(&WORKLOAD_IMAGES)}]}});
            let ok = done(
                pods.create(
                    &PostParams::default(),
                    &serde_json::from_value(spec).unwrap(),
                )
                .await,
            );
            if ok {
                intent.workloads.push(pod);
            }
            ("workload starts", Ok(ok))
        }
        1 if !intent.workloads.is_empty() => {
            let i = rng.below(intent.workloads.len() as u64) as usize;
            let pod = intent.workloads.swap_remove(i);
            let ok = done(pods.delete(&pod, &DeleteParams::default()).await);
            if !ok {
                intent.workloads.push(pod);
            }
            ("workload stops", Ok(ok))
        }
        2 if intent.joined.len() < 2 => {
            let node = format!("soak-node-{n}");
            let ok = done(
                nodes
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(joining(&node)).unwrap(),
                    )
                    .await,
            );
            if ok {
                intent.joined.push(node);
            }
            ("node joins", Ok(ok))
        }
        3 if !intent.joined.is_empty() => {
            let node = intent.joined.remove(0);
            let ok = done(nodes.delete(&node, &DeleteParams::default()).await);
            if !ok {
                intent.joined.insert(0, node);
            }
            ("node leaves", Ok(ok))
        }
        4 | 5 => other_manager(rng, kubectl, admin, intent, report).await,
        6 => {
            let r = kpreload(kc, &["status", "-o", "json"]).await;
            ("status", r.map(|s| s.ok))
        }
        7 => {
            let r = kpreload(kc, &["plan", "-o", "json"]).await;
            ("plan", r.map(|s| s.ok))
        }
        8 | 9 => cleanup(rng, kc, sim, admin, report).await,
        _ => apply(rng, kc, dir, intent, report).await,
    };
    match result {
        Ok(ok) => {
            if !ok {
                let said = LAST_REFUSAL.with(|l| std::mem::take(&mut *l.borrow_mut()));
                report.refusals.entry(name.to_string()).or_insert(said);
            }
            report.action(name, ok)
        }
        Err(e) => report
            .failures
            .push(format!("round {}: {name}: {e}", report.rounds)),
    }
}

fn joining(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"workload-type": "web", "kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0", "containerRuntimeVersion": "containerd://1.7.13",
                "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0", "machineID": "",
                "systemUUID": "", "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": "amd64"},
            "images": [
                {"names": ["docker.io/library/nginx:1.23"], "sizeBytes": 57011234},
                {"names": ["docker.io/library/nginx:1.24"], "sizeBytes": 58110000},
                {"names": ["docker.io/library/nginx:1.25"], "sizeBytes": 67340000}]}})
}

/// Another field manager (kubectl, as `other-tool`) writes the preloader: always its own
/// annotation on the pod template, and, half the time, a field kpreload owns (the hold
/// container's CPU request), with `--force-conflicts`, until it gives it back.
async fn other_manager(
    rng: &mut Rng,
    kubectl: &support::Kubectl,
    admin: &kube::Client,
    intent: &mut Intent,
    _report: &mut Report,
) -> (&'static str, Result<bool, String>) {
    let rev = intent.other_rev.unwrap_or(0) + 1;
    // It takes the field half the times it writes, and keeps it seven times in ten.
    let take = if intent.other_holds_cpu {
        rng.chance(70)
    } else {
        rng.chance(50)
    };
    let out = other_tool_writes(kubectl, rev, take).await;
    let name = if take {
        "other manager takes a field"
    } else {
        "other manager edits"
    };
    if !out.status.success() {
        // Refused by a fault (500, 429, 409): then nothing changed.
        if std::env::var_os("SOAK_DEBUG").is_some() {
            eprintln!("{name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        return (name, Ok(refused(String::from_utf8_lossy(&out.stderr))));
    }
    intent.other_rev = Some(rev);
    intent.other_holds_cpu = take;
    // What it wrote is there.
    match preloader(admin).await.map(|ds| cpu_and_rev(&ds)) {
        Ok((c, r))
            if r.as_deref() == Some(&rev.to_string()) && (!take || c.as_deref() == Some("10m")) =>
        {
            (name, Ok(true))
        }
        Ok(other) => (
            name,
            Err(format!("the other manager's write is not there: {other:?}")),
        ),
        Err(_) => (name, Ok(true)),
    }
}

/// kubectl, as `other-tool`, applies its annotation `rev` to the preloader's pod template and,
/// when `take`, the hold container's CPU request (10m), forcing conflicts.
pub(crate) async fn other_tool_writes(
    kubectl: &support::Kubectl,
    rev: u64,
    take: bool,
) -> std::process::Output {
    let spec = if take {
        "\n      containers:\n      - name: hold\n        resources:\n          requests:\n            cpu: 10m"
    } else {
        " {}"
    };
    let yaml = format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {PRELOADER}\n  namespace: {NAMESPACE}\nspec:\n  template:\n    metadata:\n      annotations:\n        other.example/rev: \"{rev}\"\n    spec:{spec}\n"
    );
    let path = kubectl.path.clone();
    let kubeconfig = kubectl.kubeconfig.clone();
    tokio::task::spawn_blocking(move || {
        support::Kubectl { path, kubeconfig }.run_with_input(
            &[
                "apply",
                "--server-side",
                "--field-manager=other-tool",
                "--force-conflicts",
                "--request-timeout=30s",
                "-f",
                "-",
            ],
            Some(&yaml),
        )
    })
    .await
    .unwrap()
}

/// The preloader as the server has it.
pub(crate) async fn preloader(admin: &kube::Client) -> Result<DaemonSet, kube::Error> {
    Api::<DaemonSet>::namespaced(admin.clone(), NAMESPACE)
        .get(PRELOADER)
        .await
}

/// The hold container's CPU request and the other manager's annotation in a preloader.
pub(crate) fn cpu_and_rev(ds: &DaemonSet) -> (Option<String>, Option<String>) {
    let v = serde_json::to_value(ds).unwrap();
    let template = &v["spec"]["template"];
    let cpu = template["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "hold"))
        .and_then(|c| c["resources"]["requests"]["cpu"].as_str())
        .map(str::to_string);
    let rev = template["metadata"]["annotations"]["other.example/rev"]
        .as_str()
        .map(str::to_string);
    (cpu, rev)
}

/// `kpreload apply` of the web pool with a random choice of extra images. While the other
/// manager holds a field kpreload sets, the apply must be refused as a conflict (and the
/// field stay as the other manager wrote it: `held` checks, once the faults are lifted).
async fn apply(
    rng: &mut Rng,
    kc: &Path,
    dir: &Path,
    intent: &mut Intent,
    report: &mut Report,
) -> (&'static str, Result<bool, String>) {
    let mut images = vec!["nginx:1.26".to_string()];
    images.extend(
        EXTRA
            .iter()
            .filter(|_| rng.chance(50))
            .map(|s| s.to_string()),
    );
    let path = dir.join(format!("pools-{}.yaml", intent.serial));
    std::fs::write(&path, pools_file(&images)).unwrap();
    let said = match kpreload(kc, &["apply", "-f", path.to_str().unwrap()]).await {
        Ok(s) => s,
        Err(e) => return ("apply", Err(e)),
    };
    if said.ok {
        if intent.other_holds_cpu {
            return (
                "apply",
                Err(format!(
                    "applied over the other manager's field without a conflict: {}",
                    said.out
                )),
            );
        }
        intent.applied = Some(images);
        intent.attempted = None;
        return ("apply", Ok(true));
    }
    intent.attempted = Some(images);
    // Whether the field was kept is checked once the faults are lifted (`held`).
    if intent.other_holds_cpu && said.err.contains("other-tool") {
        report.conflicts_reported += 1;
    }
    ("apply", Ok(false))
}

pub(crate) fn pools_file(images: &[String]) -> String {
    let list: Vec<String> = images.iter().map(|i| format!("      - {i}")).collect();
    format!(
        "apiVersion: kpreload.dev/v1\nkind: Pools\nnamespace: {NAMESPACE}\nkeep: 2\nprotect: [\"registry.k8s.io/*\"]\nhelperImage: busybox:1.37.0-musl\npools:\n  - name: web\n    nodeSelector:\n      matchLabels:\n        workload-type: web\n    images:\n{}\n",
        list.join("\n")
    )
}

/// Each node's images in the simulator's own store: refs, and whether pinned.
pub(crate) fn stores(sim: &Sim, nodes: &[String]) -> BTreeMap<String, BTreeMap<String, bool>> {
    nodes
        .iter()
        .filter_map(|n| {
            let state = sim.world.node(n)?;
            let images = state.images.lock().unwrap();
            let refs = images
                .images
                .iter()
                .flat_map(|i| i.refs.iter().map(move |r| (r.clone(), i.pinned)))
                .filter(|(r, _)| !r.contains('@'))
                .collect();
            Some((n.clone(), refs))
        })
        .collect()
}

/// `nginx:1.23` as the runtime names it: `docker.io/library/nginx:1.23`.
fn normal(image: &str) -> String {
    match image.split_once('/') {
        None => format!("docker.io/library/{image}"),
        Some((first, _)) if !first.contains(['.', ':']) && first != "localhost" => {
            format!("docker.io/{image}")
        }
        _ => image.to_string(),
    }
}

/// Images each node's pods (every namespace, not finished) use, by node.
pub(crate) async fn in_use(
    admin: &kube::Client,
) -> Result<BTreeMap<String, BTreeSet<(String, String)>>, String> {
    let list = Api::<Pod>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for p in &list.items {
        let Some(spec) = &p.spec else { continue };
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let Some(node) = &spec.node_name else {
            continue;
        };
        let uid = p.metadata.uid.clone().unwrap_or_default();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            if let Some(image) = &c.image {
                out.entry(node.clone())
                    .or_default()
                    .insert((uid.clone(), normal(image)));
            }
        }
    }
    Ok(out)
}

/// `kpreload cleanup --yes`, sometimes with a preloader pod deleted while it runs; checked
/// against the node stores: what it removed was used by no pod that ran throughout, was not
/// preloaded, and was not pinned.
async fn cleanup(
    rng: &mut Rng,
    kc: &Path,
    sim: &Arc<Sim>,
    admin: &kube::Client,
    report: &mut Report,
) -> (&'static str, Result<bool, String>) {
    let nodes: Vec<String> = match Api::<Node>::all(admin.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l
            .items
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect(),
        // Refused by a fault: no cleanup this time (what it is checked against is unknown).
        Err(e) => return ("cleanup", Ok(own(e))),
    };
    let before = stores(sim, &nodes);
    let used_before = match in_use(admin).await {
        Ok(u) => u,
        Err(e) => return ("cleanup", Ok(own(e))),
    };
    let preloaded = match preloaded(admin).await {
        Ok(p) => p,
        Err(e) => return ("cleanup", Ok(own(e))),
    };
    let kill = rng.chance(30);
    let delay = Duration::from_millis(50 + rng.below(400));
    let run = kpreload(kc, &["cleanup", "--pool", "web", "--yes"]);
    let interfere = async {
        if kill {
            tokio::time::sleep(delay).await;
            let pods = Api::<Pod>::namespaced(admin.clone(), NAMESPACE);
            if let Ok(list) = pods.list(&ListParams::default()).await
                && let Some(p) = list.items.first()
            {
                let _ = pods
                    .delete(
                        p.metadata.name.as_deref().unwrap_or_default(),
                        &DeleteParams::default(),
                    )
                    .await;
            }
        }
    };
    let (said, ()) = tokio::join!(run, interfere);
    let name = if kill {
        "cleanup, a preloader deleted meanwhile"
    } else {
        "cleanup"
    };
    let said = match said {
        Ok(s) => s,
        Err(e) => return (name, Err(e)),
    };
    let after = stores(sim, &nodes);
    // Unread (a fault), every pod of before counts as having run throughout: no pod stops
    // during a cleanup but the preloader's, whose images are preloaded anyway.
    let used_after = in_use(admin).await.unwrap_or_else(|_| used_before.clone());
    for (node, images) in &before {
        let Some(now) = after.get(node) else { continue };
        // Pods that ran throughout (there before and after, by uid).
        let throughout: BTreeSet<&String> = used_before
            .get(node)
            .into_iter()
            .flatten()
            .filter(|u| used_after.get(node).is_some_and(|a| a.contains(u)))
            .map(|(_, image)| image)
            .collect();
        for (image, pinned) in images.iter().filter(|(i, _)| !now.contains_key(*i)) {
            report.removed_by_cleanup += 1;
            let why = if throughout.contains(image) {
                "used by a pod that ran throughout"
            } else if preloaded.contains(image) {
                "preloaded by the pool"
            } else if *pinned {
                "pinned"
            } else {
                continue;
            };
            return (
                name,
                Err(format!(
                    "{image} was removed from {node}, but it is {why}: {}",
                    said.out
                )),
            );
        }
    }
    (name, Ok(said.ok))
}

/// Every image a preloader pulls (its init containers), and the helper.
async fn preloaded(admin: &kube::Client) -> Result<BTreeSet<String>, kube::Error> {
    let list = Api::<DaemonSet>::namespaced(admin.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await?;
    Ok(list
        .items
        .iter()
        .filter_map(|d| d.spec.template.spec.as_ref())
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .filter_map(|c| c.image.as_deref())
        .map(normal)
        .collect())
}
