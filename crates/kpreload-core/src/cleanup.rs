//! A cluster's cleanup plan: for every node, what the planner is told (its images, what
//! uses them, what its pool preloads, the settings in force) and what it decides; the
//! plan's table and its JSON contract (`plan`, docs/contracts.md).
//!
//! Pure: the caller fetches nodes, pods and DaemonSets (and, for a deep scan, the runtime's
//! inventory) and passes the time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;

use super::adopt::read_preloader;
use super::objects::Pod;
use super::planner::{
    DEFAULT_PROTECT, Decision, ImagePlan, InventoryImage, Memo, NodeInput, NodePlan, Preload,
    Settings, Usage, plan_node_with,
};
use super::reference::ImageRef;
use super::selector::Taint;
use super::units;
use crate::runtime::{Inventory, Tool, tool_for};

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

/// Reads the cluster into one `NodeFacts` per node (those the filters let through), sorted
/// by node name.
pub fn gather(
    nodes: &[Arc<Node>],
    pods: &[Arc<Pod>],
    daemonsets: &[Arc<DaemonSet>],
    options: &PlanOptions,
) -> Vec<NodeFacts> {
    // The preloaders and their pods on each node.
    struct Served {
        pool: String,
        images: Vec<String>,
        keep: Option<usize>,
        protect: Option<Vec<String>>,
        exec: Result<ExecTarget, String>,
    }
    let mut by_uid: HashMap<&str, (&DaemonSet, super::adopt::Preloader)> = HashMap::new();
    for ds in daemonsets {
        if let Some(Ok(p)) = read_preloader(ds)
            && let Some(uid) = ds.metadata.uid.as_deref()
        {
            by_uid.insert(uid, (ds.as_ref(), p));
        }
    }
    let mut preloader_pod: HashMap<(&str, &str), &Pod> = HashMap::new();
    let mut on_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for p in pods {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        on_node.entry(node).or_default().push(p);
        for o in p.metadata.owner_references.iter().flatten() {
            if o.kind == "DaemonSet" && by_uid.contains_key(o.uid.as_str()) {
                let newer = preloader_pod.get(&(o.uid.as_str(), node)).is_none_or(|q| {
                    (&p.metadata.creation_timestamp, &p.metadata.name)
                        > (&q.metadata.creation_timestamp, &q.metadata.name)
                });
                if newer {
                    preloader_pod.insert((o.uid.as_str(), node), p);
                }
            }
        }
    }
    let mut preloaders: Vec<(&str, &DaemonSet, &super::adopt::Preloader)> =
        by_uid.iter().map(|(uid, (ds, p))| (*uid, *ds, p)).collect();
    preloaders.sort_by(|a, b| {
        a.2.pool
            .name
            .cmp(&b.2.pool.name)
            .then(a.2.name.cmp(&b.2.name))
    });

    let no_labels = BTreeMap::new();
    let mut out = Vec::new();
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        if options.node.as_ref().is_some_and(|n| *n != name) {
            continue;
        }
        let labels = node.metadata.labels.as_ref().unwrap_or(&no_labels);
        let taints = Taint::of_node(node);
        let mut served: Vec<Served> = Vec::new();
        for (uid, ds, p) in &preloaders {
            let pod = preloader_pod.get(&(*uid, name.as_str())).copied();
            if pod.is_none() && !p.pool.covers(labels, &taints) {
                continue;
            }
            served.push(Served {
                pool: p.pool.name.clone(),
                images: p.pool.images.iter().map(|i| i.to_string()).collect(),
                keep: p.pool.keep,
                protect: p.pool.protect.clone(),
                exec: exec_target(ds, pod),
            });
        }
        let pool = served.first().map(|s| s.pool.clone());
        if let Some(want) = &options.pool
            && !served.iter().any(|s| &s.pool == want)
        {
            continue;
        }

        let status = node.status.as_ref();
        let listed = status.and_then(|s| s.images.as_ref());
        let images: Vec<InventoryImage> = listed
            .into_iter()
            .flatten()
            .map(|i| InventoryImage {
                id: None,
                refs: i.names.clone().unwrap_or_default(),
                size: i.size_bytes.unwrap_or(0).max(0) as u64,
                pinned: false,
                created: None,
            })
            .filter(|i| !i.refs.is_empty())
            .collect();
        let capped = listed.is_some_and(|l| l.len() >= STATUS_IMAGES_CAP);
        let tool = tool_for(
            status
                .and_then(|s| s.node_info.as_ref())
                .map_or("", |i| i.container_runtime_version.as_str()),
        );

        let mut in_use = Vec::new();
        for p in on_node.get(name.as_str()).into_iter().flatten() {
            // A preloader's init containers are what preloads: the preloaded rule keeps
            // their images, and says so.
            let preloader = p
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "DaemonSet" && by_uid.contains_key(o.uid.as_str()));
            in_use.extend(usages(p, preloader));
        }
        let preloaded = served
            .iter()
            .flat_map(|s| {
                s.images.iter().map(|i| Preload {
                    image: i.clone(),
                    pool: s.pool.clone(),
                })
            })
            .collect();

        // The first pool's settings, unless the operator set them; the sandbox image always.
        let first = served.first();
        let keep = options
            .keep
            .or(first.and_then(|s| s.keep))
            .unwrap_or(super::planner::DEFAULT_KEEP);
        let mut protect: Vec<String> = options
            .protect
            .clone()
            .or(first.and_then(|s| s.protect.clone()))
            .unwrap_or_else(|| DEFAULT_PROTECT.iter().map(|s| s.to_string()).collect());
        // Any repository named `…/pause`, in any registry: `*` crosses `/` in patterns.
        if !protect.iter().any(|p| p == SANDBOX_PATTERN) {
            protect.push(SANDBOX_PATTERN.into());
        }
        // The first pool's own exec target; when it has none (a split pool's later shard),
        // another preloader's kpreload cleanup container on the node, never just any
        // privileged container.
        let runs = first.filter(|s| s.exec.is_ok()).or_else(|| {
            served
                .iter()
                .find(|s| {
                    s.exec
                        .as_ref()
                        .is_ok_and(|t| t.container == super::render::CLEANUP_CONTAINER)
                })
                .or(first)
        });
        let exec = match runs {
            Some(s) => s.exec.clone(),
            None => Err(
                "no preloader runs on this node, so kpreload has nowhere to run the \
                         runtime's tools; render one for its pool"
                    .into(),
            ),
        };
        out.push(NodeFacts {
            uid: node.metadata.uid.clone(),
            input: NodeInput {
                node: name,
                pool,
                images,
                in_use,
                preloaded,
            },
            settings: Settings {
                keep,
                protect,
                min_age_secs: options.min_age_secs,
                now: options.now,
                group_flavours: options.group_flavours,
            },
            exec,
            tool,
            capped,
            deep: false,
        });
    }
    out.sort_by(|a, b| a.input.node.cmp(&b.input.node));
    out
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

