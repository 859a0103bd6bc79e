//! `kpreload check`: will preloading hold? The kubelet's settings and image-disk figures of
//! the pools' nodes (read through the API server's node proxy, a few at a time, at most
//! `--max-nodes` of them), against what each pool preloads. Exit 1 when any finding is a
//! warning or worse.

use std::collections::HashMap;
use std::io::Write;

use crate::core::objects::{Event, Pod};
use anyhow::{Result, bail};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::cluster::{Target, connect};
use crate::core::findings::gather::{Gathered, gather};
use crate::core::findings::{Finding, Severity, findings};
use crate::core::progress::Snapshot;

pub use super::Format;

pub struct CheckOptions<'a> {
    pub pool: Option<&'a str>,
    pub format: Format,
    /// Nodes whose kubelet is asked, at most (spread over the pools).
    pub max_nodes: usize,
    /// Asked which digest each preloaded tag names now (None: `--no-registry`).
    pub registry: Option<&'a crate::registry::Registry>,
}

/// Kubelets asked at once.
const CONCURRENCY: usize = 10;

pub async fn run(target: &Target, options: &CheckOptions<'_>, out: &mut dyn Write) -> Result<()> {
    let connection = connect(target).await?;
    connection.demo_registry(options.registry);
    let client = connection.client.clone();
    let ns = connection.namespace.clone();
    // All at once, each object trimmed to what the TUI's watches keep as its page arrives.
    use crate::cluster::{list_fold, list_with, trim};
    use crate::core::objects::{Interner, Workload};
    use kube::api::ListParams;
    use std::sync::Arc;
    let (nodes_api, all_pods) = (
        Api::<Node>::all(client.clone()),
        Api::<Pod>::all(client.clone()),
    );
    let (ds_api, pods_api, events_api) = (
        Api::<DaemonSet>::namespaced(client.clone(), &ns),
        Api::<Pod>::namespaced(client.clone(), &ns),
        Api::<Event>::namespaced(client.clone(), &ns),
    );
    let (ds_doing, pods_doing, events_doing) = (
        format!("list DaemonSets in {ns}"),
        format!("list pods in {ns}"),
        format!("list events in {ns}"),
    );
    let none = ListParams::default;
    let (nodes, daemonsets, pods, workloads, events) = tokio::try_join!(
        list_with(&nodes_api, none(), "list nodes", trim::node),
        list_with(&ds_api, none(), &ds_doing, trim::daemonset),
        list_with(&pods_api, none(), &pods_doing, trim::pod),
        // Every namespace's pods as the TUI's watch keeps them: records, strings shared.
        async {
            let start = || (Vec::new(), Interner::default());
            list_fold(&all_pods, none(), "list pods", start, |(out, names), p| {
                out.push(Arc::new(Workload::of(&p, &mut |s| names.intern(s))));
            })
            .await
            .map(|(out, _)| out)
        },
        list_with(&events_api, none(), &events_doing, trim::event),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let mut events = events;
    events.retain(|e| trim::event_read(e));
    let snapshot = Snapshot {
        nodes,
        pods,
        workloads,
        daemonsets,
        events,
    };
    let Gathered {
        pools: mut pool_facts,
        nodes: mut facts,
    } = gather(&snapshot, options.pool);
    // The tags the pools' nodes hold, against what their registries name them now.
    if let Some(registry) = options.registry {
        let asks: Vec<_> = pool_facts
            .iter()
            .flat_map(|p| &p.tags)
            .filter_map(|t| crate::core::reference::ImageRef::parse(&t.image).ok())
            .map(|i| (i, Vec::new()))
            .collect();
        let answers = registry.check_all(&asks).await;
        let now: HashMap<String, (String, String)> = answers
            .iter()
            .filter_map(|(i, _, a)| {
                let f = a.found()?;
                Some((i.normalized(), (f.registry.clone(), f.digest.clone())))
            })
            .collect();
        for p in &mut pool_facts {
            p.with_registry(|image| {
                let r = crate::core::reference::ImageRef::parse(image).ok()?;
                now.get(&r.normalized()).cloned()
            });
        }
    }
    if let Some(want) = options.pool
        && pool_facts.is_empty()
    {
        bail!("there is no pool {want:?} in {ns}; `kpreload status` lists the pools");
    }
    // The kubelets: at most max_nodes, spread evenly over the pools.
    let total = facts.len();
    let per_pool = options.max_nodes.max(1).div_ceil(pool_facts.len().max(1));
    let mut asked: Vec<usize> = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        let c = counts
            .entry(f.pool.clone().unwrap_or_default())
            .or_default();
        if *c < per_pool && asked.len() < options.max_nodes {
            *c += 1;
            asked.push(i);
        }
    }
    let answers: Vec<(usize, crate::cluster::kubelet::Answer)> =
        futures_util::stream::iter(asked.iter().copied())
            .map(|i| {
                let client = client.clone();
                let node = facts[i].node.clone();
                async move { (i, crate::cluster::kubelet::read(&client, &node).await) }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    for (i, a) in answers {
        match a {
            Ok((k, d)) => {
                facts[i].kubelet = Some(k);
                facts[i].disk = d;
            }
            Err(e) => facts[i].unread = Some(e),
        }
    }
    // What the workloads' starts say: the hit rate, and what is worth preloading.
    match crate::cluster::starts::figures(&client, &snapshot, |pool| {
        crate::core::findings::headroom(pool, &facts)
    })
    .await
    {
        Ok(figures) => {
            for p in &mut pool_facts {
                p.payoff = figures.iter().find(|f| f.pool == p.pool).cloned();
            }
        }
        Err(e) => eprintln!("kpreload: {e}; the hit rate and the suggestions are left out"),
    }
    // Whether something removes old versions where the kubelet's GC does not.
    match crate::cluster::scheduled::cleaned(&client, &ns).await {
        Ok(cleaned) => {
            for p in &mut pool_facts {
                p.scheduled_cleanup = Some(
                    cleaned
                        .iter()
                        .any(|c| c.as_deref().is_none_or(|only| only == p.pool)),
                );
            }
        }
        Err(e) => eprintln!("kpreload: {e} Whether a scheduled cleanup runs is not checked."),
    }
    // Findings that need no kubelet (pressure, eviction, a capped list) hold for every
    // node; the kubelet's only for those asked.
    let all = findings(&pool_facts, &facts);

    match options.format {
        Format::Json => {
            let doc = serde_json::json!({
                "findings": all,
                "nodes_checked": asked.len(),
                "nodes_total": total,
                "pools": pool_facts.iter().map(|p| {
                    let mut v = serde_json::json!({"pool": p.pool});
                    if let Some(f) = &p.payoff {
                        for (k, x) in super::payoff_json(Some(f)).as_object().into_iter().flatten() {
                            v[k] = x.clone();
                        }
                    }
                    v
                }).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Table => write_table(out, &all, &pool_facts, asked.len(), total)?,
    }
    let bad = all
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .count();
    if bad > 0 {
        bail!(
            "{bad} finding{} {} a warning or worse",
            if bad == 1 { "" } else { "s" },
            if bad == 1 { "is" } else { "are" }
        );
    }
    Ok(())
}

fn write_table(
    out: &mut dyn Write,
    all: &[Finding],
    pools: &[crate::core::findings::PoolFacts],
    checked: usize,
    total: usize,
) -> Result<()> {
    writeln!(
        out,
        "kubelets read on {checked} of {total} pool node{}",
        if total == 1 { "" } else { "s" }
    )?;
    for p in pools {
        if let Some(f) = &p.payoff {
            writeln!(out, "pool {}: {}", p.pool, f.sentence())?;
        }
    }
    if all.is_empty() {
        writeln!(out, "no findings: preloading should hold")?;
        return Ok(());
    }
    for f in all {
        let nodes = f.nodes_text();
        writeln!(
            out,
            "{:<8} {:<14} pool {}: {}",
            f.severity.word().to_uppercase(),
            f.code,
            f.pool.as_deref().unwrap_or("-"),
            f.message
        )?;
        writeln!(out, "         nodes: {nodes}")?;
        writeln!(out, "         do: {}", f.remedy)?;
    }
    Ok(())
}
