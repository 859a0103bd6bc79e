//! `nodes/{name}/proxy/…`: the two kubelet endpoints kpreload reads, answered as a kubelet
//! answers them — `configz` (its configuration) and `stats/summary` (file systems).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::server::{Sim, json_response};
use super::status::{ApiError, ApiResult};
use super::store::now_rfc3339;

pub fn serve(sim: &Sim, node: &str, rest: &[&str]) -> ApiResult<Response> {
    let stored = sim
        .store
        .get("Node", "", node)
        .ok_or_else(|| ApiError::not_found("", "nodes", node))?;
    let runtime = sim.world.node(node);
    let (kubelet, disk, used) = match &runtime {
        Some(r) => {
            let used = r
                .images
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .used_bytes();
            (r.kubelet.clone(), r.disk, used)
        }
        None => {
            let used = stored["status"]["images"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["sizeBytes"].as_u64())
                .sum();
            let d = &sim.simulation.node_defaults;
            (d.kubelet.clone(), d.disk, used)
        }
    };
    match rest {
        ["configz"] => Ok(json_response(StatusCode::OK, &configz(&kubelet))),
        ["stats", "summary"] => Ok(json_response(StatusCode::OK, &summary(node, disk, used))),
        _ => Err(ApiError::path_not_found()),
    }
}

fn configz(k: &super::scenario::KubeletConfig) -> Value {
    json!({"kubeletconfig": {
        "enableServer": true,
        "staticPodPath": "/etc/kubernetes/manifests",
        "syncFrequency": "1m0s",
        "imageMinimumGCAge": k.image_minimum_gc_age,
        "imageMaximumGCAge": k.image_maximum_gc_age,
        "imageGCHighThresholdPercent": k.image_gc_high_threshold_percent,
        "imageGCLowThresholdPercent": k.image_gc_low_threshold_percent,
        "serializeImagePulls": k.serialize_image_pulls,
        "maxParallelImagePulls": k.max_parallel_image_pulls,
        "nodeStatusMaxImages": k.node_status_max_images,
        "evictionHard": {"imagefs.available": "15%", "memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "cgroupDriver": "systemd",
        "maxPods": 110,
    }})
}

fn fs(capacity: u64, used: u64) -> Value {
    json!({
        "time": now_rfc3339(),
        "availableBytes": capacity.saturating_sub(used),
        "capacityBytes": capacity,
        "usedBytes": used,
        "inodesFree": 6_000_000,
        "inodes": 6_553_600,
        "inodesUsed": 553_600,
    })
}

/// One file system holds the images, as on most nodes (kind, EKS, GKE defaults).
fn summary(node: &str, capacity: u64, used: u64) -> Value {
    json!({
        "node": {
            "nodeName": node,
            "startTime": now_rfc3339(),
            "fs": fs(capacity, used),
            "runtime": {"imageFs": fs(capacity, used), "containerFs": fs(capacity, used)},
        },
        "pods": [],
    })
}
