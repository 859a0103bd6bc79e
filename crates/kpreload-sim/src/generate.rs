//! Objects the simulator makes up: the nodes and pods of a scenario's `generate`, and the
//! statuses of pods a scenario declares running.

use serde_json::{Value, json};

use super::scenario::{Generate, Simulation};
use crate::rules::reference::ImageRef;

pub fn generated_node(g: &Generate, i: usize, sim: &Simulation) -> Value {
    let name = format!("{}-{i}", g.pool);
    let mut labels = g.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    let images: Vec<Value> = g
        .images
        .iter()
        .map(|r| json!({"names": [r.normalized()], "sizeBytes": sim.size_of(r).unwrap_or(0)}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": g.taints},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": sim.node_defaults.disk.to_string()},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": sim.node_defaults.disk.to_string()},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "nodeInfo": node_info(),
            "images": images,
        }
    })
}

/// A pod a scenario declares Running gets the statuses a kubelet would report for it, so
/// that it reads as running and ready (nobody pulls or starts it again).
pub fn complete_running_status(pod: &mut Value) {
    if pod["status"]["phase"] != "Running" || !pod["status"]["containerStatuses"].is_null() {
        return;
    }
    let started = super::store::now_rfc3339();
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let image = c["image"].as_str().unwrap_or_default();
            let image_id = ImageRef::parse(image)
                .map(|r| format!("{}@sha256:{}", r.name(), super::world::images::digest_of(&r.normalized(), "manifest")))
                .unwrap_or_default();
            json!({"name": c["name"], "image": image, "imageID": image_id, "ready": true,
                   "restartCount": 0, "started": true, "state": {"running": {"startedAt": started}}})
        })
        .collect();
    pod["status"]["containerStatuses"] = json!(statuses);
    pod["status"]["conditions"] = json!(
        ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
            .iter()
            .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": started}))
            .collect::<Vec<_>>()
    );
}

pub fn generated_pod(g: &Generate, node: usize, j: usize) -> Value {
    let node_name = format!("{}-{node}", g.pool);
    let image = &g.images[j % g.images.len()];
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("{node_name}-w{j}"), "namespace": "workloads", "labels": {"app": format!("{}-w{j}", g.pool), "pool": g.pool}},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": image.written()}]},
        "status": {"phase": "Running"}
    })
}

pub fn node_info() -> Value {
    json!({
        "machineID": "", "systemUUID": "", "bootID": "",
        "kernelVersion": "6.10.14", "osImage": "Debian GNU/Linux 12 (bookworm)",
        "containerRuntimeVersion": "containerd://2.1.1", "kubeletVersion": "v1.37.0",
        "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"
    })
}
