//! Pods and events as kpreload reads them: only the fields it uses. They deserialize straight
//! from the API's JSON (every other field is skipped while parsing), so 100,000 pods take a
//! small fraction of what k8s-openapi's complete types take (a `Pod` with one `Container`
//! is about 5 KB before any string; these are a tenth of that).

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ContainerStatus, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use serde::{Deserialize, Serialize};

mod workload;
pub use workload::{Interner, Workload, place, records};

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

impl Pod {
    /// The statuses of its init containers that run once (its sidecars left out: they keep
    /// running beside the others).
    pub fn one_shot_init_statuses(&self) -> Vec<&ContainerStatus> {
        let sidecars: Vec<&str> = self
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten())
            .filter(|c| c.is_sidecar())
            .map(|c| c.name.as_str())
            .collect();
        self.status
            .iter()
            .flat_map(|s| s.init_container_statuses.iter().flatten())
            .filter(|s| !sidecars.contains(&s.name.as_str()))
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<Vec<Container>>,
    /// Only what ties a DaemonSet's pod to its node before it is scheduled: the DaemonSet
    /// controller creates its pods with no `nodeName` and a required node affinity on the
    /// node's `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Box<Affinity>>,
}

impl PodSpec {
    /// The node the pod runs on, or, while it is not scheduled yet, the node its required
    /// affinity names by `metadata.name` (a DaemonSet's pod).
    pub fn node_for(&self) -> Option<&str> {
        if let Some(n) = self.node_name.as_deref().filter(|n| !n.is_empty()) {
            return Some(n);
        }
        let terms = &self
            .affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required
            .as_ref()?
            .node_selector_terms;
        terms.iter().flat_map(|t| &t.match_fields).find_map(|f| {
            (f.key == "metadata.name" && f.operator == "In" && f.values.len() == 1)
                .then(|| f.values[0].as_str())
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct NodeAffinity {
    #[serde(
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub required: Option<RequiredTerms>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredTerms {
    #[serde(default)]
    pub node_selector_terms: Vec<FieldTerm>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldTerm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<FieldRequirement>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct FieldRequirement {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `restartPolicy: Always`: an init container that keeps running beside the others (a
    /// sidecar). Kept as a flag: there may be 100,000 pods.
    #[serde(
        default,
        rename = "restartPolicy",
        deserialize_with = "always",
        serialize_with = "as_always",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub sidecar: bool,
}

impl Container {
    pub fn is_sidecar(&self) -> bool {
        self.sidecar
    }
}

fn always<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<String>::deserialize(d)?.as_deref() == Some("Always"))
}

fn as_always<S: serde::Serializer>(sidecar: &bool, s: S) -> Result<S::Ok, S::Error> {
    debug_assert!(*sidecar);
    s.serialize_str("Always")
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the pod is in its phase, in a word (`Evicted`, `NodeLost`, …), and in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<str>>,
    /// Only the conditions that are false say anything here (`PodScheduled` above all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_container_statuses: Option<Vec<ContainerStatus>>,
    /// The images the kubelet says the pod's containers run, by name and resolved ID, when
    /// the statuses themselves are not kept (a workload pod, trimmed for the watches).
    #[serde(skip)]
    pub image_ids: Vec<String>,
}

/// A pod condition, as kpreload reads it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct PodCondition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub involved_object: ObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<MicroTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
    /// Who said it: for a kubelet, `component: kubelet` and the node as `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<k8s_openapi::api::core::v1::EventSource>,
    /// The node, for a kubelet that reports through events.k8s.io's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

macro_rules! core_v1_resource {
    ($t:ty, $kind:literal, $plural:literal) => {
        impl kube_core::Resource for $t {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("")
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

core_v1_resource!(Pod, "Pod", "pods");
core_v1_resource!(Event, "Event", "events");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_reads_what_kpreload_uses_and_skips_the_rest() {
        let p: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "n", "uid": "u"},
            "spec": {"nodeName": "n1", "volumes": [{"name": "v", "emptyDir": {}}],
                "initContainers": [{"name": "i", "image": "nginx:1", "command": ["true"],
                    "env": [{"name": "A", "value": "B"}], "resources": {"requests": {"cpu": "1m"}}}],
                "containers": [{"name": "c", "image": "pause:3.9", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Pending", "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "False"}],
                "initContainerStatuses": [{"name": "i", "image": "nginx:1", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}
        }))
        .unwrap();
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(
            spec.init_containers.as_ref().unwrap()[0],
            Container {
                name: "i".into(),
                image: Some("nginx:1".into()),
                sidecar: false,
            }
        );
        assert_eq!(spec.containers[0].image.as_deref(), Some("pause:3.9"));
        let s = p
            .status
            .as_ref()
            .unwrap()
            .init_container_statuses
            .as_ref()
            .unwrap();
        assert_eq!(
            s[0].state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );
        // What is kept is small: a tenth of k8s-openapi's Pod and Container.
        assert!(std::mem::size_of::<Pod>() + std::mem::size_of::<Container>() < 700);
    }

    #[test]
    fn an_event_reads_its_type_and_times() {
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "p.1", "namespace": "kube-system"},
            "involvedObject": {"kind": "Pod", "uid": "u", "fieldPath": "spec.initContainers{a}"},
            "reason": "Pulled", "message": "m", "type": "Warning", "count": 3,
            "lastTimestamp": "2026-11-28T10:00:00Z", "source": {"component": "kubelet"}
        }))
        .unwrap();
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.count, Some(3));
        assert_eq!(
            e.involved_object.field_path.as_deref(),
            Some("spec.initContainers{a}")
        );
        assert!(e.last_timestamp.is_some());
    }
}
