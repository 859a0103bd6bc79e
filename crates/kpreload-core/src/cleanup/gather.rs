//! Reading the cluster into one `NodeFacts` per node, object by object: the preloaders first
//! (from their DaemonSets), then each pod and each node as it is listed, so that a caller
//! listing 100,000 pods page by page holds the facts, not the objects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{ExecTarget, NodeFacts, PlanOptions, SANDBOX_PATTERN, STATUS_IMAGES_CAP, exec_target};
use crate::adopt::{Preloader, read_preloader};
use crate::objects::{Pod, Workload};
use crate::planner::{DEFAULT_PROTECT, InventoryImage, NodeInput, Preload, Settings, Usage};
use crate::runtime::{Tool, tool_for};
use crate::selector::Taint;

/// The preloaders a plan is gathered against, read once from the DaemonSets.
pub struct Gathering<'a> {
    options: &'a PlanOptions,
    /// Sorted by pool, then by name: a node's first pool is the first that serves it.
    preloaders: Vec<Served<'a>>,
    by_uid: HashMap<&'a str, usize>,
}

struct Served<'a> {
    ds: &'a DaemonSet,
    preloader: Preloader,
    /// What the pool preloads, as the plan names it (once, not once per node).
    images: Vec<String>,
}

/// What the pods say, gathered pod by pod: what each node's pods use, and each
/// preloader's newest pod on each node.
#[derive(Debug, Default)]
pub struct PodFacts {
    in_use: HashMap<String, Vec<Usage>>,
    /// By node: each preloader's (by index) newest pod there.
    newest: HashMap<String, Vec<(usize, Newest)>>,
}

#[derive(Debug)]
struct Newest {
    created: Option<Time>,
    name: Option<String>,
    exec: Result<ExecTarget, String>,
}

/// One node as listed, before its pods are all known.
#[derive(Debug)]
pub struct ListedNode {
    name: String,
    uid: Option<String>,
    /// By preloader: whether its selector and tolerations take the node.
    covered: Vec<bool>,
    images: Vec<InventoryImage>,
    capped: bool,
    tool: Result<Tool, String>,
}

impl<'a> Gathering<'a> {
    pub fn new(daemonsets: &'a [Arc<DaemonSet>], options: &'a PlanOptions) -> Self {
        // A UID twice (a copy of one DaemonSet listed twice) counts once, as the last.
        let mut last: HashMap<&str, (&'a DaemonSet, Preloader)> = HashMap::new();
        for ds in daemonsets {
            if let Some(Ok(preloader)) = read_preloader(ds)
                && let Some(uid) = ds.metadata.uid.as_deref()
            {
                last.insert(uid, (ds.as_ref(), preloader));
            }
        }
        let mut preloaders: Vec<Served<'a>> = last
            .into_values()
            .map(|(ds, preloader)| Served {
                ds,
                images: preloader
                    .pool
                    .images
                    .iter()
                    .map(|i| i.to_string())
                    .collect(),
                preloader,
            })
            .collect();
        preloaders.sort_by(|a, b| {
            (&a.preloader.pool.name, &a.preloader.name)
                .cmp(&(&b.preloader.pool.name, &b.preloader.name))
        });
        let by_uid = preloaders
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((s.ds.metadata.uid.as_deref()?, i)))
            .collect();
        Gathering {
            options,
            preloaders,
            by_uid,
        }
    }

    /// Adds what one pod says. Pods that are not on a node, or not on the node the options
    /// name, say nothing.
    pub fn pod(&self, facts: &mut PodFacts, p: &Pod) {
        self.preloader_pod(facts, p);
        self.workload(facts, &Workload::from(p));
    }