/// Every image a pod's containers use, by the spec's name and the kubelet's resolved ID;
/// without the init containers when `skip_init`.
fn usages(p: &Pod, skip_init: bool) -> Vec<Usage> {
    let by = format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or("default"),
        p.metadata.name.as_deref().unwrap_or("?")
    );
    let mut out = Vec::new();
    if let Some(spec) = &p.spec {
        let all = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|_| !skip_init)
            .chain(spec.containers.iter())
            .chain(spec.ephemeral_containers.iter().flatten());
        for c in all {
            if let Some(image) = &c.image {
                out.push(Usage {
                    image: image.clone(),
                    by: by.clone(),
                });
            }
        }
    }
    if let Some(status) = &p.status {
        let all = status
            .init_container_statuses
            .iter()
            .flatten()
            .filter(|_| !skip_init)
            .chain(status.container_statuses.iter().flatten())
            .chain(status.ephemeral_container_statuses.iter().flatten());
        for s in all {
            for image in [&s.image, &s.image_id] {
                if !image.is_empty() {
                    out.push(Usage {
                        image: image.clone(),
                        by: by.clone(),
                    });
                }
            }
        }
        // A trimmed workload pod keeps only the kubelet's names and resolved IDs.
        for id in &status.image_ids {
            out.push(Usage {
                image: id.clone(),
                by: by.clone(),
            });
        }
    }
    out
}

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
pub(crate) use exec::exec_target;
mod output;
pub use output::{
    display_name, familiar_name, settings_line, table, to_json, write_json, write_table,
};

#[cfg(test)]
mod tests;
