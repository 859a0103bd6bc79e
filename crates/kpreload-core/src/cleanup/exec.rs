//! Where kpreload runs the runtime's commands on a node: the preloader's privileged
//! container in a `hostPID` pod, running; and, when it is not running, why.

use k8s_openapi::api::apps::v1::DaemonSet;

use super::ExecTarget;
use crate::objects::Pod;

/// The preloader's container kpreload can exec into on a node: privileged, in a `hostPID`
/// pod, running.
pub(crate) fn exec_target(ds: &DaemonSet, pod: Option<&Pod>) -> Result<ExecTarget, String> {
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    let spec = ds.spec.template.spec.as_ref();
    let host_pid = spec.and_then(|s| s.host_pid).unwrap_or(false);
    // Its main containers, and its sidecars (init containers that keep running: the
    // rendered cleanup container is one, so it runs while the images pull).
    let privileged: Vec<&str> = spec
        .into_iter()
        .flat_map(|s| {
            s.containers.iter().chain(
                s.init_containers
                    .iter()
                    .flatten()
                    .filter(|c| crate::render::is_sidecar(c)),
            )
        })
        .filter(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false)
        })
        .map(|c| c.name.as_str())
        .collect();
    let container = privileged
        .iter()
        .find(|c| **c == crate::render::CLEANUP_CONTAINER)
        .or(privileged.first());
    let (true, Some(container)) = (host_pid, container) else {
        return Err(format!(
            "the preloader {name} has no privileged container in a hostPID pod to run the \
             runtime's tools from; render it with kpreload"
        ));
    };
    let Some(pod) = pod else {
        return Err(format!("the preloader {name} has no pod on this node yet"));
    };
    let state = pod
        .status
        .iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .find(|s| s.name == *container)
        .and_then(|s| s.state.as_ref());
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    if state.is_none_or(|st| st.running.is_none()) {
        return Err(format!(
            "the preloader's container {container} in pod {pod_name} is not running: {}",
            why_not_running(pod, state)
        ));
    }
    Ok(ExecTarget {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod_name,
        container: container.to_string(),
    })
}

/// Why a container is not running, in the kubelet's words where it has them.
fn why_not_running(
    pod: &Pod,
    state: Option<&k8s_openapi::api::core::v1::ContainerState>,
) -> String {
    let waiting = state.and_then(|s| s.waiting.as_ref());
    let terminated = state.and_then(|s| s.terminated.as_ref());
    let reason = waiting
        .and_then(|w| w.reason.as_deref())
        .unwrap_or_default();
    if let Some(t) = terminated {
        return format!(
            "it exited ({}, code {}){}",
            t.reason.as_deref().unwrap_or("Error"),
            t.exit_code,
            t.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
    }
    if matches!(reason, "" | "PodInitializing" | "ContainerCreating") {
        let inits = pod.one_shot_init_statuses();
        let done = inits
            .iter()
            .filter(|s| {
                s.state
                    .as_ref()
                    .and_then(|st| st.terminated.as_ref())
                    .is_some_and(|t| t.exit_code == 0)
            })
            .count();
        if done < inits.len() {
            return format!(
                "the pod is still pulling its images ({done} of {} init containers done); \
                 try again when the pool is complete",
                inits.len()
            );
        }
        return "it is starting; try again in a moment".into();
    }
    let message = waiting
        .and_then(|w| w.message.as_deref())
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let what = match reason {
        "ErrImagePull" | "ImagePullBackOff" => {
            " (its image cannot be pulled: check the name, the registry and the pool's pull secrets)"
        }
        "CrashLoopBackOff" => " (it keeps exiting: kubectl logs --previous tells why)",
        "CreateContainerConfigError" | "CreateContainerError" => {
            " (the kubelet cannot create it: kubectl describe pod tells why)"
        }
        _ => "",
    };
    format!("{reason}{what}{message}")
}