    /// Adds what one preloader's pod says of where cleanup can run: the newest of each
    /// preloader's pods on its node. Other pods say nothing here.
    pub fn preloader_pod(&self, facts: &mut PodFacts, p: &Pod) {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            return;
        };
        if self.options.node.as_ref().is_some_and(|n| n != node) {
            return;
        }
        for o in p.metadata.owner_references.iter().flatten() {
            if o.kind != "DaemonSet" {
                continue;
            }
            let Some(&i) = self.by_uid.get(o.uid.as_str()) else {
                continue;
            };
            let on_node = match facts.newest.get_mut(node) {
                Some(v) => v,
                None => facts.newest.entry(node.to_string()).or_default(),
            };
            let known = on_node.iter_mut().find(|(j, _)| *j == i);
            let newer = known.as_ref().is_none_or(|(_, q)| {
                (&p.metadata.creation_timestamp, &p.metadata.name) > (&q.created, &q.name)
            });
            if newer {
                let newest = Newest {
                    created: p.metadata.creation_timestamp.clone(),
                    name: p.metadata.name.clone(),
                    exec: exec_target(self.preloaders[i].ds, Some(p)),
                };
                match known {
                    Some((_, q)) => *q = newest,
                    None => on_node.push((i, newest)),
                }
            }
        }
    }

    /// Adds which images one pod uses on its node (its record from the all-namespaces
    /// watch). Pods that are not on a node, or not on the node the options name, say nothing.
    pub fn workload(&self, facts: &mut PodFacts, w: &Workload) {
        let Some(node) = w.node.as_deref() else {
            return;
        };
        if self.options.node.as_ref().is_some_and(|n| n != node) {
            return;
        }
        // A preloader's init containers are what preloads: the preloaded rule keeps their
        // images, and says so.
        let preloader = w
            .daemonsets
            .iter()
            .any(|uid| self.by_uid.contains_key(uid.as_ref()));
        let used = usages(w, preloader);
        match facts.in_use.get_mut(node) {
            Some(v) => v.extend(used),
            None => {
                facts.in_use.insert(node.to_string(), used);
            }
        }
    }

    /// One node as listed, its `status.images` copied; None when the options leave it out.
    pub fn node(&self, node: &Node) -> Option<ListedNode> {
        let listed = node.status.as_ref().and_then(|s| s.images.as_ref());
        let images = listed
            .into_iter()
            .flatten()
            .map(|i| (i.names.clone(), i.size_bytes));
        let capped = listed.is_some_and(|l| l.len() >= STATUS_IMAGES_CAP);
        self.listed(node, images, capped)
    }

    /// One node as listed, its `status.images` moved out rather than copied.
    pub fn take_node(&self, mut node: Node) -> Option<ListedNode> {
        let listed = node
            .status
            .as_mut()
            .and_then(|s| s.images.take())
            .unwrap_or_default();
        let capped = listed.len() >= STATUS_IMAGES_CAP;
        let images = listed.into_iter().map(|i| (i.names, i.size_bytes));
        self.listed(&node, images, capped)
    }

    fn listed(
        &self,
        node: &Node,
        images: impl Iterator<Item = (Option<Vec<String>>, Option<i64>)>,
        capped: bool,
    ) -> Option<ListedNode> {
        let name = node.metadata.name.clone().unwrap_or_default();
        if self.options.node.as_ref().is_some_and(|n| *n != name) {
            return None;
        }
        let no_labels = BTreeMap::new();
        let labels = node.metadata.labels.as_ref().unwrap_or(&no_labels);
        let taints = Taint::of_node(node);
        let covered = self
            .preloaders
            .iter()
            .map(|s| s.preloader.pool.covers(labels, &taints))
            .collect();
        let images = images
            .map(|(names, size)| InventoryImage {
                id: None,
                refs: names.unwrap_or_default(),
                size: size.unwrap_or(0).max(0) as u64,
                pinned: false,
                created: None,
            })
            .filter(|i| !i.refs.is_empty())
            .collect();
        let tool = tool_for(
            node.status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map_or("", |i| i.container_runtime_version.as_str()),
        );
        Some(ListedNode {
            name,
            uid: node.metadata.uid.clone(),
            covered,
            images,
            capped,
            tool,
        })
    }

    /// The facts of every listed node the options let through, sorted by node name.
    pub fn finish(&self, nodes: Vec<ListedNode>, mut pods: PodFacts) -> Vec<NodeFacts> {
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            // The preloaders on the node: those with a pod there, and those whose
            // selector takes it.
            let mut newest = pods.newest.remove(&node.name).unwrap_or_default();
            let served: Vec<(&Served, Result<ExecTarget, String>)> = self
                .preloaders
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match newest.iter().position(|(j, _)| *j == i) {
                    Some(at) => Some((s, newest.swap_remove(at).1.exec)),
                    None if node.covered[i] => Some((s, exec_target(s.ds, None))),
                    None => None,
                })
                .collect();
            if let Some(want) = &self.options.pool
                && !served.iter().any(|(s, _)| &s.preloader.pool.name == want)
            {
                continue;
            }
            let first = served.first();
            let pool = first.map(|(s, _)| s.preloader.pool.name.clone());
            let preloaded = served
                .iter()
                .flat_map(|(s, _)| {
                    s.images.iter().map(|i| Preload {
                        image: i.clone(),
                        pool: s.preloader.pool.name.clone(),
                    })
                })
                .collect();

            // The first pool's settings, unless the operator set them; the sandbox image
            // always.
            let options = self.options;
            let keep = options
                .keep
                .or(first.and_then(|(s, _)| s.preloader.pool.keep))
                .unwrap_or(crate::planner::DEFAULT_KEEP);
            let mut protect: Vec<String> = options
                .protect
                .clone()
                .or(first.and_then(|(s, _)| s.preloader.pool.protect.clone()))
                .unwrap_or_else(|| DEFAULT_PROTECT.iter().map(|s| s.to_string()).collect());
            // Any repository named `…/pause`, in any registry: `*` crosses `/` in patterns.
            if !protect.iter().any(|p| p == SANDBOX_PATTERN) {
                protect.push(SANDBOX_PATTERN.into());
            }
            // The first pool's own exec target; when it has none (a split pool's later
            // shard), another preloader's kpreload cleanup container on the node, never
            // just any privileged container.
            let runs = first.filter(|(_, e)| e.is_ok()).or_else(|| {
                served
                    .iter()
                    .find(|(_, e)| {
                        e.as_ref()
                            .is_ok_and(|t| t.container == crate::render::CLEANUP_CONTAINER)
                    })
                    .or(first)
            });
            let exec = match runs {
                Some((_, e)) => e.clone(),
                None => Err(
                    "no preloader runs on this node, so kpreload has nowhere to run \
                             the runtime's tools; render one for its pool"
                        .into(),
                ),
            };
            let in_use = pods.in_use.remove(&node.name).unwrap_or_default();
            out.push(NodeFacts {
                uid: node.uid,
                input: NodeInput {
                    node: node.name,
                    pool,
                    images: node.images,
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
                tool: node.tool,
                capped: node.capped,
                deep: false,
            });
        }
        out.sort_by(|a, b| a.input.node.cmp(&b.input.node));
        out
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
    let gathering = Gathering::new(daemonsets, options);
    let mut facts = PodFacts::default();
    for p in pods {
        gathering.pod(&mut facts, p);
    }
    let listed = nodes.iter().filter_map(|n| gathering.node(n)).collect();
    gathering.finish(listed, facts)
}

