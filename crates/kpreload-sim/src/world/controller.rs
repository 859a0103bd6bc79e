//! The DaemonSet controller: one pod per eligible node, rolling updates when the template
//! changes, and the status `kubectl rollout status` reads.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::resources::stored;
use crate::server::Sim;
use crate::store::{Obj, name_of, ns_of};

pub use crate::rules::placement::Placement;

/// Whether a DaemonSet with this pod template runs a pod on the node.
#[cfg(test)]
pub fn eligible(spec: &Value, node: &Value) -> bool {
    Placement::for_daemonset(spec).allows(node)
}

/// The template's hash, as the `controller-revision-hash` label carries it.
pub fn template_hash(ds: &Value) -> String {
    let text = ds["spec"]["template"].to_string();
    let digest = super::images::digest_of(&text, "template");
    // Ten characters from the API server's alphabet, like a real revision hash.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = u64::from_str_radix(&digest[..16], 16).unwrap_or(0);
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn max_unavailable(ds: &Value, desired: usize) -> usize {
    let v = &ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"];
    let n = match v {
        Value::Number(n) => n.as_u64().unwrap_or(1) as usize,
        Value::String(s) if s.ends_with('%') => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            (desired as f64 * pct / 100.0).ceil() as usize
        }
        Value::String(s) => s.parse().unwrap_or(1),
        _ => 1,
    };
    n.max(1)
}

