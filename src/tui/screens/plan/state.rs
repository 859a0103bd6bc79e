//! The TUI's cleanup: the plan of the cluster, a pool or a node, computed from what the
//! watches hold; keep-N and excluded nodes adjusted in place; a confirmation typed by name;
//! the run's per-node progress and results.

use std::collections::BTreeSet;

use crate::cluster::removal::NodeReport;
use crate::core::cleanup::{self, ClusterPlan, PlanOptions, display_name};
use crate::core::progress::Snapshot;

/// What a plan covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Pool(String),
    Node(String),
}

impl Scope {
    /// What the operator types to confirm: the pool's name, or `yes`.
    pub fn word(&self) -> &str {
        match self {
            Scope::Pool(p) => p,
            Scope::Cluster | Scope::Node(_) => "yes",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Scope::Cluster => "the cluster".into(),
            Scope::Pool(p) => format!("pool {p}"),
            Scope::Node(n) => format!("node {n}"),
        }
    }
}

/// (node, image key) of every removal: what was confirmed.
pub type Keys = BTreeSet<(String, String)>;

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// The plan, live: it follows the cluster.
    Preview,
    /// The confirmation dialog, with the removals it stands for.
    Confirm {
        typed: String,
        keys: Keys,
        /// Removals that appeared since the dialog opened (shown; typing again takes them).
        grew: Vec<String>,
    },
    /// Removing: each node's report as it comes.
    Running {
        total: usize,
        running: BTreeSet<String>,
        reports: Vec<NodeReport>,
    },
    /// The run's results, until the operator goes back to the (refreshed) plan.
    Done { reports: Vec<NodeReport> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cleanup {
    pub scope: Scope,
    /// Overrides the pools' own keep; adjusted with keep-more / keep-less.
    pub keep: Option<usize>,
    pub excluded: BTreeSet<String>,
    pub plan: ClusterPlan,
    pub phase: Phase,
}

/// One line of the plan view: a node, or one of its images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub node: String,
    /// Index into the node's plan images; None for the node's own line.
    pub image: Option<usize>,
}

impl Cleanup {
    pub fn new(scope: Scope, snapshot: &Snapshot, now: i64) -> Cleanup {
        let mut c = Cleanup {
            scope,
            keep: None,
            excluded: BTreeSet::new(),
            plan: ClusterPlan {
                options: PlanOptions::default(),
                nodes: Vec::new(),
                problems: Vec::new(),
            },
            phase: Phase::Preview,
        };
        c.recompute(snapshot, now);
        c
    }

    pub fn options(&self, now: i64) -> PlanOptions {
        let (pool, node) = match &self.scope {
            Scope::Cluster => (None, None),
            Scope::Pool(p) => (Some(p.clone()), None),
            Scope::Node(n) => (None, Some(n.clone())),
        };
        PlanOptions {
            keep: self.keep,
            pool,
            node,
            now,
            ..PlanOptions::default()
        }
    }

    /// The plan again, from what the watches hold now.
    pub(crate) fn recompute(&mut self, snapshot: &Snapshot, now: i64) {
        let options = self.options(now);
        // Every namespace's pods: what is in use (the app opens a plan only once that watch
        // is live); the preloaders' pods: where cleanup can run.
        let facts = cleanup::gather_watched(
            &snapshot.nodes,
            &snapshot.workloads,
            &snapshot.pods,
            &snapshot.daemonsets,
            &options,
        );
        self.plan = cleanup::plan(facts, &options);
        self.plan.problems = cleanup::blocking_problems(&snapshot.daemonsets);
    }

    /// The plan without the excluded nodes: what a run would do.
    pub fn effective(&self) -> ClusterPlan {
        let mut plan = self.plan.clone();
        plan.nodes.retain(|n| !self.excluded.contains(&n.plan.node));
        plan
    }

    /// What a run would do: the effective plan on the nodes where cleanup can run.
    pub(crate) fn runnable_plan(&self) -> ClusterPlan {
        let mut plan = self.effective();
        plan.nodes.retain(|n| n.facts.blocked().is_none());
        plan
    }

    /// Nodes with removals where cleanup can run, and those where it cannot.
    pub(crate) fn runnable(&self) -> (Vec<&str>, Vec<&str>) {
        let mut ok = Vec::new();
        let mut blocked = Vec::new();
        for n in &self.plan.nodes {
            if self.excluded.contains(&n.plan.node) || n.plan.removals().next().is_none() {
                continue;
            }
            if n.facts.blocked().is_some() {
                blocked.push(n.plan.node.as_str());
            } else {
                ok.push(n.plan.node.as_str());
            }
        }
        (ok, blocked)
    }

    /// The view's lines: each node (those with something to remove first), then its
    /// removals, then what it keeps.
    pub fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        let mut nodes: Vec<&cleanup::PlannedNode> = self.plan.nodes.iter().collect();
        nodes.sort_by_key(|n| n.plan.removals().next().is_none());
        for n in nodes {
            out.push(Line {
                node: n.plan.node.clone(),
                image: None,
            });
            let mut order: Vec<usize> = (0..n.plan.images.len()).collect();
            order.sort_by_key(|i| {
                let img = &n.plan.images[*i];
                (
                    img.decision != crate::core::planner::Decision::Remove,
                    display_name(img),
                )
            });
            out.extend(order.into_iter().map(|i| Line {
                node: n.plan.node.clone(),
                image: Some(i),
            }));
        }
        out
    }

    /// The text a line is filtered by.
    pub(crate) fn line_key(&self, line: &Line) -> String {
        match line.image {
            None => line.node.clone(),
            Some(i) => self
                .plan
                .nodes
                .iter()
                .find(|n| n.plan.node == line.node)
                .map(|n| format!("{} {}", line.node, display_name(&n.plan.images[i])))
                .unwrap_or_default(),
        }
    }

    /// Names of removals in `now` that `keys` does not hold, as `node image`.
    pub(crate) fn describe_new(&self, plan: &ClusterPlan, keys: &Keys) -> Vec<String> {
        let mut out = Vec::new();
        for n in &plan.nodes {
            for i in n.plan.removals() {
                if !keys.contains(&(n.plan.node.clone(), cleanup::image_key(i))) {
                    out.push(format!("{} {}", n.plan.node, display_name(i)));
                }
            }
        }
        out
    }
}
