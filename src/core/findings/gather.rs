//! The facts the findings are drawn from, read from the cluster's objects alone (no kubelet
//! call): each pool's images and sizes, workload bytes, keep, shards and observed pull rate;
//! each pool node's DiskPressure, capped image list and evicted images. The kubelet's
//! settings and disk are filled in by whoever reads them (`kpreload check`, the TUI).

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::DaemonSet;

use super::{NodeFacts, PoolFacts};
use crate::core::adopt::read_preloader;
use crate::core::cleanup::STATUS_IMAGES_CAP;
use crate::core::progress::Snapshot;
use crate::core::reference::ImageRef;
use crate::core::selector::Taint;

/// Facts per pool and per pool node (a node in several pools once per pool).
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub pools: Vec<PoolFacts>,
    pub nodes: Vec<NodeFacts>,
}

/// Every pool's facts (or `only`'s: none when there is no such pool).
pub fn gather(s: &Snapshot, only: Option<&str>) -> Gathered {
    let nodes = &s.nodes;
    // Sizes by normalised name, from every node's list.
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for n in nodes {
        for i in n.status.iter().flat_map(|s| s.images.iter().flatten()) {
            for name in i.names.iter().flatten() {
                if let (Ok(r), Some(s)) = (ImageRef::parse(name), i.size_bytes) {
                    sizes.insert(r.normalized(), s.max(0) as u64);
                }
            }
        }
    }
    // One entry per pool: a split pool's shards fold into one.
    let preloaders: Vec<_> = crate::core::adopt::group(s.daemonsets.iter().map(|d| d.as_ref()))
        .into_iter()
        .filter_map(|g| Some((g.daemonsets[0], g.preloader.ok()?, g.daemonsets)))
        .filter(|(_, p, _)| only.is_none_or(|want| p.pool.name == want))
        .collect();
    // Per node, the distinct images its pods run (all namespaces), for the sizing.
    let mut running: HashMap<String, BTreeSet<String>> = HashMap::new();
    for pod in &s.workloads {
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
    let pool_rate = |members: &[&DaemonSet]| -> Option<f64> {
        let uids: BTreeSet<&str> = members
            .iter()
            .filter_map(|m| m.metadata.uid.as_deref())
            .collect();
        let pod_uids: BTreeSet<&str> = s
            .pods
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
        let mut rates: Vec<f64> = s
            .events
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
            let workload_bytes = s
                .nodes
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
        for n in nodes {
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
                s.pods.iter().any(|pod| {
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

    // By pool, then node name: the same findings read the same whatever order the nodes
    // came in.
    facts.sort_by(|a, b| (&a.pool, &a.node).cmp(&(&b.pool, &b.node)));
    Gathered {
        pools: pool_facts,
        nodes: facts,
    }
}
