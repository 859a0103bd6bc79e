//! `pods/{name}/exec` over WebSocket, as kubectl and kube-rs speak it
//! (`v5.channel.k8s.io`, `v4.channel.k8s.io`): a byte of channel, then data — 1 stdout,
//! 2 stderr, 3 the Status with the exit code.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use super::server::{Sim, error_response};
use super::status::ApiError;
use super::world::runtime_cli::{self, Output};

/// `/api/v1/namespaces/{ns}/pods/{name}/exec` → (ns, name).
pub fn target(path: &str) -> Option<(String, String)> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    match seg.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, "exec"] => {
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

pub async fn serve(sim: Arc<Sim>, mut parts: Parts, ns: String, name: String) -> Response {
    let query = parts.uri.query().unwrap_or("").to_string();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());

    let Some(pod) = sim.store.get("Pod", &ns, &name) else {
        return error_response(&ApiError::not_found("", "pods", &name));
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    // The API server accepts any of the pod's containers, init containers included; only
    // a running one can be reached (a sidecar runs beside the others).
    let inits: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match container {
        Some(c) => c,
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return error_response(&ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if !containers.contains(&container) && !inits.contains(&container) {
        return error_response(&ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .chain(pod["status"]["initContainerStatuses"].as_array())
        .flatten()
        .any(|s| s["name"] == container.as_str() && !s["state"]["running"].is_null());
    if !running {
        return error_response(&ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    if command.is_empty() {
        return error_response(&ApiError::bad_request(
            "you must specify at least 1 command",
        ));
    }
    let node_name = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if sim.faults.exec_unreachable(&node_name) {
        return error_response(&ApiError::internal(format!(
            "error dialing backend: dial tcp {node_name}:10250: i/o timeout"
        )));
    }
    let Some(node) = sim.world.node(&node_name) else {
        return error_response(&ApiError::bad_request(format!(
            "the kubelet of node {node_name} is not running"
        )));
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(_) => return error_response(&ApiError::bad_request("Upgrade request required")),
    };
    let host = runtime_cli::can_reach_host(&pod, &container);
    sim.world.count_exec(&node_name);
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |mut socket| async move {
            let Output { stdout, stderr, code } = runtime_cli::run(&sim, &node, host, &command);
            for (channel, data) in [(1u8, stdout), (2u8, stderr)] {
                if data.is_empty() {
                    continue;
                }
                let mut frame = vec![channel];
                frame.extend_from_slice(data.as_bytes());
                if socket.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            let status = if code == 0 {
                json!({"metadata": {}, "status": "Success"})
            } else {
                json!({"metadata": {}, "status": "Failure",
                       "message": format!("command terminated with non-zero exit code: exit status {code}"),
                       "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
            };
            let mut frame = vec![3u8];
            frame.extend_from_slice(status.to_string().as_bytes());
            let _ = socket.send(Message::Binary(frame.into())).await;
            // A normal closure: the client reads it as the end of every stream.
            let close = CloseFrame {
                code: 1000,
                reason: "".into(),
            };
            let _ = socket.send(Message::Close(Some(close))).await;
        })
}
