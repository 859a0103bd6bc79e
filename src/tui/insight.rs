//! Disk and kubelet insight for the screens: the findings (as `kpreload check` draws them)
//! from the watched objects and the kubelets read so far, each pool's and node's image disk,
//! and the pool's sizing. Recomputed at most once a second while things change.

use std::collections::HashMap;

use jiff::Timestamp;

use super::kubelets::Kubelets;
use crate::core::findings::gather::{Gathered, gather};
use crate::core::findings::{Disk, Finding, NodeFacts, PoolFacts, findings};
use crate::core::progress::Snapshot;

/// One pool's disk as far as read: the fullest node's image file system.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PoolDisk {
    pub fullest: Option<(String, Disk)>,
    /// The lowest GC threshold among the read nodes (None: GC off on all, or none read).
    pub gc_high: Option<u32>,
    /// Nodes whose kubelet answered.
    pub read: usize,
    pub total: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Insight {
    pub pools: Vec<PoolFacts>,
    pub nodes: Vec<NodeFacts>,
    pub findings: Vec<Finding>,
    /// Pool nodes whose kubelet was asked (answered or refused), and all pool nodes.
    pub read: usize,
    pub total: usize,
    /// The oldest reading in use.
    pub oldest: Option<Timestamp>,
    /// What `generation` this was computed from.
    pub generation: u64,
}

impl Insight {
    /// `registry`: what the registries name the pools' tags now, by normalised reference.
    pub fn compute(
        snapshot: &Snapshot,
        kubelets: &Kubelets,
        registry: &crate::tui::registry::Digests,
        payoff: &[crate::core::payoff::Figures],
        generation: u64,
    ) -> Insight {
        let Gathered {
            mut pools,
            mut nodes,
        } = gather(snapshot, None);
        for p in &mut pools {
            p.payoff = payoff.iter().find(|f| f.pool == p.pool).cloned();
        }
        if !registry.is_empty() {
            for p in &mut pools {
                p.with_registry(|image| {
                    let r = crate::core::reference::ImageRef::parse(image).ok()?;
                    registry.get(&r.normalized()).cloned()
                });
            }
        }
        let mut oldest: Option<Timestamp> = None;
        let mut read = 0;
        for n in &mut nodes {
            let Some(r) = kubelets.get(&n.node) else {
                continue;
            };
            read += 1;
            oldest = Some(oldest.map_or(r.at, |o| o.min(r.at)));
            match &r.answer {
                Ok((k, d)) => {
                    n.kubelet = Some(k.clone());
                    n.disk = *d;
                }
                Err(e) => n.unread = Some(e.clone()),
            }
        }
        let findings = findings(&pools, &nodes);
        Insight {
            total: nodes.len(),
            pools,
            nodes,
            findings,
            read,
            oldest,
            generation,
        }
    }

    pub fn pool(&self, name: &str) -> Option<&PoolFacts> {
        self.pools.iter().find(|p| p.pool == name)
    }

    /// The pool's disk: its fullest read node, against the lowest GC threshold.
    pub(crate) fn pool_disk(&self, name: &str) -> PoolDisk {
        let members: Vec<&NodeFacts> = self
            .nodes
            .iter()
            .filter(|n| n.pool.as_deref() == Some(name))
            .collect();
        let fullest = members
            .iter()
            .filter_map(|n| Some((n.node.clone(), n.disk?)))
            .max_by(|a, b| share(&a.1).total_cmp(&share(&b.1)));
        PoolDisk {
            fullest,
            gc_high: members
                .iter()
                .filter_map(|n| n.kubelet.as_ref())
                .filter(|k| k.gc_enabled())
                .map(|k| k.gc_high())
                .min(),
            read: members.iter().filter(|n| n.kubelet.is_some()).count(),
            total: members.len(),
        }
    }

    /// A node's facts (its first pool's).
    pub fn node(&self, name: &str) -> Option<&NodeFacts> {
        self.nodes.iter().find(|n| n.node == name)
    }

    /// Findings per pool, counted by severity (warning or worse).
    pub(crate) fn serious(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for f in &self.findings {
            if f.severity >= crate::core::findings::Severity::Warning {
                *out.entry(f.pool.clone().unwrap_or_default()).or_insert(0) += 1;
            }
        }
        out
    }
}

/// Used share of a disk, 0 to 1.
pub fn share(d: &Disk) -> f64 {
    if d.capacity == 0 {
        0.0
    } else {
        d.used as f64 / d.capacity as f64
    }
}
