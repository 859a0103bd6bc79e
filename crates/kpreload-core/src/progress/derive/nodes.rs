//! The Deriver's node table: the snapshot's nodes in natural order of their names, each
//! with a version that moves only when the node itself changes, and which nodes each
//! placement (a pool's selector and tolerations) covers.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::Fast;
use crate::pools::Pool;
use crate::selector::Taint;

/// The nodes in natural order of their names, and the placements' coverage of them.
#[derive(Default)]
pub(super) struct NodeTable {
    /// The snapshot's nodes as last seen, in its order: when they are the same, nothing is
    /// looked at again.
    seen: Vec<Arc<Node>>,
    pub(super) rows: Vec<Row>,
    pub(super) at: Fast<String, usize>,
    /// Which rows each placement (a pool's selector and tolerations) covers, with a
    /// generation that moves whenever one of its answers does.
    pub(super) coverage: Vec<Coverage>,
    /// Moves when the rows are rebuilt (a node joined or left).
    pub(super) generation: u64,
    /// The last of the rows' versions given out.
    versions: u64,
}

pub(super) struct Row {
    /// The node as last seen: a newer copy replaces it, and frees it.
    pub(super) node: Arc<Node>,
    /// Moves when the node changes in more than its resourceVersion (a heartbeat, trimmed
    /// away, changes nothing else): what a pool was derived from is told by it.
    pub(super) version: u64,
    pub(super) name: String,
    taints: Vec<Taint>,
}

pub(super) struct Coverage {
    /// The first pool with this placement (selector and tolerations): the one asked.
    placement: Pool,
    pub(super) covers: Vec<bool>,
    pub(super) generation: u64,
}

/// Whether two copies of a node differ only in what does not matter here: its
/// resourceVersion (the watches trim the heartbeats away, so a heartbeat changes nothing else).
fn same_node(a: &Node, b: &Node) -> bool {
    a.spec == b.spec
        && a.status == b.status
        && a.metadata.labels == b.metadata.labels
        && a.metadata.annotations == b.metadata.annotations
        && a.metadata.uid == b.metadata.uid
        && a.metadata.name == b.metadata.name
        && a.metadata.creation_timestamp == b.metadata.creation_timestamp
        && a.metadata.deletion_timestamp == b.metadata.deletion_timestamp
}

impl NodeTable {
    pub(super) fn update(&mut self, nodes: &[Arc<Node>]) {
        // The watch keeps its objects in place: most often only a few changed, each where
        // it was. Then only those are looked at.
        let changed: Option<Vec<&Arc<Node>>> = (self.seen.len() == nodes.len())
            .then(|| {
                self.seen
                    .iter()
                    .zip(nodes)
                    .filter(|(a, b)| !Arc::ptr_eq(a, b))
                    .map(|(a, b)| (a.metadata.name == b.metadata.name).then_some(b))
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        let changed = match changed {
            Some(c) if c.is_empty() => return,
            Some(c) => c,
            None => {
                let names_same = nodes.len() == self.rows.len()
                    && nodes.iter().all(|n| {
                        self.at
                            .contains_key(n.metadata.name.as_deref().unwrap_or_default())
                    });
                if !names_same {
                    self.seen = nodes.to_vec();
                    self.rebuild(nodes);
                    return;
                }
                nodes.iter().collect()
            }
        };
        for n in changed {
            let i = self.at[n.metadata.name.as_deref().unwrap_or_default()];
            let row = &mut self.rows[i];
            if Arc::ptr_eq(&row.node, n) {
                continue;
            }
            if same_node(&row.node, n) {
                row.node = n.clone();
                continue;
            }
            let placement_changed = row.node.metadata.labels != n.metadata.labels
                || row.node.spec.as_ref().and_then(|s| s.taints.as_ref())
                    != n.spec.as_ref().and_then(|s| s.taints.as_ref());
            row.node = n.clone();
            self.versions += 1;
            row.version = self.versions;
            if placement_changed {
                row.taints = Taint::of_node(n);
                let empty = BTreeMap::new();
                let labels = n.metadata.labels.as_ref().unwrap_or(&empty);
                for c in &mut self.coverage {
                    let now = c.placement.covers(labels, &row.taints);
                    if c.covers[i] != now {
                        c.covers[i] = now;
                        c.generation += 1;
                    }
                }
            }
        }
        self.seen = nodes.to_vec();
    }

    fn rebuild(&mut self, nodes: &[Arc<Node>]) {
        let mut rows: Vec<Row> = nodes
            .iter()
            .map(|n| {
                self.versions += 1;
                Row {
                    node: n.clone(),
                    version: self.versions,
                    name: n.metadata.name.clone().unwrap_or_default(),
                    taints: Taint::of_node(n),
                }
            })
            .collect();
        rows.sort_by(|a, b| crate::natural::cmp(&a.name, &b.name));
        self.at = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        self.rows = rows;
        self.coverage.clear();
        self.generation += 1;
    }

    /// The coverage of a pool's placement, worked out on first asking.
    pub(super) fn coverage(&mut self, pool: &Pool) -> usize {
        if let Some(i) = self.coverage.iter().position(|c| {
            c.placement.selector == pool.selector && c.placement.tolerations == pool.tolerations
        }) {
            return i;
        }
        let empty = BTreeMap::new();
        let covers = self
            .rows
            .iter()
            .map(|r| {
                let labels = r.node.metadata.labels.as_ref().unwrap_or(&empty);
                pool.covers(labels, &r.taints)
            })
            .collect();
        self.coverage.push(Coverage {
            placement: pool.clone(),
            covers,
            generation: 0,
        });
        self.coverage.len() - 1
    }
}
