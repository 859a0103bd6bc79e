//! The soak's driver: rounds of faults and actions, each followed by a convergence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use kpreload::sim::Sim;
use kpreload::sim::faults::FaultSettings;
use serde_json::Value;

use crate::rounds::{
    Rng, act, cpu_and_rev, kpreload, other_tool_writes, pick_faults, pools_file, preloader,
};
use crate::state::{self, Picture, Seen};
use crate::{Args, peak_rss_bytes, percentile, rss_bytes, support};

pub(crate) const NAMESPACE: &str = "kube-system";
/// The pools file's helper image: the preloader's first init container pulls it.
pub(crate) const HELPER: &str = "busybox:1.37.0-musl";
pub(crate) const PRELOADER: &str = "image-preloader-web";
pub(crate) const WEB: [&str; 3] = ["web-1", "web-2", "web-3"];
/// Images workloads run, all in the scenario's registry: what cleanup may find unused.
pub(crate) const WORKLOAD_IMAGES: [&str; 3] = ["nginx:1.23", "the-app:v1.0", "nginx:1.26"];
/// Images an apply may add to the web pool beside its own.
pub(crate) const EXTRA: [&str; 2] = ["the-app:v1.0", "nginx:1.23"];
/// What holds between rounds too: every watch ends after a second, as on a connection
/// that drops, so the faults of a round meet the watches' restarts.
pub(crate) fn between_rounds() -> FaultSettings {
    FaultSettings {
        watch_seconds: Some(1.0),
        ..Default::default()
    }
}

/// How long the watches may take to converge once the faults are lifted.
pub(crate) const CONVERGE: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Report {
    pub seconds: u64,
    pub seed: u64,
    pub rounds: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub actions: BTreeMap<String, (u64, u64)>,
    /// The first thing each refused action said, to read in the summary.
    pub refusals: BTreeMap<String, String>,
    pub recoveries: u64,
    pub troubles: usize,
    pub converge: Vec<Duration>,
    pub conflicts_reported: u64,
    /// Applies that failed although the preloader then pulled what they asked for.
    pub failed_but_written: u64,
    pub removed_by_cleanup: u64,
    pub rss_first: u64,
    pub rss_last: u64,
    /// RSS after each convergence.
    pub rss: Vec<u64>,
    pub failures: Vec<String>,
}

impl Report {
    pub(crate) fn action(&mut self, name: &str, ok: bool) {
        let e = self.actions.entry(name.to_string()).or_default();
        if ok { e.0 += 1 } else { e.1 += 1 }
    }

    pub fn summary(&self) -> String {
        let mut sorted = self.converge.clone();
        sorted.sort();
        let mb = |b: u64| b as f64 / 1e6;
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let refusals: Vec<String> = self
            .refusals
            .iter()
            .map(|(k, v)| format!("  {k}: {}", headline(v)))
            .collect();
        let actions: Vec<String> = self
            .actions
            .iter()
            .map(|(k, (ok, failed))| format!("{k} {ok} ok/{failed} refused"))
            .collect();
        format!(
            "soak: {} s, seed {}, {} rounds\n\
             faults injected: {} ({})\n\
             actions: {}\n\
             the first refusal of each: \n{}\n\
             recoveries (a watch live again after retrying): {}; distinct trouble sentences: {}\n\
             time to converge after lifting: p50 {:.2} s, p99 {:.2} s, max {:.2} s (n = {})\n\
             conflicts reported (never overwritten): {}; failed applies that had written: {}; images removed by cleanup: {}\n\
             RSS: after the first convergence {:.1} MB, highest in the first half {:.1} MB, after the last {:.1} MB, peak {:.1} MB",
            self.seconds,
            self.seed,
            self.rounds,
            self.faults.values().sum::<u64>(),
            faults.join(", "),
            actions.join(", "),
            refusals.join("\n"),
            self.recoveries,
            self.troubles,
            percentile(&sorted, 50.0).as_secs_f64(),
            percentile(&sorted, 99.0).as_secs_f64(),
            sorted.last().copied().unwrap_or_default().as_secs_f64(),
            sorted.len(),
            self.conflicts_reported,
            self.failed_but_written,
            self.removed_by_cleanup,
            mb(self.rss_first),
            mb(self.rss[..self.rss.len() / 2]
                .iter()
                .copied()
                .max()
                .unwrap_or(0)),
            mb(self.rss_last),
            mb(peak_rss_bytes()),
        )
    }
}

