//! `kpreload status`: pull progress per pool and node, without a terminal UI. `--wait` blocks
//! until every preloader is complete (exit 0) or something failed or timed out (exit 1).

use std::io::Write;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cluster::watch::{self, Links, PodScope};
use crate::cluster::{Target, connect};
use crate::core::nodepools::NodePool;
use crate::core::payoff::Figures;
use crate::core::progress::{self, ImageState, Overview, PoolProgress, Snapshot};
use crate::core::units;

pub use super::Format;

pub struct StatusOptions<'a> {
    pub pool: Option<&'a str>,
    pub format: Format,
    pub wait: bool,
    pub timeout: Option<Duration>,
    /// Read the bytes of the pulls under way from the nodes (`pods/exec`).
    pub progress: bool,
}

/// How often `--wait` looks again with no update in between.
const RECHECK: Duration = Duration::from_secs(10);

/// How long `--wait` gives the events of the last pulls to arrive once the pods are done.
const SETTLE: Duration = Duration::from_secs(2);

fn has_all_figures(o: &Overview) -> bool {
    o.pools
        .iter()
        .flat_map(|p| &p.nodes)
        .flat_map(|n| n.images.iter())
        .all(|i| {
            !matches!(
                i.state,
                ImageState::Pulled { seconds: None, .. } | ImageState::Pulled { bytes: None, .. }
            )
        })
}

/// How long to wait for the first full view when not asked to wait.
const FIRST_VIEW: Duration = Duration::from_secs(30);

/// How long `--wait` lets a pool's DaemonSets stay short of a whole (a shard missing, two
/// splits at once) before it gives up: longer than an apply re-splitting a pool takes.
pub(crate) const SHAPE_GRACE: Duration = Duration::from_secs(60);

/// The pools whose DaemonSets are not whole, and since when `--wait` has seen each so.
#[derive(Default)]
struct ShapeWatch {
    since: std::collections::BTreeMap<String, tokio::time::Instant>,
}

impl ShapeWatch {
    /// Notes the warnings of `o` at `now` (a pool whose warning went away is forgotten) and
    /// says each new one on stderr. Returns the first pool whose warning has lasted `grace`.
    fn see(
        &mut self,
        o: &Overview,
        now: tokio::time::Instant,
        grace: Duration,
    ) -> Option<(String, String)> {
        let warned: Vec<(&str, &str)> = o
            .pools
            .iter()
            .filter_map(|p| Some((p.pool.as_str(), p.warning.as_deref()?)))
            .collect();
        self.since
            .retain(|pool, _| warned.iter().any(|(p, _)| p == pool));
        for (pool, warning) in &warned {
            if !self.since.contains_key(*pool) {
                eprintln!(
                    "kpreload: waiting: {warning} (giving up if this lasts {})",
                    units::seconds(grace.as_secs_f64())
                );
                self.since.insert(pool.to_string(), now);
            }
        }
        warned.into_iter().find_map(|(pool, warning)| {
            (now.duration_since(self.since[pool]) >= grace)
                .then(|| (pool.to_string(), warning.to_string()))
        })
    }

    /// When the oldest warning will have lasted `grace`.
    fn due(&self, grace: Duration) -> Option<tokio::time::Instant> {
        self.since.values().min().map(|t| *t + grace)
    }
}

