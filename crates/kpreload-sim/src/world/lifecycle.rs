//! Node heartbeats and the node lifecycle controller: each kubelet refreshes its Ready
//! condition, and a node that stops reporting (the `silentNodes` fault) turns Unknown after
//! the grace period, with the `unreachable` taints, as the control plane marks it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::resources::stored;
use crate::server::Sim;
use crate::store::now_rfc3339;

/// How often a kubelet posts its status (real time: it is not part of any story's pace).
const HEARTBEAT: Duration = Duration::from_secs(60);
/// node-monitor-grace-period, in simulated seconds.
const GRACE_SECONDS: f64 = 40.0;
/// At most this many heartbeats a pass, so 5,000 nodes are spread over time.
const PER_PASS: usize = 200;

#[derive(Default)]
pub struct Lifecycle {
    beats: Mutex<HashMap<String, Instant>>,
    silent_since: Mutex<HashMap<String, Instant>>,
}

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

fn ready_condition(
    status: &str,
    reason: &str,
    message: &str,
    heartbeat: &str,
    transition: &str,
) -> Value {
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastHeartbeatTime": heartbeat, "lastTransitionTime": transition})
}

pub fn pass(sim: &Sim) {
    let silent: Vec<String> = sim.faults.silent_nodes();
    let now = Instant::now();
    let (_, nodes) = sim.store.list("Node", None);
    let lifecycle = &sim.world.lifecycle;
    let mut beats = lifecycle.beats.lock().unwrap_or_else(|p| p.into_inner());
    let mut since = lifecycle
        .silent_since
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    since.retain(|n, _| silent.contains(n));
    let grace = Duration::from_secs_f64(GRACE_SECONDS / sim.simulation.speed);
    let mut budget = PER_PASS;
    for node in nodes {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ready = node["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .cloned()
            .unwrap_or(Value::Null);
        if silent.contains(&name) {
            let started = *since.entry(name.clone()).or_insert(now);
            if now.duration_since(started) >= grace && ready["status"] != "Unknown" {
                mark(sim, &name, false, &ready);
            }
            continue;
        }
        let recovering = ready["status"] == "Unknown";
        let due = beats
            .get(&name)
            .is_none_or(|t| now.duration_since(*t) >= HEARTBEAT);
        if recovering || (due && budget > 0) {
            if !recovering {
                budget -= 1;
            }
            beats.insert(name.clone(), now);
            mark(sim, &name, true, &ready);
        }
    }
}

/// Posts the node's Ready condition: True (a heartbeat), or Unknown (the node went silent).
fn mark(sim: &Sim, name: &str, alive: bool, ready: &Value) {
    let now = now_rfc3339();
    let _ = sim.store.update(stored("Node"), "", name, false, |old| {
        let mut new = old.clone();
        let was = ready["status"].as_str().unwrap_or_default();
        let (status, reason, message) = if alive {
            ("True", "KubeletReady", "kubelet is posting ready status")
        } else {
            (
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
        };
        let transition = if was == status {
            ready["lastTransitionTime"]
                .as_str()
                .unwrap_or(&now)
                .to_string()
        } else {
            now.clone()
        };
        let heartbeat = if alive {
            now.clone()
        } else {
            ready["lastHeartbeatTime"]
                .as_str()
                .unwrap_or(&now)
                .to_string()
        };
        let mut conditions = new["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c["type"] != "Ready");
        conditions.push(ready_condition(
            status,
            reason,
            message,
            &heartbeat,
            &transition,
        ));
        new["status"]["conditions"] = json!(conditions);
        let mut taints = new["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        taints.retain(|t| t["key"] != UNREACHABLE);
        if !alive {
            for effect in ["NoSchedule", "NoExecute"] {
                taints.push(json!({"key": UNREACHABLE, "effect": effect, "timeAdded": now}));
            }
        }
        if taints.is_empty() {
            if let Some(spec) = new["spec"].as_object_mut() {
                spec.remove("taints");
            }
        } else {
            new["spec"]["taints"] = json!(taints);
        }
        Ok(new)
    });
}
