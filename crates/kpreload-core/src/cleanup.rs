//! A cluster's cleanup plan: for every node, what the planner is told (its images, what
//! uses them, what its pool preloads, the settings in force) and what it decides; the
//! plan's table and its JSON contract (`plan`, docs/contracts.md).
//!
//! Pure: the caller fetches nodes, pods and DaemonSets (and, for a deep scan, the runtime's
//! inventory) and passes the time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;

use super::adopt::read_preloader;
use super::planner::{
    DEFAULT_PROTECT, Decision, ImagePlan, Memo, NodeInput, NodePlan, Settings, plan_node_with,
};
use super::reference::ImageRef;
use super::units;
use crate::runtime::{Inventory, Tool};

/// What kpreload's `status.images` reading assumes the kubelet reports at most
/// (`nodeStatusMaxImages`, 50 by default): a node at the cap may hold more.
pub const STATUS_IMAGES_CAP: usize = 50;

/// The operator's choices for a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// Overrides every pool's own keep.
    pub keep: Option<usize>,
    /// Overrides every pool's protect patterns (the sandbox image is protected regardless).
    pub protect: Option<Vec<String>>,
    pub min_age_secs: Option<i64>,
    pub group_flavours: bool,
    pub pool: Option<String>,
    pub node: Option<String>,
    /// Seconds since the epoch.
    pub now: i64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            keep: None,
            protect: None,
            min_age_secs: None,
            group_flavours: true,
            pool: None,
            node: None,
            now: 0,
        }
    }
}

/// Where kpreload execs to reach a node's runtime: a preloader pod's privileged container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTarget {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Everything known about one node before planning.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFacts {
    pub input: NodeInput,
    /// The Node's UID, for Events about it.
    pub uid: Option<String>,
    pub settings: Settings,
    /// Where cleanup runs on this node, or why it cannot.
    pub exec: Result<ExecTarget, String>,
    /// The runtime tool, or why the runtime cannot be driven.
    pub tool: Result<Tool, String>,
    /// `status.images` is at the kubelet's cap: smaller images may be missing from it.
    pub capped: bool,
    /// The images came from the runtime itself (a deep scan), not `status.images`.
    pub deep: bool,
}

impl NodeFacts {
    pub fn node(&self) -> &str {
        &self.input.node
    }

    /// Why cleanup cannot run on this node, if it cannot.
    pub fn blocked(&self) -> Option<String> {
        match (&self.exec, &self.tool) {
            (Err(why), _) | (_, Err(why)) => Some(why.clone()),
            _ => None,
        }
    }

    /// Replaces what `status.images` said with the runtime's own inventory, and adds the
    /// runtime's containers to what is in use.
    pub fn deepen(&mut self, inventory: &Inventory) {
        self.input.images = inventory.images.iter().map(|i| i.to_inventory()).collect();
        self.input.in_use.extend(inventory.usages());
        self.capped = false;
        self.deep = true;
    }
}

/// What stops cleanup from knowing every image a pool preloads: each preloader that cannot
/// be read (its images, selector or settings are unreadable), and each pool short of a
/// shard. While one exists, the images it preloads are unknown and unprotected. A pool's
/// other shapes (two splits at once, each whole; a DaemonSet twice) leave every image known,
/// so they do not block.
pub fn blocking_problems(daemonsets: &[Arc<DaemonSet>]) -> Vec<String> {
    let mut out: Vec<String> = daemonsets
        .iter()
        .filter_map(|ds| read_preloader(ds)?.err())
        .map(|e| format!("{e}; fix that DaemonSet"))
        .collect();
    out.extend(super::adopt::missing_shard_problems(
        daemonsets.iter().map(|d| d.as_ref()),
    ));
    out.sort();
    out
}

/// What stops every cleanup run, in one sentence, if anything does.
pub fn blocked_run(plan: &ClusterPlan) -> Option<String> {
    (!plan.problems.is_empty()).then(|| {
        format!(
            "Cleanup cannot run while the images a pool preloads are not all known (they \
             could not be protected): {}.",
            plan.problems.join("; ")
        )
    })
}

/// The protect pattern that keeps every sandbox image.
pub(crate) const SANDBOX_PATTERN: &str = "*/pause";

/// One node's plan and what can be done about it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedNode {
    pub plan: NodePlan,
    pub facts: NodeFacts,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterPlan {
    pub options: PlanOptions,
    pub nodes: Vec<PlannedNode>,
    /// Preloaders that cannot be read: what they preload, and where, is unknown, so no
    /// cleanup may run until they are fixed.
    pub problems: Vec<String>,
}

impl ClusterPlan {
    pub fn remove_images(&self) -> usize {
        self.nodes.iter().map(|n| n.plan.removals().count()).sum()
    }

    pub fn remove_bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.plan.remove_bytes).sum()
    }

    /// Nodes with something to remove.
    pub fn nodes_to_clean(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.plan.removals().next().is_some())
            .count()
    }

    /// (node, image key) of every removal: what a later plan is compared against.
    pub fn removal_keys(&self) -> BTreeSet<(String, String)> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.plan
                    .removals()
                    .map(move |i| (n.plan.node.clone(), image_key(i)))
            })
            .collect()
    }

    /// Keeps only the removals `allowed` holds; anything else becomes a keep, with why.
    pub fn restrict_to(&mut self, allowed: &BTreeSet<(String, String)>) -> usize {
        let mut dropped = 0;
        for n in &mut self.nodes {
            let node = n.plan.node.clone();
            for i in &mut n.plan.images {
                if i.decision == Decision::Remove
                    && !allowed.contains(&(node.clone(), image_key(i)))
                {
                    i.decision = Decision::Keep;
                    i.reason = super::planner::Reason::NotPreviewed;
                    dropped += 1;
                }
            }
            n.plan.remove_bytes = n.plan.removals().map(|i| i.size).sum();
        }
        dropped
    }
}

/// An image's identity within a node's plan: its ID, else its sorted names.
pub fn image_key(i: &ImagePlan) -> String {
    i.id.clone().unwrap_or_else(|| i.refs.join(","))
}

/// Plans every node; nodes are independent, so they are planned on every core, in order.
pub fn plan(facts: Vec<NodeFacts>, options: &PlanOptions) -> ClusterPlan {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(facts.len().div_ceil(256).max(1));
    let chunk = facts.len().div_ceil(threads).max(1);
    let mut facts = facts;
    let mut parts: Vec<Vec<NodeFacts>> = Vec::new();
    while facts.len() > chunk {
        let rest = facts.split_off(chunk);
        parts.push(facts);
        facts = rest;
    }
    parts.push(facts);
    let planned: Vec<Vec<PlannedNode>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    // Each distinct name is read once per thread, not once per node.
                    let mut memo = Memo::new();
                    part.into_iter()
                        .map(|f| PlannedNode {
                            plan: plan_node_with(&f.input, &f.settings, &mut memo),
                            facts: f,
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let nodes = planned.into_iter().flatten().collect();
    ClusterPlan {
        options: options.clone(),
        nodes,
        problems: Vec::new(),
    }
}

mod exec;
mod gather;
pub(crate) use exec::exec_target;
pub use gather::{Gathering, ListedNode, PodFacts, gather, gather_watched};
mod output;
pub use output::{
    display_name, familiar_name, settings_line, table, to_json, write_json, write_table,
};

#[cfg(test)]
mod tests;
