//! What the watches keep of each object: only what kpreload reads, so 5,000 nodes and
//! 100,000 pods fit in little memory.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Event, Node, NodeCondition, Pod, PodSpec, PodStatus,
};
use kube::api::ObjectMeta;

fn meta(m: &mut ObjectMeta) {
    m.managed_fields = None;
    m.annotations = None;
    m.generate_name = None;
    m.finalizers = None;
}

pub fn node(n: &mut Node) {
    meta(&mut n.metadata);
    if let Some(spec) = &mut n.spec {
        spec.pod_cidr = None;
        spec.pod_cidrs = None;
        spec.provider_id = None;
    }
    if let Some(status) = &mut n.status {
        status.addresses = None;
        status.daemon_endpoints = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
        status.runtime_handlers = None;
        status.features = None;
        status.declared_features = None;
        if let Some(c) = &mut status.conditions {
            c.retain(|c| c.type_ == "Ready" || c.type_ == "DiskPressure");
            for c in c.iter_mut() {
                *c = NodeCondition {
                    type_: std::mem::take(&mut c.type_),
                    status: std::mem::take(&mut c.status),
                    reason: c.reason.take(),
                    message: c.message.take(),
                    last_transition_time: c.last_transition_time.take(),
                    last_heartbeat_time: None,
                };
            }
        }
    }
}

fn container(c: &Container) -> Container {
    Container {
        name: c.name.clone(),
        image: c.image.clone(),
        ..Default::default()
    }
}

fn container_status(s: &ContainerStatus) -> ContainerStatus {
    ContainerStatus {
        name: s.name.clone(),
        state: s.state.clone(),
        ready: s.ready,
        restart_count: s.restart_count,
        image_id: s.image_id.clone(),
        ..Default::default()
    }
}

pub fn pod(p: &mut Pod) {
    meta(&mut p.metadata);
    p.metadata.labels = None;
    if let Some(spec) = &p.spec {
        p.spec = Some(PodSpec {
            node_name: spec.node_name.clone(),
            init_containers: spec
                .init_containers
                .as_ref()
                .map(|c| c.iter().map(container).collect()),
            containers: spec.containers.iter().map(container).collect(),
            ..Default::default()
        });
    }
    if let Some(status) = &p.status {
        p.status = Some(PodStatus {
            phase: status.phase.clone(),
            init_container_statuses: status
                .init_container_statuses
                .as_ref()
                .map(|c| c.iter().map(container_status).collect()),
            container_statuses: status
                .container_statuses
                .as_ref()
                .map(|c| c.iter().map(container_status).collect()),
            ..Default::default()
        });
    }
}

pub fn daemonset(d: &mut DaemonSet) {
    meta(&mut d.metadata);
    // Our own annotations (keep, protect) are read back; keep those.
}

pub fn event(e: &mut Event) {
    e.metadata.managed_fields = None;
    e.metadata.annotations = None;
    e.related = None;
    e.series = None;
    e.source = None;
    e.reporting_component = None;
    e.reporting_instance = None;
    e.action = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_keeps_what_progress_reads_and_nothing_else() {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "a", "uid": "u", "annotations": {"big": "x".repeat(1000)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "uid": "du"}],
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "volumes": [{"name": "v", "emptyDir": {}}],
                "initContainers": [{"name": "i", "image": "nginx:1", "command": ["sh", "-c", "echo"],
                    "env": [{"name": "A", "value": "B"}]}],
                "containers": [{"name": "c", "image": "pause:3.9"}]},
            "status": {"phase": "Pending", "podIP": "10.0.0.1",
                "initContainerStatuses": [{"name": "i", "image": "nginx:1", "imageID": "x", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}
        }))
        .unwrap();
        pod(&mut p);
        let v = serde_json::to_value(&p).unwrap();
        assert!(v["metadata"].get("annotations").is_none());
        assert!(v["metadata"].get("managedFields").is_none());
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "du");
        assert_eq!(v["spec"]["nodeName"], "n1");
        assert!(v["spec"].get("volumes").is_none());
        assert_eq!(
            v["spec"]["initContainers"][0],
            json!({"name": "i", "image": "nginx:1"})
        );
        assert!(v["status"].get("podIP").is_none());
        assert_eq!(
            v["status"]["initContainerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
    }
}