/// What the soak knows it asked for, to check that nothing was lost.
#[derive(Default)]
pub(crate) struct Intent {
    /// The web pool's images in the last `apply` that succeeded.
    pub(crate) applied: Option<Vec<String>>,
    /// The images of a later `apply` that failed: what the preloader may pull instead, if
    /// that apply wrote before it failed.
    pub(crate) attempted: Option<Vec<String>>,
    /// The other manager's last annotation, and whether it holds kpreload's field now.
    pub(crate) other_rev: Option<u64>,
    pub(crate) other_holds_cpu: bool,
    pub(crate) joined: Vec<String>,
    pub(crate) workloads: Vec<String>,
    pub(crate) serial: u64,
}

pub fn soak(args: &Args, kubectl: PathBuf) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario();
    let cluster = support::Cluster::start(scenario.to_str().unwrap());
    let sim = cluster.running.as_ref().unwrap().sim.clone();
    let kubectl = support::Kubectl {
        path: kubectl,
        kubeconfig: cluster.kubeconfig.clone(),
    };
    let mut report = Report {
        seconds: args.seconds,
        seed: args.seed,
        ..Default::default()
    };
    let panics = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook_panics = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        hook_panics.lock().unwrap().push(info.to_string());
        default_hook(info);
    }));
    cluster
        .rt
        .block_on(run(args, &cluster, &sim, &kubectl, dir.path(), &mut report));
    for p in panics.lock().unwrap().iter() {
        report
            .failures
            .push(format!("a panic in the soak's process: {p}"));
    }
    report
}

/// The cleanup tests' cluster: three web nodes full of old versions, pods using some.
/// The preloader is created by `kpreload apply` at the start, as on a real cluster, so its
/// fields have owners from the first write.
fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cleanup/cluster.yaml")
}

