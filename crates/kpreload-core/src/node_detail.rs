//! One node as the node screen shows it, read from its Node object and the pools' progress:
//! readiness, the labels people set, taints, capacity, the pools that serve it, and the
//! images the kubelet reports with who uses and who preloads each. Views draw this; they do
//! not read Node objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerImage, Node};

use crate::cleanup::STATUS_IMAGES_CAP;
use crate::progress::Overview;
use crate::reference::ImageRef;

#[derive(Clone, Debug, PartialEq)]
pub struct NodeDetail {
    pub name: String,
    /// The Ready condition's status: `True`, `False` or `Unknown`.
    pub ready: String,
    /// `key=value`, without the `kubernetes.io/` ones every node has.
    pub labels: Vec<String>,
    /// `key=value:Effect`.
    pub taints: Vec<String>,
    /// `status.capacity["ephemeral-storage"]`, as the kubelet wrote it.
    pub storage: Option<String>,
    /// The pools whose preloaders serve the node.
    pub pools: Vec<String>,
    /// The images the kubelet reports, in its order (largest first).
    pub images: Vec<NodeImage>,
    /// The list is at the kubelet's cap: the node may hold more.
    pub capped: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeImage {
    /// As people write it: `nginx:1.25`, its first tagged name (else its first name).
    pub name: String,
    pub size: Option<u64>,
    /// The pods using it (`namespace/name`).
    pub used_by: Vec<String>,
    /// The pools that preload it.
    pub preloaded_by: Vec<String>,
}

/// An image's name to show: its first tagged name, else its first name, in its short form.
pub fn display_name(i: &ContainerImage) -> String {
    let names = i.names.as_deref().unwrap_or_default();
    let name = names
        .iter()
        .find(|n| !n.contains('@'))
        .or(names.first())
        .map_or("<unnamed>", String::as_str);
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
        .to_string()
}

impl NodeDetail {
    /// `used`: the pods using each image on this node, by every name the kubelet lists.
    pub fn of(node: &Node, overview: &Overview, used: &BTreeMap<String, Vec<String>>) -> Self {
        let name = node.metadata.name.clone().unwrap_or_default();
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map_or("Unknown".to_string(), |c| c.status.clone());
        let labels = node
            .metadata
            .labels
            .iter()
            .flatten()
            .filter(|(k, _)| {
                !k.starts_with("kubernetes.io/") && !k.starts_with("beta.kubernetes.io/")
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{}={}:{}",
                    t.key,
                    t.value.as_deref().unwrap_or(""),
                    t.effect
                )
            })
            .collect();
        let storage = status
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("ephemeral-storage"))
            .map(|q| q.0.clone());
        let serving: Vec<_> = overview
            .pools
            .iter()
            .filter(|p| p.nodes.iter().any(|n| n.node == name))
            .collect();
        let preloads: Vec<(&str, Vec<String>)> = serving
            .iter()
            .map(|p| {
                let normal = p
                    .images
                    .iter()
                    .filter_map(|i| ImageRef::parse(i).ok().map(|r| r.normalized()))
                    .collect();
                (p.pool.as_str(), normal)
            })
            .collect();
        let listed: &[ContainerImage] =
            status.and_then(|s| s.images.as_deref()).unwrap_or_default();
        let images = listed
            .iter()
            .map(|i| {
                // The kubelet lists names normalised already (docker.io/library/nginx:1.25).
                let names: Vec<&String> = i.names.iter().flatten().collect();
                NodeImage {
                    name: display_name(i),
                    size: i.size_bytes.map(|s| s.max(0) as u64),
                    used_by: names
                        .iter()
                        .flat_map(|n| used.get(n.as_str()).into_iter().flatten())
                        .cloned()
                        .collect(),
                    preloaded_by: preloads
                        .iter()
                        .filter(|(_, imgs)| imgs.iter().any(|x| names.contains(&x)))
                        .map(|(p, _)| p.to_string())
                        .collect(),
                }
            })
            .collect();
        NodeDetail {
            name,
            ready,
            labels,
            taints,
            storage,
            pools: serving.iter().map(|p| p.pool.clone()).collect(),
            images,
            capped: listed.len() >= STATUS_IMAGES_CAP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_read_for_its_screen() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "labels": {"workload-type": "web", "kubernetes.io/os": "linux"}},
            "spec": {"taints": [{"key": "workload", "value": "web", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "capacity": {"ephemeral-storage": "100Gi"},
                "images": [
                    {"names": ["docker.io/library/nginx@sha256:aa", "docker.io/library/nginx:1.25"], "sizeBytes": 100},
                    {"names": ["registry.k8s.io/pause:3.9"], "sizeBytes": 1}
                ]
            }
        }))
        .unwrap();
        let used: BTreeMap<String, Vec<String>> = [(
            "docker.io/library/nginx:1.25".into(),
            vec!["shop/api-0".into()],
        )]
        .into();
        let d = NodeDetail::of(&node, &Overview::default(), &used);
        assert_eq!(d.ready, "True");
        assert_eq!(d.labels, ["workload-type=web"]);
        assert_eq!(d.taints, ["workload=web:NoSchedule"]);
        assert_eq!(d.storage.as_deref(), Some("100Gi"));
        assert_eq!(d.images[0].name, "nginx:1.25");
        assert_eq!(d.images[0].used_by, ["shop/api-0"]);
        assert_eq!(d.images[1].name, "registry.k8s.io/pause:3.9");
        assert!(!d.capped);
        assert!(d.pools.is_empty());
    }
}
