//! Image removal through the cluster: reading what the planner needs, scanning nodes' runtimes on
//! request, and running a confirmed plan node by node with bounded concurrency — each node's
//! removal re-checked on the node, reported, and recorded as an Event on the node.

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::mpsc;

use super::{api_error, list_fold, list_with, trim};
use crate::core::adopt::{Preloader, read_preloader};
use crate::core::cleanup::{
    self, ClusterPlan, Gathering, NodeFacts, PlanOptions, PodFacts, display_name,
};
use crate::core::objects::Pod;
use crate::core::units;
use crate::runtime::exec::PodExec;
use crate::runtime::{Candidate, NodeRuntime, Outcome, Removal, Surface};
use kube::api::ListParams;
use std::collections::BTreeSet;

/// What a plan is made from.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    pub nodes: Vec<Arc<Node>>,
    pub pods: Vec<Arc<Pod>>,
    pub daemonsets: Vec<Arc<DaemonSet>>,
}

/// Which part of the cluster a plan is for.
#[derive(Clone, Debug, Default)]
pub struct Scope<'a> {
    pub pool: Option<&'a str>,
    pub node: Option<&'a str>,
}

/// Up to this many nodes, a plan's pods are listed node by node (`spec.nodeName`, which
/// API servers answer from an index); beyond, every pod is listed once.
const PODS_BY_NODE_UP_TO: usize = 1_000;