async fn run(
    args: &Args,
    cluster: &support::Cluster,
    sim: &Arc<Sim>,
    kubectl: &support::Kubectl,
    dir: &Path,
    report: &mut Report,
) {
    sim.faults.set(between_rounds());
    let admin = support::kube_client(&cluster.kubeconfig).await;
    let watching = support::kube_client(&cluster.kubeconfig).await;
    let seen = state::follow(&watching, NAMESPACE);
    let mut rng = Rng(args.seed.max(1));
    let mut intent = Intent::default();
    let first = vec!["nginx:1.26".to_string()];
    let path = dir.join("pools-first.yaml");
    std::fs::write(&path, pools_file(&first)).unwrap();
    match kpreload(
        &cluster.kubeconfig,
        &["apply", "-f", path.to_str().unwrap()],
    )
    .await
    {
        Ok(said) if said.ok => intent.applied = Some(first),
        Ok(said) => {
            report
                .failures
                .push(format!("the first apply failed: {}", said.err));
            return;
        }
        Err(e) => {
            report.failures.push(format!("the first apply failed: {e}"));
            return;
        }
    }
    if let Err(e) = converge(&seen, &admin).await {
        report
            .failures
            .push(format!("the first lists did not converge: {e}"));
        return;
    }
    report.rss_first = rss_bytes();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < deadline && report.failures.len() < 5 {
        report.rounds += 1;
        let mut faults = pick_faults(&mut rng, report);
        faults.watch_seconds = faults.watch_seconds.or(between_rounds().watch_seconds);
        sim.faults.set(faults.clone());
        if faults.watch_gone > 0 {
            sim.store.compact();
        }
        for _ in 0..1 + rng.below(3) {
            if Instant::now() >= deadline {
                break;
            }
            act(
                &mut rng,
                cluster,
                sim,
                kubectl,
                &admin,
                dir,
                &mut intent,
                report,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
        sim.faults.set(between_rounds());
        let lifted = Instant::now();
        match converge(&seen, &admin).await {
            Ok(()) => {
                report.converge.push(lifted.elapsed());
                report.rss.push(rss_bytes());
                if let Err(e) = held(&admin, &mut intent, report).await {
                    report
                        .failures
                        .push(format!("round {}: {e}", report.rounds));
                }
            }
            Err(e) => report.failures.push(format!(
                "round {}: not converged {} s after lifting {faults:?}: {e}",
                report.rounds,
                CONVERGE.as_secs()
            )),
        }
    }
    report.rss_last = rss_bytes();
    // Flat after convergence: the last reading within a quarter (and 16 MB) of the highest
    // of the first half, where the store, the caches and the allocator have settled.
    let half = &report.rss[..report.rss.len() / 2];
    if let Some(settled) = half.iter().max()
        && report.rss_last > settled + settled / 4 + (16 << 20)
    {
        report.failures.push(format!(
            "memory grew after convergence: {:.1} MB in the first half, {:.1} MB at the end",
            *settled as f64 / 1e6,
            report.rss_last as f64 / 1e6
        ));
    }
    // A minute or more must have tried what the checks are about, or they proved nothing.
    if args.seconds >= 60 {
        let ok = |name: &str| report.actions.get(name).is_some_and(|(ok, _)| *ok > 0);
        let mut untried: Vec<&str> = ["apply", "cleanup", "other manager takes a field"]
            .into_iter()
            .filter(|n| !ok(n))
            .collect();
        if report.conflicts_reported == 0 {
            untried.push("an apply refused for the other manager's field");
        }
        if report.removed_by_cleanup == 0 {
            untried.push("a cleanup that removed something");
        }
        if !untried.is_empty() {
            report.failures.push(format!(
                "in {} s the soak never saw: {} (another seed, or more seconds)",
                args.seconds,
                untried.join(", ")
            ));
        }
    }
    finish(cluster, kubectl, &admin, &seen, dir, &mut intent, report).await;
    let s = seen.lock().unwrap();
    report.recoveries = s.recoveries;
    report.troubles = s.troubles.len();
}

/// The images the preloader pulls besides the helper (its init containers but cleanup).
fn pulled(ds: &DaemonSet) -> Vec<String> {
    ds.spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.name != "cleanup" && c.image.as_deref() != Some(HELPER))
        .filter_map(|c| c.image.clone())
        .collect()
}

/// After a convergence, with the faults lifted: no edit was lost. The preloader pulls what
/// the last apply that succeeded asked for (or a later failed one's, counted), the other
/// manager's annotation is its last, and a field it holds has its value.
async fn held(
    admin: &kube::Client,
    intent: &mut Intent,
    report: &mut Report,
) -> Result<(), String> {
    let ds = preloader(admin)
        .await
        .map_err(|e| format!("the preloader could not be read with the faults lifted: {e}"))?;
    let now = pulled(&ds);
    if Some(&now) == intent.attempted.as_ref() && Some(&now) != intent.applied.as_ref() {
        report.failed_but_written += 1;
        intent.applied = intent.attempted.take();
    } else if Some(&now) != intent.applied.as_ref() {
        return Err(format!(
            "the preloader pulls {now:?}; the last apply that succeeded asked for {:?}",
            intent.applied
        ));
    }
    let (cpu, rev) = cpu_and_rev(&ds);
    if let Some(want) = intent.other_rev
        && rev != Some(want.to_string())
    {
        return Err(format!(
            "the other manager's annotation is {rev:?}, it last wrote {want}"
        ));
    }
    if intent.other_holds_cpu && cpu.as_deref() != Some("10m") {
        return Err(format!(
            "the CPU request the other manager holds (10m) was overwritten: {cpu:?}"
        ));
    }
    Ok(())
}

/// Waits until every watch is live and what they hold is what the server holds.
async fn converge(seen: &Arc<Mutex<Seen>>, admin: &kube::Client) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + CONVERGE;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if state::all_live(seen) {
            match Picture::of_server(admin, NAMESPACE).await {
                Ok(server) => {
                    let watched = Picture::of_snapshot(&seen.lock().unwrap().snapshot);
                    if watched == server {
                        return Ok(());
                    }
                    last = watched.difference(&server);
                }
                Err(e) => last = format!("the server could not be read: {e}"),
            }
        } else {
            last = format!("not every watch is live: {:?}", state::trouble(seen));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last)
}