pub fn reconcile(sim: &Sim) {
    let store = &sim.store;
    let (_, daemonsets) = store.list("DaemonSet", None);
    let (_, nodes) = store.list("Node", None);
    let owned = store.pods_by_daemonset();
    let pods_res = stored("Pod");
    // Pods whose DaemonSet is gone are garbage.
    let live: Vec<String> = daemonsets
        .iter()
        .map(|d| {
            d["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for (uid, orphans) in &owned {
        if !live.contains(uid) {
            for p in orphans {
                let _ = store.delete(pods_res, ns_of(p), name_of(p), false);
            }
        }
    }
    let by_name: std::collections::HashMap<&str, &Obj> =
        nodes.iter().map(|n| (name_of(n), n)).collect();
    for ds in &daemonsets {
        let uid = ds["metadata"]["uid"].as_str().unwrap_or_default();
        reconcile_one(
            sim,
            ds,
            owned.get(uid).map(Vec::as_slice).unwrap_or_default(),
            &nodes,
            &by_name,
        );
    }
}

/// The node a DaemonSet pod is for: its binding, or the node its affinity names.
fn target_node(pod: &Value) -> String {
    if let Some(n) = pod["spec"]["nodeName"].as_str() {
        return n.to_string();
    }
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
        ["matchFields"][0]["values"][0]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn reconcile_one(
    sim: &Sim,
    ds: &Obj,
    pods: &[Obj],
    nodes: &[Obj],
    by_name: &std::collections::HashMap<&str, &Obj>,
) {
    let store = &sim.store;
    let pods_res = stored("Pod");
    let ns = ns_of(ds);
    let ds_name = name_of(ds);
    let hash = template_hash(ds);
    let placement = Placement::for_daemonset(&ds["spec"]["template"]["spec"]);
    let eligible_nodes: Vec<&str> = nodes
        .iter()
        .filter(|n| placement.allows(n))
        .map(|n| name_of(n))
        .collect();
    let is_eligible: std::collections::HashSet<&str> = eligible_nodes.iter().copied().collect();
    let mut by_node: BTreeMap<String, Vec<&Obj>> = BTreeMap::new();
    for p in pods {
        by_node.entry(target_node(p)).or_default().push(p);
    }

    // Pods on nodes that are no longer eligible are misscheduled. As Kubernetes'
    // `NodeShouldRunDaemonPod` says, a pod whose node still matches and whose NoExecute taints
    // it tolerates keeps running (a NoSchedule taint only stops new pods); the others go.
    let mut misscheduled = 0;
    for (node, ps) in &by_node {
        if !is_eligible.contains(node.as_str()) {
            misscheduled += ps.len();
            let keeps = by_name
                .get(node.as_str())
                .is_some_and(|n| placement.keeps(n));
            if !keeps {
                for p in ps {
                    let _ = store.delete(pods_res, ns_of(p), name_of(p), false);
                }
            }
        }
    }

    // One pod per eligible node; old revisions replaced at most maxUnavailable at a time.
    let desired = eligible_nodes.len();
    let budget = max_unavailable(ds, desired);
    let unavailable = eligible_nodes
        .iter()
        .filter(|n| {
            !by_node
                .get(**n)
                .is_some_and(|ps| ps.iter().any(|p| pod_ready(p)))
        })
        .count();
    let mut can_take_down = budget.saturating_sub(unavailable);
    for node in &eligible_nodes {
        let existing = by_node.get(*node).cloned().unwrap_or_default();
        if existing.is_empty() {
            create_pod(sim, ds, node, &hash);
            continue;
        }
        for p in &existing {
            let current = p["metadata"]["labels"]["controller-revision-hash"] == hash.as_str();
            if current {
                continue;
            }
            // An old pod that is not ready anyway costs nothing to replace.
            if !pod_ready(p) || can_take_down > 0 {
                if pod_ready(p) {
                    can_take_down -= 1;
                }
                let _ = store.delete(pods_res, ns_of(p), name_of(p), false);
            }
        }
    }

    // Status, from the pods it controls as they are now.
    let uid = ds["metadata"]["uid"].as_str().unwrap_or_default();
    let mine = store.pods_of_daemonset(uid);
    let on_eligible: Vec<&Obj> = mine
        .iter()
        .filter(|p| is_eligible.contains(target_node(p).as_str()))
        .collect();
    let ready = on_eligible.iter().filter(|p| pod_ready(p)).count();
    let updated = on_eligible
        .iter()
        .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == hash.as_str())
        .count();
    let status = json!({
        "currentNumberScheduled": on_eligible.len(),
        "desiredNumberScheduled": desired,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": ready,
        "numberUnavailable": desired.saturating_sub(ready),
        "observedGeneration": ds["metadata"]["generation"].as_i64().unwrap_or(1),
    });
    if ds["status"] != status {
        let res = stored("DaemonSet");
        let _ = store.update(res, ns, ds_name, false, |old| {
            let mut new = old.clone();
            new["status"] = status.clone();
            Ok(new)
        });
    }
}

fn create_pod(sim: &Sim, ds: &Value, node: &str, hash: &str) {
    let ns = ns_of(ds);
    let ds_name = name_of(ds);
    let template = &ds["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels["controller-revision-hash"] = json!(hash);
    labels["pod-template-generation"] = json!(
        ds["metadata"]["generation"]
            .as_i64()
            .unwrap_or(1)
            .to_string()
    );
    let mut spec = template["spec"].clone();
    // The DaemonSet controller pins each pod to its node with a matchFields term.
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    });
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    tolerations.extend(crate::rules::placement::daemonset_tolerations(&spec));
    spec["tolerations"] = json!(tolerations);
    if spec["restartPolicy"].is_null() {
        spec["restartPolicy"] = json!("Always");
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{ds_name}-"),
            "namespace": ns,
            "labels": labels,
            "annotations": template["metadata"]["annotations"].clone(),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds_name,
                "uid": ds["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true
            }],
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    });
    let mut pod = pod;
    if pod["metadata"]["annotations"].is_null()
        && let Some(m) = pod["metadata"].as_object_mut()
    {
        m.remove("annotations");
    }
    let _ = sim.store.create(stored("Pod"), pod, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eligibility_follows_selectors_affinity_and_taints() {
        let spec = json!({"containers": [{"name": "c"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "workload-type", "operator": "In", "values": ["ml"]}]}]}}},
            "tolerations": [{"key": "workload", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]});
        let ml = json!({"metadata": {"labels": {"workload-type": "ml"}}, "spec": {"taints": [{"key": "workload", "value": "ml", "effect": "NoSchedule"}]}});
        let web = json!({"metadata": {"labels": {"workload-type": "web"}}, "spec": {"taints": [{"key": "workload", "value": "web", "effect": "NoSchedule"}]}});
        let plain_ml = json!({"metadata": {"labels": {"workload-type": "ml"}}, "spec": {}});
        assert!(eligible(&spec, &ml));
        assert!(!eligible(&spec, &web));
        assert!(eligible(&spec, &plain_ml));
        let everywhere =
            json!({"containers": [{"name": "c"}], "tolerations": [{"operator": "Exists"}]});
        assert!(eligible(&everywhere, &web));
        let nowhere_tainted = json!({"containers": [{"name": "c"}]});
        assert!(!eligible(&nowhere_tainted, &web));
    }

    #[test]
    fn max_unavailable_forms() {
        assert_eq!(max_unavailable(&json!({}), 10), 1);
        assert_eq!(
            max_unavailable(
                &json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 3}}}}),
                10
            ),
            3
        );
        assert_eq!(
            max_unavailable(
                &json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}}}}),
                25
            ),
            3
        );
        assert_eq!(
            max_unavailable(
                &json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}}}}),
                3
            ),
            1
        );
    }
}