pub async fn run(target: &Target, options: &StatusOptions<'_>, out: &mut dyn Write) -> Result<()> {
    // The TUI's config names the node pools' labels; a broken one does not stop a pipeline.
    let labels = match crate::tui::config::Config::load() {
        Ok(c) => c.node_pool_labels,
        Err(e) => {
            eprintln!("kpreload: {e}; node pools are grouped by the built-in labels");
            crate::tui::config::Config::default_config().node_pool_labels
        }
    };
    let connection = connect(target).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tasks = watch::spawn_all(
        &connection.client,
        &connection.namespace,
        PodScope::PreloadersOnly,
        &tx,
    );
    drop(tx);
    let mut snapshot = Snapshot::default();
    let mut links = Links::default();
    let deadline = tokio::time::Instant::now()
        + if options.wait {
            options
                .timeout
                .unwrap_or(Duration::from_secs(3600 * 24 * 365))
        } else {
            FIRST_VIEW
        };
    let mut shapes = ShapeWatch::default();
    // The output, with the node pools as the snapshot has them then.
    let show = |o: &Overview, snapshot: &Snapshot, payoff: &[Figures], out: &mut dyn Write| {
        print(
            o,
            &node_pools(snapshot, &labels, o, options.pool),
            payoff,
            options.format,
            out,
        )
    };
    let outcome = loop {
        // The grace counts only while the cluster is read: with a watch down, wait for it
        // (or the deadline), not for a grace already past.
        let due = shapes.due(SHAPE_GRACE).filter(|_| links.all_live());
        // Looked at again now and then even when nothing changes: a grace (a pod missing
        // for two minutes) ends on the clock, not on an update.
        let wake = due
            .map_or(deadline, |d| d.min(deadline))
            .min(tokio::time::Instant::now() + RECHECK);
        let update = tokio::time::timeout_at(wake, rx.recv()).await;
        match update {
            Ok(Some(u)) => watch::absorb(&mut snapshot, &mut links, u),
            Ok(None) => break Err("the watches stopped".to_string()),
            Err(_) if wake < deadline => {}
            Err(_) => break Err(String::new()),
        }
        // Drain what is already queued before deciding.
        while let Ok(u) = rx.try_recv() {
            watch::absorb(&mut snapshot, &mut links, u);
        }
        if !links.all_live() {
            if let Some((_, why)) = links.trouble()
                && !options.wait
            {
                break Err(why);
            }
            continue;
        }
        let overview = progress::derive(&snapshot, jiff::Timestamp::now());
        let selected = select(&overview, options.pool, &connection.namespace)?;
        if !options.wait {
            break Ok(selected);
        }
        if selected
            .pools
            .iter()
            .any(|p| p.failures() > 0 || p.problem.is_some())
        {
            show(&selected, &snapshot, &[], out)?;
            for t in &tasks {
                t.abort();
            }
            bail!("{}", failure_sentence(&selected));
        }
        if let Some((pool, warning)) =
            shapes.see(&selected, tokio::time::Instant::now(), SHAPE_GRACE)
        {
            show(&selected, &snapshot, &[], out)?;
            for t in &tasks {
                t.abort();
            }
            bail!(
                "gave up on the pool {pool} after {}: {warning}",
                units::seconds(SHAPE_GRACE.as_secs_f64())
            );
        }
        if selected.pools.iter().all(|p| p.complete()) {
            // The pods can tell of a finished pull before its event arrives: wait a moment
            // for the kubelet's figures (time, size) rather than print them as unknown.
            let settle = tokio::time::Instant::now() + SETTLE;
            let mut settled = selected;
            while !has_all_figures(&settled) {
                match tokio::time::timeout_at(settle.min(deadline), rx.recv()).await {
                    Ok(Some(u)) => watch::absorb(&mut snapshot, &mut links, u),
                    _ => break,
                }
                let overview = progress::derive(&snapshot, jiff::Timestamp::now());
                settled = select(&overview, options.pool, &connection.namespace)?;
            }
            break Ok(settled);
        }
    };
    for t in &tasks {
        t.abort();
    }
    match outcome {
        Ok(overview) => {
            let overview = if options.progress {
                with_live_bytes(
                    &connection.client,
                    &snapshot,
                    overview,
                    options.pool,
                    &connection.namespace,
                )
                .await?
            } else {
                overview
            };
            // The workloads' starts: one list of the kubelet's image events, all namespaces.
            let payoff = match crate::cluster::starts::figures(
                &connection.client,
                &snapshot,
                |_| None,
            )
            .await
            {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("kpreload: {e}; the hit rate is left out");
                    Vec::new()
                }
            };
            show(&overview, &snapshot, &payoff, out)?;
            Ok(())
        }
        Err(why) if !why.is_empty() => {
            // A command gives up where the TUI keeps retrying.
            bail!(
                "cannot read the cluster at {}: {}",
                connection.server,
                why.trim_end_matches("; retrying")
            )
        }
        Err(_) if !links.all_live() => bail!(
            "the cluster at {} did not answer in time{}",
            connection.server,
            links
                .trouble()
                .map(|(_, why)| format!(": {why}"))
                .unwrap_or_default()
        ),
        Err(_) => {
            let overview = progress::derive(&snapshot, jiff::Timestamp::now());
            let selected = select(&overview, options.pool, &connection.namespace)?;
            show(&selected, &snapshot, &[], out)?;
            if let Some(warning) = selected.pools.iter().find_map(|p| p.warning.as_deref()) {
                bail!(
                    "timed out after {}: {warning}",
                    units::seconds(options.timeout.unwrap_or_default().as_secs_f64())
                );
            }
            let left: usize = selected
                .pools
                .iter()
                .map(|p| p.images_total() - p.images_done())
                .sum();
            bail!(
                "timed out after {} with {left} image pulls not done; run `kpreload status` to see where",
                units::seconds(options.timeout.unwrap_or_default().as_secs_f64())
            )
        }
    }
}

