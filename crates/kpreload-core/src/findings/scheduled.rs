//! The image GC off and nothing removing old versions: what the article's advice leads to
//! when its daily cleanup is not run. The kubelet then removes images only on a full disk
//! (with pods evicted for it), and every version ever pulled stays until then.

use super::{Finding, NodeFacts, PoolFacts, Severity};

/// The `no-cleanup` finding of a pool, when its nodes' GC is off and no scheduled cleanup
/// cleans it (as far as its CronJobs could be read: unknown says nothing).
pub(super) fn no_cleanup(
    facts: &PoolFacts,
    members: &[&NodeFacts],
    pool: Option<String>,
) -> Option<Finding> {
    if facts.scheduled_cleanup != Some(false) {
        return None;
    }
    let off: Vec<&NodeFacts> = members
        .iter()
        .copied()
        .filter(|n| n.kubelet.as_ref().is_some_and(|k| !k.gc_enabled()))
        .collect();
    if off.is_empty() {
        return None;
    }
    let fullest = off
        .iter()
        .filter_map(|n| n.disk.map(|d| (d.percent(), n.node.as_str())))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(p, node)| format!("; the fullest, {node}, is at {p:.0} %"))
        .unwrap_or_default();
    Some(Finding {
        severity: Severity::Warning,
        code: "no-cleanup",
        pool,
        nodes: off.iter().map(|n| n.node.clone()).collect(),
        message: format!(
            "the kubelet's image GC is off on {} node{} and no scheduled cleanup cleans the pool: nothing removes old versions, so the image disk fills until the kubelet evicts pods for room{fullest}",
            off.len(),
            if off.len() == 1 { "" } else { "s" },
        ),
        remedy: "schedule kpreload's cleanup: a cleanup: section in the pools file, then kpreload apply (or kpreload render --cronjob | kubectl apply -f -)".into(),
    })
}
