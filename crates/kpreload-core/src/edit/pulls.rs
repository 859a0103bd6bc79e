//! What each node of a pool would pull for a draft: its missing images, their bytes, the time
//! from its own past rate, and whether they fit its free space.

use super::*;

/// What one node of the pool will pull when the change rolls out.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePull {
    pub node: String,
    /// Images not on the node yet, with their size: the registry's compressed bytes for
    /// the node's platform, else what a node of the cluster reports.
    pub images: Vec<(String, Option<u64>)>,
    /// Of those, the images sized by their registry.
    pub from_registry: usize,
    /// Known bytes to pull.
    pub bytes: u64,
    /// Images whose size nobody knows.
    pub unknown: usize,
    /// Estimated seconds, from the bandwidth seen in past pulls.
    pub seconds: Option<f64>,
    /// Free bytes on the node's image file system, where known.
    pub free: Option<u64>,
    /// The node lists as many images as the kubelet reports: an image may be there unlisted.
    pub capped: bool,
}

impl NodePull {
    /// Whether the pull fits the free space: None when the free space, or the size of an
    /// image that fits so far, is not known.
    pub fn fits(&self) -> Option<bool> {
        let free = self.free?;
        if self.bytes > free {
            Some(false)
        } else if self.unknown == 0 {
            Some(true)
        } else {
            None
        }
    }
}

/// The nodes a pool covers, by name.
pub fn pool_nodes(nodes: &[std::sync::Arc<Node>], pool: &Pool) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| {
            let labels = n.metadata.labels.clone().unwrap_or_default();
            pool.covers(&labels, &Taint::of_node(n))
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}

/// Bytes per second each node pulled at in past pulls; a node with none of its own is
/// expected at the median of the others.
#[derive(Clone, Debug, Default)]
pub struct Rates {
    by_node: HashMap<String, f64>,
    median: Option<f64>,
}

impl Rates {
    pub fn new(by_node: HashMap<String, f64>) -> Rates {
        let mut all: Vec<f64> = by_node.values().copied().filter(|r| *r > 0.0).collect();
        all.sort_by(|a, b| a.total_cmp(b));
        let median = (!all.is_empty()).then(|| all[all.len() / 2]);
        Rates { by_node, median }
    }

    pub fn from_overview(overview: &Overview) -> Rates {
        Rates::new(
            overview
                .pools
                .iter()
                .flat_map(|p| &p.nodes)
                .filter_map(|n| Some((n.node.clone(), n.rate.filter(|r| *r > 0.0)?)))
                .collect(),
        )
    }

    pub fn of(&self, node: &str) -> Option<f64> {
        self.by_node.get(node).copied().or(self.median)
    }
}

/// Per node of `nodes`: the images of `after` it does not hold yet, their bytes and time.
/// `registry` holds what the images' registries said, by normalised reference.
pub fn pulls(
    snapshot: &Snapshot,
    nodes: &[String],
    after: &[ImageRef],
    catalog: &Catalog,
    registry: &HashMap<String, crate::registry::Found>,
    rates: &Rates,
    free: &HashMap<String, u64>,
) -> Vec<NodePull> {
    let by_name: HashMap<&str, &Node> = snapshot
        .nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, n.as_ref())))
        .collect();
    nodes
        .iter()
        .map(|name| {
            let node = by_name.get(name.as_str());
            let platform = node.and_then(|n| crate::registry::Platform::of_node(n));
            let listed = node
                .and_then(|n| n.status.as_ref()?.images.clone())
                .unwrap_or_default();
            let present: BTreeSet<String> = listed
                .iter()
                .flat_map(|i| i.names.iter().flatten())
                .filter_map(|n| ImageRef::parse(n).ok())
                .map(|r| r.normalized())
                .collect();
            let mut from_registry = 0;
            let images: Vec<(String, Option<u64>)> = after
                .iter()
                .filter(|i| !present.contains(&i.normalized()))
                .map(|i| {
                    let key = i.normalized();
                    let manifest = registry
                        .get(&key)
                        .and_then(|f| f.bytes_for(platform.as_ref()));
                    from_registry += usize::from(manifest.is_some());
                    (
                        i.written().to_string(),
                        manifest.or_else(|| catalog.sizes.get(&key).copied()),
                    )
                })
                .collect();
            let bytes = images.iter().filter_map(|(_, s)| *s).sum();
            let unknown = images.iter().filter(|(_, s)| s.is_none()).count();
            let rate = rates.of(name);
            NodePull {
                node: name.clone(),
                seconds: rate.map(|r| bytes as f64 / r),
                images,
                from_registry,
                bytes,
                unknown,
                free: free.get(name).copied(),
                capped: listed.len() >= crate::cleanup::STATUS_IMAGES_CAP,
            }
        })
        .collect()
}
