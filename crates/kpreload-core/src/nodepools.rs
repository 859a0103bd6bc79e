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

/// [`group`] kept from one call to the next: grouped again only when what it reads changed —
/// a node's name, labels or taints, the label keys, which preloader serves which node — and
/// not on a heartbeat or a pull's progress, which come many times a second on 5,000 nodes.
#[derive(Default)]
pub struct Grouping {
    nodes: Vec<Arc<Node>>,
    labels: Vec<String>,
    /// Per preloader: its pool, namespace and DaemonSet, and the nodes it serves.
    served: Vec<(String, String, String, Vec<String>)>,
    grouped: bool,
}

/// Whether two copies of a node group alike.
fn groups_alike(a: &Node, b: &Node) -> bool {
    a.metadata.name == b.metadata.name
        && a.metadata.labels == b.metadata.labels
        && a.spec.as_ref().and_then(|s| s.taints.as_ref())
            == b.spec.as_ref().and_then(|s| s.taints.as_ref())
}

impl Grouping {
    /// What [`group`] gives, when that may differ from what it gave last time; `None` when
    /// it cannot.
    pub fn regroup(
        &mut self,
        nodes: &[Arc<Node>],
        labels: &[String],
        overview: &Overview,
    ) -> Option<(Vec<NodePool>, Vec<String>)> {
        let same_objects = self.nodes.len() == nodes.len()
            && self.nodes.iter().zip(nodes).all(|(a, b)| Arc::ptr_eq(a, b));
        let same_nodes = same_objects
            || (self.nodes.len() == nodes.len()
                && self
                    .nodes
                    .iter()
                    .zip(nodes)
                    .all(|(a, b)| Arc::ptr_eq(a, b) || groups_alike(a, b)));
        let same_served = self.served.len() == overview.pools.len()
            && self.served.iter().zip(&overview.pools).all(|(s, p)| {
                s.0 == p.pool
                    && s.1 == p.namespace
                    && s.2 == p.daemonset
                    && s.3.len() == p.nodes.len()
                    && s.3.iter().zip(&p.nodes).all(|(a, b)| *a == b.node)
            });
        if !same_objects {
            // Compared by address next time.
            self.nodes = nodes.to_vec();
        }
        if self.grouped && same_nodes && same_served && self.labels == labels {
            return None;
        }
        self.grouped = true;
        self.labels = labels.to_vec();
        self.served = overview
            .pools
            .iter()
            .map(|p| {
                (
                    p.pool.clone(),
                    p.namespace.clone(),
                    p.daemonset.clone(),
                    p.nodes.iter().map(|n| n.node.clone()).collect(),
                )
            })
            .collect();
        Some(group(nodes, labels, overview))
    }
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

    /// A Grouping groups again when a node's labels change or a preloader comes to serve
    /// a node, and not on a heartbeat (the same node, a new resourceVersion).
    #[test]
    fn a_grouping_groups_again_only_when_its_answer_can_change() {
        let web = |version: &str, pool: &str| {
            let n = fixtures::node("gke-web-1")
                .labels(json!({"cloud.google.com/gke-nodepool": pool}))
                .build();
            let mut n = (*n).clone();
            n.metadata.resource_version = Some(version.into());
            Arc::new(n)
        };
        let labels = labels();
        let mut grouping = Grouping::default();
        let mut nodes = vec![web("1", "web"), fixtures::node("laptop").build()];
        let none = Overview::default();
        assert_eq!(
            grouping.regroup(&nodes, &labels, &none),
            Some(group(&nodes, &labels, &none))
        );
        assert_eq!(grouping.regroup(&nodes, &labels, &none), None);
        nodes[0] = web("2", "web");
        assert_eq!(
            grouping.regroup(&nodes, &labels, &none),
            None,
            "a heartbeat"
        );

        nodes[0] = web("3", "web-v2");
        let again = grouping
            .regroup(&nodes, &labels, &none)
            .expect("relabelled");
        assert_eq!(again.0[0].name, "web-v2");

        let serving = Overview {
            pools: vec![Arc::new(fixtures::pool_progress(
                "web",
                vec![fixtures::node_progress("gke-web-1", Vec::new())],
            ))],
            unpooled: Vec::new(),
        };
        assert!(!serving.pools.is_empty());
        let served = grouping
            .regroup(&nodes, &labels, &serving)
            .expect("a preloader serves the node now");
        assert_eq!(served, group(&nodes, &labels, &serving));
        assert!(!served.0[0].uncovered());
        assert_eq!(grouping.regroup(&nodes, &labels, &serving), None);
        assert!(
            grouping
                .regroup(&nodes, &["agentpool".to_string()], &serving)
                .is_some(),
            "other label keys"
        );
    }
}
