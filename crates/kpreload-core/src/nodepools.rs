//! Node pools as the cluster defines them: every managed cluster labels a node with the pool
//! (node group, agent pool, instance group) it belongs to. A preloader's pool and a node
//! pool are matched by the nodes they share, so a cluster with no preloader yet still shows
//! its pools, and which of them nothing preloads for.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::progress::Overview;
use crate::selector::{Taint, TaintEffect};

/// The labels providers set, first match wins: GKE, EKS managed node groups, Karpenter
/// (EKS Auto Mode too), AKS (and its older unprefixed label), kops.
pub const DEFAULT_LABELS: [&str; 6] = [
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "kops.k8s.io/instancegroup",
];

/// One node pool.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePool {
    /// The label's value.
    pub name: String,
    /// The label it came from.
    pub source: String,
    /// Its nodes, in natural order.
    pub nodes: Vec<String>,
    /// The taints every one of its nodes has that keep pods off (NoSchedule, NoExecute):
    /// what a preloader for it must tolerate.
    pub taints: Vec<Taint>,
    /// The preloaders' pools that serve some of its nodes (natural order), and their
    /// DaemonSets (namespace, name).
    pub preloaders: Vec<(String, String, String)>,
    /// How many of its nodes a preloader serves.
    pub covered: usize,
}

impl NodePool {
    /// No preloader serves any of its nodes.
    pub fn uncovered(&self) -> bool {
        self.preloaders.is_empty()
    }
}

/// The node pools the nodes form by these label keys (the first a node has counts), and
/// the nodes in none, both in natural order.
pub fn group(
    nodes: &[Arc<Node>],
    labels: &[String],
    overview: &Overview,
) -> (Vec<NodePool>, Vec<String>) {
    // Which preloader serves each node.
    let mut served: BTreeMap<&str, Vec<(&str, &str, &str)>> = BTreeMap::new();
    for p in &overview.pools {
        for n in &p.nodes {
            served.entry(n.node.as_str()).or_default().push((
                p.pool.as_str(),
                p.namespace.as_str(),
                p.daemonset.as_str(),
            ));
        }
    }
    // (value, key) → its nodes, and the taints all of them have so far.
    type Members = (Vec<String>, Option<Vec<Taint>>);
    let mut pools: BTreeMap<(String, String), Members> = BTreeMap::new();
    let mut loose = Vec::new();
    for n in nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let node_labels = n.metadata.labels.as_ref();
        let found = labels.iter().find_map(|key| {
            node_labels?
                .get(key)
                .filter(|v| !v.is_empty())
                .map(|v| (key.clone(), v.clone()))
        });
        let Some((key, value)) = found else {
            loose.push(name);
            continue;
        };
        let taints: Vec<Taint> = Taint::of_node(n)
            .into_iter()
            .filter(|t| t.effect != TaintEffect::PreferNoSchedule)
            .collect();
        let entry = pools.entry((value, key)).or_default();
        entry.0.push(name);
        // Only the taints every node of the pool has.
        entry.1 = Some(match entry.1.take() {
            None => taints,
            Some(common) => common.into_iter().filter(|t| taints.contains(t)).collect(),
        });
    }
    let mut out: Vec<NodePool> = pools
        .into_iter()
        .map(|((name, source), (mut members, taints))| {
            crate::natural::sort(&mut members);
            let mut preloaders: Vec<(String, String, String)> = members
                .iter()
                .flat_map(|m| served.get(m.as_str()).into_iter().flatten())
                .map(|(p, ns, ds)| (p.to_string(), ns.to_string(), ds.to_string()))
                .collect();
            preloaders.sort_by(|a, b| crate::natural::cmp(&a.0, &b.0).then(a.2.cmp(&b.2)));
            preloaders.dedup();
            let covered = members
                .iter()
                .filter(|m| served.contains_key(m.as_str()))
                .count();
            NodePool {
                name,
                source,
                nodes: members,
                taints: taints.unwrap_or_default(),
                preloaders,
                covered,
            }
        })
        .collect();
    out.sort_by(|a, b| crate::natural::cmp(&a.name, &b.name).then(a.source.cmp(&b.source)));
    crate::natural::sort(&mut loose);
    (out, loose)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use serde_json::json;

    fn labels() -> Vec<String> {
        DEFAULT_LABELS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nodes_group_by_their_providers_label_in_natural_order() {
        let nodes = vec![
            fixtures::node("gke-web-10")
                .labels(json!({"cloud.google.com/gke-nodepool": "web"}))
                .build(),
            fixtures::node("gke-web-2")
                .labels(json!({"cloud.google.com/gke-nodepool": "web"}))
                .build(),
            fixtures::node("ip-10-0-1-5")
                .labels(json!({"eks.amazonaws.com/nodegroup": "gpu-a10"}))
                .taints(json!([{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]))
                .build(),
            fixtures::node("ip-10-0-1-9")
                .labels(json!({"eks.amazonaws.com/nodegroup": "gpu-a10"}))
                .taints(
                    json!([{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
                    {"key": "spot", "value": "true", "effect": "NoSchedule"}]),
                )
                .build(),
            fixtures::node("karp-x")
                .labels(json!({"karpenter.sh/nodepool": "batch", "agentpool": "ignored"}))
                .build(),
            fixtures::node("laptop").build(),
        ];
        let (pools, loose) = group(&nodes, &labels(), &Overview::default());
        let names: Vec<(&str, &str)> = pools
            .iter()
            .map(|p| (p.name.as_str(), p.source.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("batch", "karpenter.sh/nodepool"),
                ("gpu-a10", "eks.amazonaws.com/nodegroup"),
                ("web", "cloud.google.com/gke-nodepool"),
            ]
        );
        assert_eq!(pools[2].nodes, ["gke-web-2", "gke-web-10"]);
        // The taint both GPU nodes have; spot is on one only.
        assert_eq!(pools[1].taints.len(), 1);
        assert_eq!(pools[1].taints[0].key, "nvidia.com/gpu");
        assert!(pools.iter().all(NodePool::uncovered));
        assert_eq!(loose, ["laptop"]);

        // The article's own label, configured.
        let (pools, _) = group(
            &[fixtures::node("a")
                .labels(json!({"workload-type": "ml"}))
                .build()],
            &["workload-type".to_string()],
            &Overview::default(),
        );
        assert_eq!(pools[0].name, "ml");
    }
}