/// [`gather`] from what the TUI's watches keep: every namespace's pods as records, and the
/// preloaders' namespace's pods whole (a preloader's pods are in its own namespace). The
/// same facts as [`gather`] on the same pods.
pub fn gather_watched(
    nodes: &[Arc<Node>],
    workloads: &[Arc<Workload>],
    preloader_pods: &[Arc<Pod>],
    daemonsets: &[Arc<DaemonSet>],
    options: &PlanOptions,
) -> Vec<NodeFacts> {
    let gathering = Gathering::new(daemonsets, options);
    let mut facts = PodFacts::default();
    for p in preloader_pods {
        gathering.preloader_pod(&mut facts, p);
    }
    for w in workloads {
        gathering.workload(&mut facts, w);
    }
    let listed = nodes.iter().filter_map(|n| gathering.node(n)).collect();
    gathering.finish(listed, facts)
}

/// Every image a pod's containers use, by the spec's name and the kubelet's resolved ID;
/// without the init containers when `skip_init`.
fn usages(w: &Workload, skip_init: bool) -> Vec<Usage> {
    let by = w.place().to_string();
    fn init(images: &[Arc<str>], skip: bool) -> &[Arc<str>] {
        if skip { &[] } else { images }
    }
    // The spec's names, then the kubelet's: a trimmed pod's resolved IDs (all in
    // `other_ran`) come in the same order as a whole pod's.
    init(w.init_images(), skip_init)
        .iter()
        .chain(w.container_images())
        .chain(w.ephemeral_images())
        .chain(init(w.init_ran(), skip_init))
        .chain(w.other_ran())
        .map(|image| Usage {
            image: image.to_string(),
            by: by.clone(),
        })
        .collect()
}
