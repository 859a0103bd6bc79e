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

use super::{api_error, list_all};
use crate::core::cleanup::{ClusterPlan, NodeFacts, display_name};
use crate::core::objects::Pod;
use crate::core::units;
use crate::runtime::exec::PodExec;
use crate::runtime::{Candidate, NodeRuntime, Outcome, Removal, Surface};

/// What a plan is made from.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    pub nodes: Vec<Arc<Node>>,
    pub pods: Vec<Arc<Pod>>,
    pub daemonsets: Vec<Arc<DaemonSet>>,
}

/// Nodes, pods in every namespace (what uses each image) and the preloaders' DaemonSets.
pub async fn fetch(client: &kube::Client, namespace: &str) -> Result<Fetched, String> {
    let doing = format!("list daemonsets in {namespace}");
    let (nodes, pods, daemonsets) = tokio::try_join!(
        list_all::<Node>(Api::all(client.clone()), "list nodes"),
        list_all::<Pod>(Api::all(client.clone()), "list pods in all namespaces"),
        list_all::<DaemonSet>(Api::namespaced(client.clone(), namespace), &doing,),
    )?;
    Ok(Fetched {
        nodes,
        pods,
        daemonsets,
    })
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
                let result = match rt.settle_tool().await {
                    Ok(_) => rt.inventory().await,
                    Err(e) => Err(e),
                };
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
