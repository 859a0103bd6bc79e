//! The scenario's workloads: a new pod every `every` simulated seconds, as a Deployment's
//! rollouts or a CronJob's runs would make them, placed by the scheduler and run by the
//! kubelets like any pod; the oldest beyond `keep` deleted (the images they used become
//! unused then, and the image GC may take them). Their kubelet events are what a hit rate is
//! read from.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::resources::stored;
use crate::scenario::Workload;
use crate::server::Sim;

/// Each workload's count of pods started and when the next is due.
#[derive(Debug, Default)]
pub struct Runs {
    next: Vec<(u64, Option<Instant>)>,
}

/// Simulated seconds in real time, at most a year (a tiny speed must not overflow).
fn real(sim_seconds: f64, speed: f64) -> Duration {
    Duration::try_from_secs_f64(sim_seconds / speed)
        .unwrap_or(Duration::MAX)
        .min(Duration::from_secs(365 * 24 * 3600))
}

/// When the next workload pod is due (None: no workloads).
pub fn next_due(sim: &Sim) -> Option<Duration> {
    let runs = sim
        .world
        .workloads
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    runs.next
        .iter()
        .filter_map(|(_, at)| *at)
        .min()
        .map(|at| at.saturating_duration_since(Instant::now()))
}

/// Starts the pods that are due.
pub fn pass(sim: &Sim) {
    let workloads = &sim.simulation.workloads;
    if workloads.is_empty() {
        return;
    }
    let mut due: Vec<(usize, u64)> = Vec::new();
    {
        let mut runs = sim
            .world
            .workloads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let speed = sim.simulation.speed;
        if runs.next.len() != workloads.len() {
            runs.next = workloads
                .iter()
                .map(|w| (0, Some(now + real(w.after, speed))))
                .collect();
        }
        for (i, w) in workloads.iter().enumerate() {
            let (count, at) = &mut runs.next[i];
            if at.is_none_or(|t| t <= now) {
                *count += 1;
                *at = Some(now + real(w.every, speed));
                due.push((i, *count));
            }
        }
    }
    for (i, n) in due {
        if roll(sim, &workloads[i]) {
            start(sim, &workloads[i], n);
        }
    }
}

fn start(sim: &Sim, w: &Workload, n: u64) {
    let store = &sim.store;
    if store.get("Namespace", "", &w.namespace).is_none() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": w.namespace}, "status": {"phase": "Active"}});
        let _ = store.create(stored("Namespace"), ns, false);
    }
    let containers: Vec<_> = w
        .images
        .iter()
        .enumerate()
        .map(|(k, image)| {
            json!({"name": format!("c{k}"), "image": image.written(),
                "command": ["sh", "-c", "exec sleep infinity"]})
        })
        .collect();
    let mut spec = json!({"containers": containers, "restartPolicy": "Always"});
    if !w.node_selector.is_empty() {
        spec["nodeSelector"] = json!(w.node_selector);
    }
    if !w.tolerations.is_empty() {
        spec["tolerations"] = json!(w.tolerations);
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{}-{n}", w.name), "namespace": w.namespace,
            "labels": {"app": w.name}},
        "spec": spec, "status": {"phase": "Pending"}});
    let _ = store.create(stored("Pod"), pod, false);
}

/// The workload's pods, oldest first, each with whether it runs.
fn pods_of(sim: &Sim, w: &Workload) -> Vec<(u64, String, bool)> {
    let (_, pods) = sim.store.list("Pod", Some(&w.namespace));
    let mut out: Vec<(u64, String, bool)> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == w.name.as_str())
        .filter_map(|p| {
            let name = p["metadata"]["name"].as_str()?;
            let n = name.strip_prefix(&format!("{}-", w.name))?.parse().ok()?;
            Some((n, name.to_string(), p["status"]["phase"] == "Running"))
        })
        .collect();
    out.sort();
    out
}

/// As a rollout does: a new pod only while fewer than `keep` are still starting, and the
/// oldest beyond `keep` deleted once a newer one runs.
fn roll(sim: &Sim, w: &Workload) -> bool {
    let pods = pods_of(sim, w);
    let starting = pods.iter().filter(|(_, _, running)| !running).count();
    let running: Vec<&(u64, String, bool)> = pods.iter().filter(|p| p.2).collect();
    let mut extra = pods.len().saturating_sub(w.keep);
    for (_, name, _) in running.iter().take(running.len().saturating_sub(1)) {
        if extra == 0 {
            break;
        }
        let _ = sim.store.delete(stored("Pod"), &w.namespace, name, false);
        extra -= 1;
    }
    starting < w.keep
}
