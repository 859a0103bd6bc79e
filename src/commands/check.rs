//! `kpreload check`: will preloading hold? The kubelet's settings and image-disk figures of
//! the pools' nodes (read through the API server's node proxy, a few at a time, at most
//! `--max-nodes` of them), against what each pool preloads. Exit 1 when any finding is a
//! warning or worse.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

use crate::cluster::{Target, connect};
use crate::core::adopt::read_preloader;
use crate::core::cleanup::STATUS_IMAGES_CAP;
use crate::core::findings::{Disk, Finding, Kubelet, NodeFacts, PoolFacts, Severity, findings};
use crate::core::reference::ImageRef;
use crate::core::selector::Taint;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub struct Options<'a> {
    pub pool: Option<&'a str>,
    pub format: Format,
    /// Nodes whose kubelet is asked, at most (spread over the pools).
    pub max_nodes: usize,
}

/// Kubelets asked at once, and how long each may take.
const CONCURRENCY: usize = 10;
const TIMEOUT: Duration = Duration::from_secs(5);

async fn list<K>(api: Api<K>, doing: &str) -> Result<Vec<std::sync::Arc<K>>>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    crate::cluster::cleanup::list_all(api, doing)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

pub async fn run(target: &Target, options: &Options<'_>, out: &mut dyn Write) -> Result<()> {
    let connection = connect(target).await?;
    let client = connection.client.clone();
    let ns = connection.namespace.clone();
    let nodes = list::<Node>(Api::all(client.clone()), "list nodes").await?;
    let daemonsets = list::<DaemonSet>(
        Api::namespaced(client.clone(), &ns),
        &format!("list DaemonSets in {ns}"),
    )
    .await?;
    let pods = list::<Pod>(
        Api::namespaced(client.clone(), &ns),
        &format!("list pods in {ns}"),
    )
    .await?;

    // Sizes by normalised name, from every node's list.
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for n in &nodes {
        for i in n.status.iter().flat_map(|s| s.images.iter().flatten()) {
            for name in i.names.iter().flatten() {
                if let (Ok(r), Some(s)) = (ImageRef::parse(name), i.size_bytes) {
                    sizes.insert(r.normalized(), s.max(0) as u64);
                }
            }
        }
    }
    // One entry per pool: a split pool's shards fold into one.
    let preloaders: Vec<_> = crate::core::adopt::group(daemonsets.iter().map(|d| d.as_ref()))
        .into_iter()
        .filter_map(|g| Some((g.daemonsets[0], g.preloader.ok()?, g.daemonsets)))
        .filter(|(_, p, _)| options.pool.is_none_or(|want| p.pool.name == want))
        .collect();
    if let Some(want) = options.pool
        && preloaders.is_empty()
    {
        bail!("there is no pool {want:?} in {ns}; `kpreload status` lists the pools");
    }
    // Per node, the distinct images its pods run (all namespaces), for the sizing.
    let workloads = list::<Pod>(Api::all(client.clone()), "list pods").await?;
    let mut running: HashMap<String, BTreeSet<String>> = HashMap::new();
    for pod in &workloads {
        let Some(spec) = &pod.spec else { continue };
        let Some(node) = spec.node_name.clone() else {
            continue;
        };
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            if let Some(r) = c.image.as_deref().and_then(|i| ImageRef::parse(i).ok()) {
                running
                    .entry(node.clone())
                    .or_default()
                    .insert(r.normalized());
            }
        }
    }
    // One pull's rate per pool, from the kubelet's `Successfully pulled` events about its
    // preloader pods (events age out after an hour: then unknown).
    let events = list::<k8s_openapi::api::core::v1::Event>(
        Api::namespaced(client.clone(), &ns),
        &format!("list events in {ns}"),
    )
    .await?;
    let pool_rate = |members: &[&DaemonSet]| -> Option<f64> {
        let uids: BTreeSet<&str> = members
            .iter()
            .filter_map(|m| m.metadata.uid.as_deref())
            .collect();
        let pod_uids: BTreeSet<&str> = pods
            .iter()
            .filter(|p| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| uids.contains(o.uid.as_str()))
            })
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        let mut rates: Vec<f64> = events
            .iter()
            .filter(|e| {
                e.involved_object
                    .uid
                    .as_deref()
                    .is_some_and(|u| pod_uids.contains(u))
            })
            .filter_map(
                |e| match crate::core::progress::messages::read(e.message.as_deref()?)? {
                    (
                        _,
                        crate::core::progress::messages::Said::Pulled {
                            seconds: Some(s),
                            bytes: Some(b),
                        },
                    ) if s > 0.0 => Some(b as f64 / s),
                    _ => None,
                },
            )
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len() / 2).copied()
    };
    let pool_facts: Vec<PoolFacts> = preloaders
        .iter()
        .map(|(d, p, members)| {
            let preloaded: BTreeSet<String> =
                p.pool.images.iter().map(ImageRef::normalized).collect();
            let workload_bytes = nodes
                .iter()
                .filter(|n| {
                    let labels = n.metadata.labels.clone().unwrap_or_default();
                    let taints = Taint::of_node(n);
                    p.pool.covers(&labels, &taints)
                })
                .filter_map(|n| running.get(n.metadata.name.as_deref()?))
                .map(|images| {
                    images
                        .iter()
                        .filter(|i| !preloaded.contains(*i))
                        // The preloader's own helper is not a workload.
                        .filter(|i| {
                            !d.spec.template.spec.iter().any(|s| {
                                s.containers.iter().any(|c| {
                                    c.image
                                        .as_deref()
                                        .and_then(|x| ImageRef::parse(x).ok())
                                        .map(|r| r.normalized())
                                        .as_ref()
                                        == Some(*i)
                                })
                            })
                        })
                        .filter_map(|i| sizes.get(i))
                        .sum::<u64>()
                })
                .max()
                .unwrap_or(0);
            PoolFacts {
                pool: p.pool.name.clone(),
                images: p
                    .pool
                    .images
                    .iter()
                    .map(|i| (i.written().to_string(), sizes.get(&i.normalized()).copied()))
                    .collect(),
                workload_bytes,
                keep: p.pool.keep.unwrap_or(crate::core::planner::DEFAULT_KEEP),
                shards: p.pool.shards,
                rate: pool_rate(members),
            }
        })
        .collect();

    // Each pool's nodes, and whether its preloader pod there has finished pulling.
    let mut facts: Vec<NodeFacts> = Vec::new();
    for (_, p, members) in &preloaders {
        // Each DaemonSet of the pool with the images it pulls.
        let members: Vec<(Option<String>, Vec<ImageRef>)> = members
            .iter()
            .map(|m| {
                let images = match read_preloader(m) {
                    Some(Ok(r)) => r.pool.images,
                    _ => p.pool.images.clone(),
                };
                (m.metadata.uid.clone(), images)
            })
            .collect();
        for n in &nodes {
            let labels = n.metadata.labels.clone().unwrap_or_default();
            let taints = Taint::of_node(n);
            if !p.pool.covers(&labels, &taints) {
                continue;
            }
            let name = n.metadata.name.clone().unwrap_or_default();
            let status = n.status.clone().unwrap_or_default();
            let listed = status.images.clone().unwrap_or_default();
            let capped = listed.len() >= STATUS_IMAGES_CAP;
            let held: BTreeSet<String> = listed
                .iter()
                .flat_map(|i| i.names.iter().flatten())
                .filter_map(|n| ImageRef::parse(n).ok())
                .map(|r| r.normalized())
                .collect();
            let finished = |uid: &Option<String>| {
                pods.iter().any(|pod| {
                    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                        && pod
                            .metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .any(|o| Some(&o.uid) == uid.as_ref())
                        && pod
                            .status
                            .as_ref()
                            .and_then(|s| s.init_container_statuses.as_ref())
                            .is_some_and(|list| {
                                !list.is_empty()
                                    && list.iter().all(|c| {
                                        c.state
                                            .as_ref()
                                            .and_then(|s| s.terminated.as_ref())
                                            .is_some_and(|t| t.exit_code == 0)
                                    })
                            })
                })
            };
            // Only the images of a DaemonSet whose pod there has finished are known to
            // have been pulled.
            let missing = if capped {
                Vec::new()
            } else {
                members
                    .iter()
                    .filter(|(uid, _)| finished(uid))
                    .flat_map(|(_, images)| images)
                    .filter(|i| !held.contains(&i.normalized()))
                    .map(|i| i.written().to_string())
                    .collect()
            };
            let disk_pressure = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "DiskPressure" && c.status == "True");
            facts.push(NodeFacts {
                node: name,
                pool: Some(p.pool.name.clone()),
                disk_pressure,
                images_capped: capped,
                missing,
                ..Default::default()
            });
        }
    }

    // The kubelets: at most max_nodes, spread evenly over the pools.
    let total = facts.len();
    let per_pool = options.max_nodes.max(1).div_ceil(preloaders.len().max(1));
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
    let answers: Vec<(usize, KubeletAnswer)> = futures_util::stream::iter(asked.iter().copied())
        .map(|i| {
            let client = client.clone();
            let node = facts[i].node.clone();
            async move { (i, read_kubelet(&client, &node).await) }
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
    // Findings that need no kubelet (pressure, eviction, a capped list) hold for every
    // node; the kubelet's only for those asked.
    let all = findings(&pool_facts, &facts);

    match options.format {
        Format::Json => {
            let doc = serde_json::json!({
                "findings": all,
                "nodes_checked": asked.len(),
                "nodes_total": total,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Table => write_table(out, &all, asked.len(), total)?,
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

fn write_table(out: &mut dyn Write, all: &[Finding], checked: usize, total: usize) -> Result<()> {
    writeln!(
        out,
        "kubelets read on {checked} of {total} pool node{}",
        if total == 1 { "" } else { "s" }
    )?;
    if all.is_empty() {
        writeln!(out, "no findings: preloading should hold")?;
        return Ok(());
    }
    for f in all {
        let nodes = if f.nodes.len() > 4 {
            format!("{} and {} more", f.nodes[..3].join(", "), f.nodes.len() - 3)
        } else {
            f.nodes.join(", ")
        };
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

/// A kubelet's settings and image disk, or why they could not be read.
type KubeletAnswer = Result<(Kubelet, Option<Disk>), String>;

/// One kubelet's configuration and image file system, through the node proxy.
async fn read_kubelet(
    client: &kube::Client,
    node: &str,
) -> Result<(Kubelet, Option<Disk>), String> {
    let get = |path: String| async move {
        let request = http::Request::get(&path)
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(TIMEOUT, client.request_text(request)).await {
            Err(_) => Err(format!("the kubelet of {node} did not answer within 5 s")),
            Ok(Err(kube::Error::Api(s))) if s.code == 403 => {
                Err("not allowed to get nodes/proxy (`kpreload rbac` grants it)".to_string())
            }
            Ok(Err(e)) => Err(format!("{node}: {e}")),
            Ok(Ok(text)) => serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| format!("{node}: the kubelet's answer is not JSON: {e}")),
        }
    };
    let config = get(format!("/api/v1/nodes/{node}/proxy/configz")).await?;
    let summary = get(format!("/api/v1/nodes/{node}/proxy/stats/summary")).await?;
    Ok((Kubelet::from_configz(&config), Disk::from_summary(&summary)))
}