/// What the planner needs for the scope: the preloaders' DaemonSets (first, so that a pool
/// that does not exist is said before any big list), then the nodes — a pool's by its
/// selector, one node by name, else all — and the pods on them, each trimmed to what the
/// planner reads as its page arrives.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    scope: &Scope<'_>,
) -> Result<Fetched, String> {
    let daemonsets = daemonsets_in(client, namespace).await?;
    let nodes_api: Api<Node> = Api::all(client.clone());
    let pods_api: Api<Pod> = Api::all(client.clone());

    if let Some(name) = scope.node {
        let Some(node) = node_named(&nodes_api, name).await? else {
            return Err(format!(
                "There is no node {name} in the cluster; `kubectl get nodes` lists them."
            ));
        };
        let pods = pods_on(&pods_api, std::slice::from_ref(&node.metadata.name)).await?;
        return Ok(Fetched {
            nodes: vec![Arc::new(node)],
            pods,
            daemonsets,
        });
    }

    let Some(pool) = scope.pool else {
        let (nodes, pods) = tokio::try_join!(
            list_with(&nodes_api, ListParams::default(), "list nodes", trim::node),
            list_with(
                &pods_api,
                ListParams::default(),
                "list pods in all namespaces",
                trim::pod
            ),
        )?;
        return Ok(Fetched {
            nodes,
            pods,
            daemonsets,
        });
    };

    // The pool's preloaders (one, or its shards).
    let preloaders: Vec<(&DaemonSet, Preloader)> = daemonsets
        .iter()
        .filter_map(|ds| match read_preloader(ds) {
            Some(Ok(p)) => Some((ds.as_ref(), p)),
            _ => None,
        })
        .collect();
    let mine: Vec<&(&DaemonSet, Preloader)> = preloaders
        .iter()
        .filter(|(_, p)| p.pool.name == pool)
        .collect();
    if mine.is_empty() {
        let mut pools: Vec<&str> = preloaders
            .iter()
            .map(|(_, p)| p.pool.name.as_str())
            .collect();
        pools.sort();
        pools.dedup();
        return Err(format!(
            "There is no pool {pool} in namespace {namespace}; the pools there are: {}.",
            if pools.is_empty() {
                "none".to_string()
            } else {
                pools.join(", ")
            }
        ));
    }
    // Its nodes: those its selector can match, and those its pods run on.
    let mut nodes: Vec<Arc<Node>> = Vec::new();
    match mine[0].1.pool.selector.label_selectors(4) {
        Some(selectors) => {
            for selector in selectors {
                let params = ListParams::default().labels(&selector);
                nodes.extend(list_with(&nodes_api, params, "list nodes", trim::node).await?);
            }
        }
        None => {
            nodes = list_with(&nodes_api, ListParams::default(), "list nodes", trim::node).await?;
        }
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    nodes.retain(|n| names.insert(n.metadata.name.clone().unwrap_or_default()));
    let ns_pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for (ds, _) in &mine {
        let Some(selector) = ds
            .spec
            .selector
            .match_labels
            .as_ref()
            .filter(|m| !m.is_empty())
        else {
            continue;
        };
        let selector: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let params = ListParams::default().labels(&selector.join(","));
        let doing = format!("list pods in {namespace}");
        for p in list_with(&ns_pods, params, &doing, trim::pod).await? {
            let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            if names.contains(&node) {
                continue;
            }
            if let Some(n) = node_named(&nodes_api, &node).await? {
                names.insert(node);
                nodes.push(Arc::new(n));
            }
        }
    }
    let pods = if nodes.len() <= PODS_BY_NODE_UP_TO {
        let names: Vec<Option<String>> = nodes.iter().map(|n| n.metadata.name.clone()).collect();
        pods_on(&pods_api, &names).await?
    } else {
        list_with(
            &pods_api,
            ListParams::default(),
            "list pods in all namespaces",
            trim::pod,
        )
        .await?
    };
    Ok(Fetched {
        nodes,
        pods,
        daemonsets,
    })
}

/// What a plan is made from, read: every node's facts, and what stops any cleanup run.
#[derive(Debug)]
pub struct Gathered {
    pub facts: Vec<NodeFacts>,
    pub blocking: Vec<String>,
}

/// Reads what the planner needs for the scope into its facts. The whole cluster is read
/// page by page straight into them, the nodes and the pods at once, so that no listed
/// object outlives its page (100,000 pods are hundreds of megabytes as objects, a fraction
/// as facts); a pool or a node is fetched as `fetch` does, then gathered.
pub async fn gather(
    client: &kube::Client,
    namespace: &str,
    scope: &Scope<'_>,
    options: &PlanOptions,
) -> Result<Gathered, String> {
    if scope.pool.is_some() || scope.node.is_some() {
        let fetched = fetch(client, namespace, scope).await?;
        return Ok(Gathered {
            facts: cleanup::gather(&fetched.nodes, &fetched.pods, &fetched.daemonsets, options),
            blocking: cleanup::blocking_problems(&fetched.daemonsets),
        });
    }
    let daemonsets = daemonsets_in(client, namespace).await?;
    let gathering = Gathering::new(&daemonsets, options);
    let (nodes_api, pods_api) = (
        Api::<Node>::all(client.clone()),
        Api::<Pod>::all(client.clone()),
    );
    let (nodes, pods) = tokio::try_join!(
        list_fold(
            &nodes_api,
            ListParams::default(),
            "list nodes",
            Vec::new,
            |out, node| out.extend(gathering.take_node(node)),
        ),
        list_fold(
            &pods_api,
            ListParams::default(),
            "list pods in all namespaces",
            PodFacts::default,
            |facts, pod| gathering.pod(facts, &pod),
        ),
    )?;
    Ok(Gathered {
        facts: gathering.finish(nodes, pods),
        blocking: cleanup::blocking_problems(&daemonsets),
    })
}

/// The DaemonSets in the preloaders' namespace, trimmed: what is read first, so that a pool
/// that does not exist is said before any big list.
async fn daemonsets_in(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<Arc<DaemonSet>>, String> {
    list_with(
        &Api::namespaced(client.clone(), namespace),
        ListParams::default(),
        &format!("list daemonsets in {namespace}"),
        trim::daemonset,
    )
    .await
}

/// One node by name, trimmed to what the planner reads; None when there is no such node.
async fn node_named(api: &Api<Node>, name: &str) -> Result<Option<Node>, String> {
    let mut node = api
        .get_opt(name)
        .await
        .map_err(|e| api_error(&e, &format!("read node {name}")))?;
    if let Some(n) = &mut node {
        trim::node(n);
    }
    Ok(node)
}

/// The pods on these nodes, in every namespace: one list per node, a few at once.
async fn pods_on(api: &Api<Pod>, nodes: &[Option<String>]) -> Result<Vec<Arc<Pod>>, String> {
    let lists: Vec<Result<Vec<Arc<Pod>>, String>> =
        futures_util::stream::iter(nodes.iter().flatten())
            .map(|node| async move {
                let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
                list_with(
                    api,
                    params,
                    &format!("list the pods on node {node}"),
                    trim::pod,
                )
                .await
            })
            .buffer_unordered(8)
            .collect()
            .await;
    let mut out = Vec::new();
    for list in lists {
        out.extend(list?);
    }
    Ok(out)
}

fn runtime_for(client: &kube::Client, facts: &NodeFacts) -> Result<NodeRuntime<PodExec>, String> {
    let exec = facts.exec.clone()?;
    let tool = facts.tool.clone()?;
    Ok(NodeRuntime::new(
        Surface::node(tool),
        PodExec::new(client.clone(), &exec.namespace, &exec.pod, &exec.container),
    ))
}

/// Reads the runtime's own inventory on the nodes `want` picks (at most `concurrency` at
/// once); a node that cannot be scanned keeps its `status.images` and is reported.
pub(crate) async fn deepen(
    client: &kube::Client,
    facts: &mut [NodeFacts],
    want: impl Fn(&NodeFacts) -> bool,
    concurrency: usize,
) -> Vec<(String, String)> {
    let jobs: Vec<(usize, NodeRuntime<PodExec>)> = facts
        .iter()
        .enumerate()
        .filter(|(_, f)| want(f))
        .filter_map(|(i, f)| runtime_for(client, f).ok().map(|rt| (i, rt)))
        .collect();
    let results: Vec<(usize, Result<crate::runtime::Inventory, String>)> =
        futures_util::stream::iter(jobs)
            .map(|(i, mut rt)| async move {
                let result = rt.settled_inventory().await;
                (i, result)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let mut problems = Vec::new();
    for (i, result) in results {
        match result {
            Ok(inventory) => facts[i].deepen(&inventory),
            Err(e) => problems.push((facts[i].node().to_string(), e)),
        }
    }
    problems.sort();
    problems
}

/// What happened on one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    pub node: String,
    pub pool: Option<String>,
    pub removals: Vec<Removal>,
    /// Why the node could not be cleaned at all.
    pub error: Option<String>,
    /// Why the audit Event could not be recorded, if it could not.
    pub event_error: Option<String>,
}

impl NodeReport {
    pub fn removed(&self) -> usize {
        self.removals
            .iter()
            .filter(|r| r.outcome == Outcome::Removed)
            .count()
    }

    pub fn freed(&self) -> u64 {
        self.removals.iter().map(Removal::freed).sum()
    }

    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self
                .removals
                .iter()
                .any(|r| matches!(r.outcome, Outcome::Failed(_)))
    }
}

/// Progress of a run, as nodes start and finish.
#[derive(Clone, Debug)]
pub enum Step {
    Started(String),
    Finished(NodeReport),
}

/// Runs a plan's removals: every node with something to remove, at most `concurrency` at
/// once. A node that fails is reported and the others go on.
pub(crate) async fn execute(
    client: &kube::Client,
    plan: &ClusterPlan,
    concurrency: usize,
    progress: Option<mpsc::UnboundedSender<Step>>,
) -> Vec<NodeReport> {
    // Owned jobs, each its own future: the run can be spawned as a task.
    let owned: Vec<crate::core::cleanup::PlannedNode> = plan
        .nodes
        .iter()
        .filter(|n| n.plan.removals().next().is_some())
        .cloned()
        .collect();
    let jobs = owned.into_iter().map(|n| {
        let client = client.clone();
        let progress = progress.clone();
        async move {
            if let Some(tx) = &progress {
                let _ = tx.send(Step::Started(n.plan.node.clone()));
            }
            let report = clean_node(&client, &n).await;
            if let Some(tx) = &progress {
                let _ = tx.send(Step::Finished(report.clone()));
            }
            report
        }
    });
    let mut reports: Vec<NodeReport> = futures_util::stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    reports.sort_by(|a, b| a.node.cmp(&b.node));
    reports
}

async fn clean_node(client: &kube::Client, n: &crate::core::cleanup::PlannedNode) -> NodeReport {
    let mut report = NodeReport {
        node: n.plan.node.clone(),
        pool: n.plan.pool.clone(),
        removals: Vec::new(),
        error: None,
        event_error: None,
    };
    let mut rt = match runtime_for(client, &n.facts) {
        Ok(rt) => rt,
        Err(why) => {
            report.error = Some(format!("cleanup cannot run here: {why}"));
            return report;
        }
    };
    if let Err(e) = rt.settle_tool().await {
        report.error = Some(e);
        return report;
    }
    let candidates: Vec<Candidate> = n.plan.removals().map(Candidate::from).collect();
    match rt.remove(&candidates).await {
        Ok(removals) => report.removals = removals,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    }
    if report.removed() > 0
        && let Err(e) = record_event(client, n, &report).await
    {
        report.event_error = Some(e);
    }
    report
}

/// An Event on the node for audit: reason `ImagesRemoved`, how many, how many bytes, which.
async fn record_event(
    client: &kube::Client,
    n: &crate::core::cleanup::PlannedNode,
    report: &NodeReport,
) -> Result<(), String> {
    let names: Vec<String> = report
        .removals
        .iter()
        .filter(|r| r.outcome == Outcome::Removed)
        .filter_map(|r| n.plan.removals().find(|i| i.refs == r.candidate.refs))
        .map(display_name)
        .collect();
    let count = report.removed();
    let message = format!(
        "Removed {count} image{} ({}) older than the newest {}: {}",
        if count == 1 { "" } else { "s" },
        units::bytes(report.freed()),
        n.facts.settings.keep,
        names.join(", ")
    );
    // In the preloaders' namespace, where kpreload's role may create Events; `kubectl
    // describe node` finds a node's Events in any namespace.
    let namespace = n
        .facts
        .exec
        .as_ref()
        .map(|e| e.namespace.clone())
        .unwrap_or_else(|_| crate::cluster::DEFAULT_NAMESPACE.to_string());
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", n.plan.node, now.as_nanosecond() as u64)),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(n.plan.node.clone()),
            uid: n.facts.uid.clone(),
            ..Default::default()
        },
        reason: Some("ImagesRemoved".into()),
        message: Some(message),
        type_: Some("Normal".into()),
        source: Some(EventSource {
            component: Some("kpreload".into()),
            host: None,
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        reporting_component: Some("kpreload".into()),
        reporting_instance: Some("kpreload".into()),
        action: Some("RemoveImages".into()),
        count: Some(1),
        ..Default::default()
    };
    Api::<Event>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &event)
        .await
        .map(|_| ())
        .map_err(|e| api_error(&e, &format!("record an Event in {namespace}")))
}

/// One line per node, and a line per image that was not simply removed.
pub(crate) fn report_lines(r: &NodeReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(e) = &r.error {
        lines.push(format!("{}: failed: {e}", r.node));
        return lines;
    }
    let skipped = r
        .removals
        .iter()
        .filter(|x| matches!(x.outcome, Outcome::Skipped(_)))
        .count();
    let gone = r
        .removals
        .iter()
        .filter(|x| x.outcome == Outcome::AlreadyGone)
        .count();
    let failed = r
        .removals
        .iter()
        .filter(|x| matches!(x.outcome, Outcome::Failed(_)))
        .count();
    let mut head = format!(
        "{}: removed {}, freed {}",
        r.node,
        r.removed(),
        units::bytes(r.freed())
    );
    for (n, word) in [
        (skipped, "skipped"),
        (gone, "already gone"),
        (failed, "failed"),
    ] {
        if n > 0 {
            head.push_str(&format!(", {n} {word}"));
        }
    }
    lines.push(head);
    for x in &r.removals {
        let name = crate::core::cleanup::familiar_name(&x.candidate.refs);
        match &x.outcome {
            Outcome::Removed => {
                let gone_before = x
                    .names
                    .iter()
                    .filter(|(_, res)| *res == crate::runtime::NameResult::AlreadyGone)
                    .count();
                let note = if gone_before > 0 {
                    format!(" ({gone_before} of its names were already gone)")
                } else {
                    String::new()
                };
                lines.push(format!("  removed {name}{note}"));
            }
            Outcome::AlreadyGone => lines.push(format!("  already gone {name}")),
            Outcome::Skipped(why) => lines.push(format!("  kept {name}: {why}")),
            Outcome::Failed(why) => lines.push(format!("  failed {name}: {why}")),
        }
    }
    if let Some(e) = &r.event_error {
        lines.push(format!("  (the audit Event was not recorded: {e})"));
    }
    lines
}
