//! A tiny scheduler: binds each pod without a node to the least-loaded node it may run on
//! (a DaemonSet pod to the node its `matchFields` names), with the scheduler's events.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::controller::Placement;
use super::record::{About, Source, event};
use crate::resources::stored;
use crate::server::Sim;
use crate::store::{name_of, now_rfc3339, ns_of, uid_of};

fn pinned_node(pod: &Value) -> Option<&str> {
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        .as_array()?
        .iter()
        .flat_map(|t| t["matchFields"].as_array().into_iter().flatten())
        .find(|f| f["key"] == "metadata.name" && f["operator"] == "In")
        .and_then(|f| f["values"][0].as_str())
}

fn condition(status: &str, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut c =
        json!({"type": "PodScheduled", "status": status, "lastTransitionTime": now_rfc3339()});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

pub fn schedule(sim: &Sim) {
    let store = &sim.store;
    let unbound = store.unbound_pods();
    let waiting: Vec<_> = unbound
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    if waiting.is_empty() {
        return;
    }
    let (_, nodes) = store.list("Node", None);
    let by_name: HashMap<&str, &crate::store::Obj> = nodes
        .iter()
        .map(|n| (n["metadata"]["name"].as_str().unwrap_or_default(), n))
        .collect();
    let mut load: HashMap<String, usize> = store.pod_counts_by_node();
    let pods_res = stored("Pod");
    for pod in waiting {
        let ns = ns_of(pod).to_string();
        let name = name_of(pod).to_string();
        let uid = uid_of(pod).to_string();
        let placement = Placement::of(&pod["spec"]);
        let candidates: Vec<&str> = match pinned_node(pod) {
            // A DaemonSet pod: its controller chose the node; only taints can refuse it.
            Some(want) => by_name
                .get(want)
                .filter(|n| placement.tolerates(n))
                .map(|_| want)
                .into_iter()
                .collect(),
            None => nodes
                .iter()
                .filter(|n| placement.allows(n))
                .map(|n| n["metadata"]["name"].as_str().unwrap_or_default())
                .collect(),
        };
        let chosen = candidates
            .iter()
            .min_by_key(|n| (load.get(**n).copied().unwrap_or(0), n.to_string()))
            .map(|n| n.to_string());
        let about = About {
            namespace: &ns,
            name: &name,
            uid: &uid,
            field_path: None,
        };
        let source = Source {
            component: "default-scheduler",
            host: None,
        };
        match chosen {
            Some(node) => {
                let bound = store.update(pods_res, &ns, &name, false, |old| {
                    let mut new = old.clone();
                    new["spec"]["nodeName"] = json!(node);
                    let mut conditions = new["status"]["conditions"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    conditions.retain(|c| c["type"] != "PodScheduled");
                    conditions.push(condition("True", None, None));
                    new["status"]["conditions"] = json!(conditions);
                    Ok(new)
                });
                if bound.is_ok() {
                    *load.entry(node.clone()).or_default() += 1;
                    event(
                        store,
                        &about,
                        &source,
                        false,
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{name} to {node}"),
                    );
                }
            }
            None => {
                let already = pod["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "PodScheduled" && c["status"] == "False");
                if already {
                    continue;
                }
                let message = format!(
                    "0/{} nodes are available: {} node(s) didn't match Pod's node affinity/selector or had untolerated taints.",
                    nodes.len(),
                    nodes.len()
                );
                let _ = store.update(pods_res, &ns, &name, false, |old| {
                    let mut new = old.clone();
                    new["status"]["conditions"] =
                        json!([condition("False", Some("Unschedulable"), Some(&message))]);
                    new["status"]["phase"] = json!("Pending");
                    Ok(new)
                });
                event(store, &about, &source, true, "FailedScheduling", &message);
            }
        }
    }
}