fn select(overview: &Overview, pool: Option<&str>, namespace: &str) -> Result<Overview> {
    let Some(name) = pool else {
        return Ok(overview.clone());
    };
    let pools: Vec<std::sync::Arc<PoolProgress>> = overview
        .pools
        .iter()
        .filter(|p| p.pool == name)
        .cloned()
        .collect();
    if pools.is_empty() {
        let known: Vec<&str> = overview.pools.iter().map(|p| p.pool.as_str()).collect();
        bail!(
            "there is no pool named {name:?} in {namespace}; {}",
            if known.is_empty() {
                "it has no preloaders".to_string()
            } else {
                format!("its pools are {}", known.join(", "))
            }
        );
    }
    Ok(Overview {
        pools,
        unpooled: overview.unpooled.clone(),
    })
}

fn failure_sentence(o: &Overview) -> String {
    let mut failed = Vec::new();
    for p in &o.pools {
        if let Some(problem) = &p.problem {
            failed.push(format!("{}: {problem}", p.daemonset));
        }
        for n in &p.nodes {
            for i in n.images.iter() {
                if let ImageState::Failed { reason, .. } = &i.state {
                    failed.push(format!("{} on {} ({reason})", i.image, n.node));
                }
            }
            if let Some(t) = &n.trouble {
                failed.push(format!("{} on {}", t.summary(), n.node));
            }
        }
    }
    let more = failed.len().saturating_sub(3);
    failed.truncate(3);
    format!(
        "preloading failed: {}{}",
        failed.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The node pools, with the preloaders that serve them; with `--pool`, those it serves.
fn node_pools(
    snapshot: &Snapshot,
    labels: &[String],
    o: &Overview,
    pool: Option<&str>,
) -> Vec<NodePool> {
    let (all, _) = crate::core::nodepools::group(&snapshot.nodes, labels, o);
    all.into_iter()
        .filter(|np| pool.is_none_or(|p| np.preloaders.iter().any(|(x, _, _)| x == p)))
        .collect()
}

fn print(
    o: &Overview,
    node_pools: &[NodePool],
    payoff: &[Figures],
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Json => {
            let mut v = to_json(o);
            v["node_pools"] = node_pools_json(node_pools);
            // Every pool carries the payoff's fields; null where the events were not read.
            for p in v["pools"].as_array_mut().into_iter().flatten() {
                let f = payoff.iter().find(|f| p["pool"] == f.pool.as_str());
                let fields = super::payoff_json(f);
                for (k, x) in fields.as_object().into_iter().flatten() {
                    p[k] = x.clone();
                }
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Table => {
            out.write_all(table(o).as_bytes())?;
            let lines: Vec<String> = o
                .pools
                .iter()
                .filter_map(|p| {
                    let f = payoff.iter().find(|f| f.pool == p.pool)?;
                    Some(format!("  {}: {}\n", p.pool, f.sentence()))
                })
                .collect();
            if !lines.is_empty() {
                out.write_all(b"\nworkload starts:\n")?;
                out.write_all(lines.concat().as_bytes())?;
            }
            out.write_all(node_pools_table(node_pools).as_bytes())?;
        }
    }
    Ok(())
}

/// Every node pool: where its name comes from, the preloader serving it (`null`: none).
fn node_pools_json(node_pools: &[NodePool]) -> Value {
    Value::Array(
        node_pools
            .iter()
            .map(|np| {
                json!({
                    "name": np.name,
                    "source": np.source,
                    "nodes": np.nodes,
                    "nodes_covered": np.covered,
                    "daemonset": np.preloaders.first().map(|(_, ns, ds)| json!({"namespace": ns, "name": ds})),
                    "pools": np.preloaders.iter().map(|(p, _, _)| p.clone()).collect::<Vec<_>>(),
                    "taints": np.taints.iter().map(|t| json!({"key": t.key, "value": t.value, "effect": format!("{:?}", t.effect)})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// The node pools in a line each, the uncovered ones said so.
fn node_pools_table(node_pools: &[NodePool]) -> String {
    if node_pools.is_empty() {
        return String::new();
    }
    let mut text = format!("\nnode pools ({}):\n", node_pools.len());
    for np in node_pools {
        let by = if np.uncovered() {
            "no preloader".to_string()
        } else {
            format!(
                "preloaded by {} on {}/{}",
                np.preloaders
                    .iter()
                    .map(|(p, _, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                np.covered,
                np.nodes.len()
            )
        };
        text.push_str(&format!(
            "  {} ({}): {} node{}, {by}\n",
            np.name,
            np.source,
            np.nodes.len(),
            if np.nodes.len() == 1 { "" } else { "s" }
        ));
    }
    text
}

/// The status contract (docs/contracts.md), with fields added (never renamed).
pub(crate) fn to_json(o: &Overview) -> Value {
    let pools: Vec<Value> = o
        .pools
        .iter()
        .map(|p| {
            let nodes: Vec<Value> = p
                .nodes
                .iter()
                .map(|n| {
                    let images: Vec<Value> = n
                        .images
                        .iter()
                        .map(|i| {
                            let mut v = json!({"image": i.image, "state": i.state.word(),
                                "seconds": null, "bytes": null, "message": null});
                            match &i.state {
                                ImageState::Pulled { seconds, bytes } => {
                                    v["seconds"] = json!(seconds);
                                    v["bytes"] = json!(bytes);
                                }
                                ImageState::Pulling { since, bytes } => {
                                    v["since"] = json!(since.map(|t| t.to_string()));
                                    v["bytes_done"] = json!(bytes.as_ref().map(|b| b.done));
                                    v["bytes_total"] = json!(bytes.as_ref().and_then(|b| b.total));
                                    v["rate"] = json!(bytes.as_ref().and_then(|b| b.rate));
                                    v["estimated"] =
                                        json!(bytes.as_ref().is_none_or(|b| b.estimated));
                                    v["restarts"] = json!(bytes.as_ref().map_or(0, |b| b.restarts));
                                }
                                ImageState::Failed {
                                    reason,
                                    message,
                                    next_retry,
                                } => {
                                    v["reason"] = json!(reason);
                                    v["message"] = json!(message);
                                    v["next_retry"] = json!(next_retry.map(|t| t.to_string()));
                                }
                                ImageState::Queued | ImageState::Present => {}
                            }
                            v
                        })
                        .collect();
                    let problem = n.trouble.as_ref().map(|t| {
                        json!({"container": t.container, "image": t.image,
                            "reason": t.reason, "message": t.message})
                    });
                    json!({"node": n.node, "pod": n.pod, "ready": n.ready(),
                        "eta_seconds": n.eta_seconds, "problem": problem, "images": images})
                })
                .collect();
            json!({
                "pool": p.pool,
                "daemonset": {"namespace": p.namespace, "name": p.daemonset},
                "shards": p.shards,
                "nodes_ready": p.nodes_ready(),
                "nodes_total": p.nodes.len(),
                "images_done": p.images_done(),
                "images_total": p.images_total(),
                "failures": p.failures(),
                "complete": p.complete(),
                "bytes": p.bytes(),
                "throughput": p.throughput,
                "eta_seconds": p.eta_seconds,
                "slowest": p.slowest,
                "problem": p.problem,
                "warning": p.warning,
                "nodes": nodes,
            })
        })
        .collect();
    json!({"pools": pools, "unpooled": o.unpooled})
}

fn table(o: &Overview) -> String {
    let mut rows = vec![vec![
        "POOL".to_string(),
        "PRELOADER".into(),
        "NODES".into(),
        "IMAGES".into(),
        "PULLED".into(),
        "THROUGHPUT".into(),
        "ETA".into(),
        "FAILED".into(),
    ]];
    for p in &o.pools {
        rows.push(vec![
            p.pool.clone(),
            match p.shards.len() {
                0 | 1 => format!("{}/{}", p.namespace, p.daemonset),
                2 => format!("{}/{} +1 shard", p.namespace, p.daemonset),
                n => format!("{}/{} +{} shards", p.namespace, p.daemonset, n - 1),
            },
            format!("{}/{}", p.nodes_ready(), p.nodes.len()),
            format!("{}/{}", p.images_done(), p.images_total()),
            // With the pulls under way; `~` when some of that is estimated.
            format!(
                "{}{}",
                if p.estimated() { "~" } else { "" },
                units::bytes(p.bytes_with_pulls())
            ),
            p.throughput.map_or("-".into(), units::rate),
            if p.problem.is_some() {
                "-".into()
            } else {
                units::estimate(p.eta_seconds)
            },
            p.failures().to_string(),
        ]);
    }
    let mut text = align(&rows);
    for p in &o.pools {
        if let Some(problem) = &p.problem {
            text.push_str(&format!("\n{}: {problem}\n", p.daemonset));
        }
        if let Some(warning) = &p.warning {
            text.push_str(&format!("\n{warning}\n"));
        }
        let failed: Vec<String> = p
            .nodes
            .iter()
            .flat_map(|n| {
                n.images
                    .iter()
                    .filter_map(move |i| match &i.state {
                        ImageState::Failed {
                            reason, message, ..
                        } => Some(format!(
                            "  {} {}: {reason}: {message}{}",
                            n.node,
                            i.image,
                            p.remedy(message)
                                .map(|r| format!("\n    → {r}"))
                                .unwrap_or_default()
                        )),
                        _ => None,
                    })
                    .chain(
                        n.trouble
                            .iter()
                            .map(move |t| format!("  {} {}: {}", n.node, t.summary(), t.message)),
                    )
            })
            .collect();
        if !failed.is_empty() {
            text.push_str(&format!("\nfailed in {}:\n{}\n", p.pool, failed.join("\n")));
        }
    }
    if !o.unpooled.is_empty() {
        text.push_str(&format!(
            "\nnodes in no pool ({}): {}\n",
            o.unpooled.len(),
            o.unpooled.join(", ")
        ));
    }
    if o.pools.is_empty() {
        text.push_str("\nno preloaders found; `kpreload render` makes them from a pools file\n");
    }
    text
}

fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

mod live;
use live::with_live_bytes;

#[cfg(test)]
mod tests;