/// The end: the other manager gives back what it took, a last apply must succeed, and the
/// watches must equal what real kubectl reads.
async fn finish(
    cluster: &support::Cluster,
    kubectl: &support::Kubectl,
    admin: &kube::Client,
    seen: &Arc<Mutex<Seen>>,
    dir: &Path,
    intent: &mut Intent,
    report: &mut Report,
) {
    let rev = intent.other_rev.unwrap_or(0) + 1;
    let back = other_tool_writes(kubectl, rev, false).await;
    if !back.status.success() {
        report.failures.push(format!(
            "the other manager's last write failed: {}",
            String::from_utf8_lossy(&back.stderr)
        ));
        return;
    }
    intent.other_holds_cpu = false;
    let images = intent
        .applied
        .clone()
        .unwrap_or_else(|| vec!["nginx:1.26".into()]);
    let file = dir.join("pools-last.yaml");
    std::fs::write(&file, pools_file(&images)).unwrap();
    match kpreload(
        &cluster.kubeconfig,
        &["apply", "-f", file.to_str().unwrap()],
    )
    .await
    {
        Ok(s) if s.ok => {}
        Ok(s) => report
            .failures
            .push(format!("the last apply, with no fault, failed: {}", s.err)),
        Err(e) => report.failures.push(e),
    }
    match preloader(admin).await {
        Ok(ds) => {
            let (cpu, r) = cpu_and_rev(&ds);
            if r != Some(rev.to_string()) {
                report.failures.push(format!(
                    "the other manager's annotation was lost: {r:?}, wrote {rev}"
                ));
            }
            if cpu.as_deref() != Some("5m") {
                report.failures.push(format!(
                    "kpreload's CPU request is {cpu:?} after its last apply"
                ));
            }
            let now = pulled(&ds);
            if now != images {
                report.failures.push(format!(
                    "the preloader pulls {now:?}, the last apply asked for {images:?}"
                ));
            }
        }
        Err(e) => report
            .failures
            .push(format!("the preloader could not be read at the end: {e}")),
    }
    if let Err(e) = converge(seen, admin).await {
        report
            .failures
            .push(format!("not converged at the end: {e}"));
        return;
    }
    // Real kubectl's reading, a few times over if the cluster moved in between.
    let mut last = String::new();
    for _ in 0..20 {
        let path = kubectl.path.clone();
        let kubeconfig = kubectl.kubeconfig.clone();
        let read = tokio::task::spawn_blocking(move || {
            let k = support::Kubectl { path, kubeconfig };
            let get = |args: &[&str]| serde_json::from_str::<Value>(&k.ok(args)).unwrap();
            (
                get(&["get", "nodes", "-o", "json"]),
                get(&["get", "daemonsets", "-n", NAMESPACE, "-o", "json"]),
                get(&["get", "pods", "-n", NAMESPACE, "-o", "json"]),
                get(&["get", "pods", "-A", "-o", "json"]),
            )
        })
        .await
        .unwrap();
        let theirs = Picture::of_kubectl(&read.0, &read.1, &read.2, &read.3);
        let ours = Picture::of_snapshot(&seen.lock().unwrap().snapshot);
        if ours == theirs {
            return;
        }
        last = ours.difference(&theirs);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    report.failures.push(format!(
        "the watches differ from kubectl get -o json: {last}"
    ));
}

/// The sentence a refusal leads with: kpreload's own line when it printed one (it may be
/// preceded by progress lines), else the first line said; a line ending in ':' takes the
/// next one with it.
fn headline(said: &str) -> String {
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("kpreload:"))
        .unwrap_or(0);
    match (lines.get(at), lines.get(at + 1)) {
        (Some(l), Some(next)) if l.ends_with(':') => format!("{l} {next}"),
        (Some(l), _) => l.to_string(),
        (None, _) => String::new(),
    }
}
