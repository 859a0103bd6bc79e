//! What the watches keep of each object: only what kpreload reads, so 5,000 nodes and
//! 100,000 pods fit in little memory.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ContainerStatus, Node, NodeCondition};
use kube::api::ObjectMeta;

use crate::core::objects::{Event, Pod};

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
        // Of the resources, the image file system's size; the others are not read.
        status.allocatable = None;
        if let Some(c) = &mut status.capacity {
            c.retain(|k, _| k == "ephemeral-storage");
        }
        // Of the node's system, its platform, runtime and kubelet.
        if let Some(info) = &mut status.node_info {
            for unread in [
                &mut info.machine_id,
                &mut info.system_uuid,
                &mut info.boot_id,
                &mut info.kernel_version,
                &mut info.os_image,
                &mut info.kube_proxy_version,
            ] {
                *unread = String::new();
            }
        }
        // Read from JSON, each list grew by doubling, and a list of one name has room for
        // four: on 5,000 nodes of 50 images, about 20 MB of room nothing fills.
        if let Some(images) = &mut status.images {
            images.shrink_to_fit();
            for i in images.iter_mut() {
                if let Some(names) = &mut i.names {
                    names.shrink_to_fit();
                }
            }
        }
        if let Some(c) = &mut status.conditions {
            c.retain(|c| c.type_ == "Ready" || c.type_ == "DiskPressure");
            c.shrink_to_fit();
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

fn container_status(s: &mut ContainerStatus) {
    *s = ContainerStatus {
        name: std::mem::take(&mut s.name),
        // What the kubelet says the container runs, as cleanup reads it (see `pod`).
        image: std::mem::take(&mut s.image),
        image_id: std::mem::take(&mut s.image_id),
        state: s.state.take(),
        ready: s.ready,
        restart_count: s.restart_count,
        ..Default::default()
    };
}

/// A pod keeps its containers' names and images (init and ephemeral ones too, and the
/// image IDs the kubelet resolved: cleanup never removes an image a pod uses); only a
/// DaemonSet's pod (a preloader's, perhaps) keeps its containers' states, which progress
/// reads.
pub fn pod(p: &mut Pod) {
    meta(&mut p.metadata);
    p.metadata.labels = None;
    p.metadata.resource_version = None;
    let daemon = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet");
    if !daemon {
        p.metadata.owner_references = None;
        if let Some(spec) = &mut p.spec {
            spec.affinity = None;
        }
        if let Some(status) = p.status.take() {
            // The images each container runs, as the kubelet names and resolved them, in
            // the order cleanup reads them from a whole status: a container status is
            // hundreds of bytes, and there may be 100,000 pods. (The kubelet's name can
            // differ from the spec's: `sha256:…` once the tag has moved on.)
            let image_ids: Vec<String> = status
                .init_container_statuses
                .into_iter()
                .chain(status.container_statuses)
                .chain(status.ephemeral_container_statuses)
                .flatten()
                .flat_map(|s| [s.image, s.image_id])
                .filter(|id| !id.is_empty())
                .collect();
            if !image_ids.is_empty() {
                p.status = Some(crate::core::objects::PodStatus {
                    image_ids,
                    ..Default::default()
                });
            }
        }
        return;
    }
    if let Some(status) = &mut p.status {
        // A true condition says nothing progress reads; a false one says why not.
        if let Some(c) = &mut status.conditions {
            c.retain(|c| c.status == "False");
        }
        for s in status
            .init_container_statuses
            .iter_mut()
            .chain(status.container_statuses.iter_mut())
            .flatten()
        {
            container_status(s);
        }
    }
}

pub fn daemonset(d: &mut DaemonSet) {
    // Our own annotations (a pool's keep and protect) are read back: keep those.
    let ours: Option<std::collections::BTreeMap<String, String>> =
        d.metadata.annotations.take().map(|a| {
            a.into_iter()
                .filter(|(k, _)| k.starts_with("kpreload.dev/"))
                .collect()
        });
    meta(&mut d.metadata);
    d.metadata.annotations = ours.filter(|a| !a.is_empty());
}

/// Whether kpreload reads an event at all: the kubelet's about an image (pulling, pulled,
/// already present, failed, backing off) and about a pull secret it could not find. The
/// others — Scheduled, Created, Started, Killing, … — are most of a preloader's events and
/// are not kept (on 5,000 nodes, 60,000 of them).
pub fn event_read(e: &Event) -> bool {
    e.message
        .as_deref()
        .is_some_and(|m| crate::core::progress::messages::read(m).is_some())
        || matches!(
            e.reason.as_deref(),
            Some("Pulling" | "FailedToRetrieveImagePullSecret")
        )
}

pub fn event(e: &mut Event) {
    meta(&mut e.metadata);
    e.metadata.resource_version = None;
    let o = &mut e.involved_object;
    o.api_version = None;
    o.resource_version = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The kubelet's events about images and pull secrets are kept, in its words; its
    /// others about a preloader pod (most of them) are not.
    #[test]
    fn a_node_keeps_its_storage_platform_and_images_without_spare_room() {
        let mut n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"pool": "web"}},
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "7", "ephemeral-storage": "90Gi"},
                "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b",
                    "kernelVersion": "6.1", "osImage": "Debian", "containerRuntimeVersion": "containerd://2.1.0",
                    "kubeletVersion": "v1.34.0", "kubeProxyVersion": "v1.34.0",
                    "operatingSystem": "linux", "architecture": "arm64"},
                "images": [{"names": ["docker.io/library/nginx:1.25"], "sizeBytes": 10},
                    {"names": ["a@sha256:1", "a:1"], "sizeBytes": 20}]}
        }))
        .unwrap();
        node(&mut n);
        let s = n.status.as_ref().unwrap();
        let capacity: Vec<&String> = s.capacity.as_ref().unwrap().keys().collect();
        assert_eq!(capacity, ["ephemeral-storage"]);
        assert!(s.allocatable.is_none());
        let info = s.node_info.as_ref().unwrap();
        assert_eq!(
            (
                info.container_runtime_version.as_str(),
                info.kubelet_version.as_str(),
                info.operating_system.as_str(),
                info.architecture.as_str(),
                info.os_image.as_str(),
            ),
            ("containerd://2.1.0", "v1.34.0", "linux", "arm64", "")
        );
        let images = s.images.as_ref().unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images.capacity(), 2);
        assert_eq!(images[1].names.as_ref().unwrap(), &["a@sha256:1", "a:1"]);
        assert_eq!(images[0].names.as_ref().unwrap().capacity(), 1);
        assert_eq!(n.metadata.labels.as_ref().unwrap()["pool"], "web");
    }

    #[test]
    fn only_the_events_kpreload_reads_are_kept() {
        let kept = |reason: &str, message: &str| {
            let e: Event = serde_json::from_value(json!({
                "metadata": {"name": "e"},
                "involvedObject": {"kind": "Pod", "name": "p", "uid": "u"},
                "reason": reason, "message": message, "type": "Normal"
            }))
            .unwrap();
            event_read(&e)
        };
        assert!(kept("Pulling", "Pulling image \"nginx:1.25\""));
        assert!(kept(
            "Pulled",
            "Successfully pulled image \"nginx:1.25\" in 1.2s (1.2s including waiting). Image size: 123 bytes."
        ));
        assert!(kept(
            "Pulled",
            "Container image \"nginx:1.25\" already present on machine"
        ));
        assert!(kept(
            "Failed",
            "Failed to pull image \"nginx:9\": rpc error: code = NotFound"
        ));
        assert!(kept("BackOff", "Back-off pulling image \"nginx:9\""));
        assert!(kept(
            "FailedToRetrieveImagePullSecret",
            "Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed."
        ));
        assert!(!kept(
            "Scheduled",
            "Successfully assigned kube-system/p to node-a"
        ));
        assert!(!kept("Created", "Created container: preload-nginx"));
        assert!(!kept("Started", "Started container preload-nginx"));
        assert!(!kept("Killing", "Stopping container preload-nginx"));
    }

    #[test]
    fn a_daemonset_keeps_the_pools_settings_and_drops_other_annotations() {
        let mut d: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "image-preloader-ml", "annotations": {
                "kpreload.dev/keep": "3", "kpreload.dev/protect": "[\"x/*\"]",
                "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"selector": {}, "template": {}}
        }))
        .unwrap();
        daemonset(&mut d);
        let a = d.metadata.annotations.unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a["kpreload.dev/keep"], "3");
    }

    #[test]
    fn a_pod_keeps_what_progress_reads_and_nothing_else() {
        // A workload pod keeps only where it runs and its containers' images, init
        // containers and the kubelet's names and IDs included. (The kubelet names the image
        // the container runs: after its tag moved on, `sha256:…`, which the spec never says;
        // found by fuzz/fuzz_targets/cluster_objects.rs, which plans trimmed and untrimmed.)
        let mut w: Pod = serde_json::from_value(json!({
            "metadata": {"name": "w", "labels": {"app": "x"}, "resourceVersion": "9",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "ru"}]},
            "spec": {"nodeName": "n1", "initContainers": [{"name": "i", "image": "busybox"}],
                "containers": [{"name": "c", "image": "nginx:1"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c",
                "image": "sha256:0123", "imageID": "docker.io/library/nginx@sha256:ab",
                "ready": true, "restartCount": 3, "state": {"running": {}}}]}
        }))
        .unwrap();
        pod(&mut w);
        assert_eq!(
            w.status.as_ref().unwrap().image_ids,
            ["sha256:0123", "docker.io/library/nginx@sha256:ab"]
        );
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "w"}, "spec": {"nodeName": "n1",
                "initContainers": [{"name": "i", "image": "busybox"}],
                "containers": [{"name": "c", "image": "nginx:1"}]},
                "status": {}})
        );

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
        assert_eq!(v["status"]["initContainerStatuses"][0]["image"], "nginx:1");
        assert_eq!(v["status"]["initContainerStatuses"][0]["imageID"], "x");
    }
}
