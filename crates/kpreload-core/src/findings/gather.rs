//! The facts the findings are drawn from, read from the cluster's objects alone (no kubelet
//! call): each pool's images and sizes, workload bytes, keep, shards and observed pull rate;
//! each pool node's DiskPressure, capped image list and evicted images. The kubelet's
//! settings and disk are filled in by whoever reads them (`kpreload check`, the TUI).
//!
//! Linear in nodes, pods and events: every object is looked at once, image names are
//! parsed once per distinct name (the TUI derives this every second on 5,000 nodes).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{NodeFacts, PoolFacts};
use crate::cleanup::STATUS_IMAGES_CAP;
use crate::progress::Snapshot;
use crate::progress::messages::{Said, read};
use crate::reference::ImageRef;
use crate::selector::Taint;

/// Facts per pool and per pool node (a node in several pools once per pool).
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub pools: Vec<PoolFacts>,
    pub nodes: Vec<NodeFacts>,
}

/// Image names, parsed once per distinct text and numbered once per distinct normalised
/// name: the per-node sets below hold numbers, not strings.
#[derive(Default)]
struct Names<'a> {
    seen: HashMap<&'a str, Option<u32>>,
    numbers: HashMap<String, u32>,
}

impl<'a> Names<'a> {
    /// The number of the image a text names; `None` when the text is not a reference.
    fn id(&mut self, text: &'a str) -> Option<u32> {
        if let Some(id) = self.seen.get(text) {
            return *id;
        }
        let id = ImageRef::parse(text)
            .ok()
            .map(|r| self.number(r.normalized()));
        self.seen.insert(text, id);
        id
    }

    /// The number of a parsed reference.
    fn of(&mut self, image: &ImageRef) -> u32 {
        self.number(image.normalized())
    }

    fn number(&mut self, normalized: String) -> u32 {
        let next = self.numbers.len() as u32;
        *self.numbers.entry(normalized).or_insert(next)
    }
}

/// The repository of a tag name as the kubelet lists it (`docker.io/library/nginx:1.25`):
/// what comes before the tag, which follows the last path component's colon.
pub(crate) fn repository_of(name: &str) -> &str {
    let last = name.rfind('/').map_or(0, |i| i + 1);
    match name[last..].rfind(':') {
        Some(i) => &name[..last + i],
        None => name,
    }
}

/// Whether every init container of a pod ended with exit 0.
fn finished(pod: &crate::objects::Pod) -> bool {
    let list = pod.one_shot_init_statuses();
    !list.is_empty()
        && list.iter().all(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code == 0)
        })
}

/// Every pool's facts (or `only`'s: none when there is no such pool).
pub fn gather(s: &Snapshot, only: Option<&str>) -> Gathered {
    let mut names = Names::default();
    let no_labels = BTreeMap::new();

    // Per node, once: labels, taints, and its listed images by normalised name with sizes.
    struct Seen<'a> {
        name: &'a str,
        labels: &'a BTreeMap<String, String>,
        taints: Vec<Taint>,
        held: HashSet<u32>,
        /// Per tag name the node lists, the digest of the image it names there.
        digests: HashMap<u32, u32>,
        capped: bool,
        pressure: bool,
    }
    let mut digest_names: Vec<String> = Vec::new();
    let mut digest_numbers: HashMap<String, u32> = HashMap::new();
    let mut sizes: HashMap<u32, u64> = HashMap::new();
    let nodes: Vec<Seen> = s
        .nodes
        .iter()
        .map(|n| {
            let listed = n
                .status
                .as_ref()
                .and_then(|st| st.images.as_deref())
                .unwrap_or_default();
            let mut held = HashSet::with_capacity(listed.len() * 2);
            let mut digests = HashMap::new();
            for i in listed {
                let size = i.size_bytes.unwrap_or(0).max(0) as u64;
                // The entry's digest names, by repository: a tag takes its own repository's.
                let by_repo: Vec<(&str, &str)> = i
                    .names
                    .iter()
                    .flatten()
                    .filter_map(|t| t.split_once('@'))
                    .collect();
                for text in i.names.iter().flatten() {
                    let Some(id) = names.id(text) else { continue };
                    held.insert(id);
                    if size > 0 {
                        sizes.insert(id, size);
                    }
                    if text.contains('@') {
                        continue;
                    }
                    let repo = repository_of(text);
                    if let Some((_, d)) = by_repo.iter().find(|(r, _)| *r == repo) {
                        let number = match digest_numbers.get(*d) {
                            Some(n) => *n,
                            None => {
                                let n = digest_names.len() as u32;
                                digest_names.push(d.to_string());
                                digest_numbers.insert(d.to_string(), n);
                                n
                            }
                        };
                        digests.insert(id, number);
                    }
                }
            }
            Seen {
                name: n.metadata.name.as_deref().unwrap_or_default(),
                labels: n.metadata.labels.as_ref().unwrap_or(&no_labels),
                taints: Taint::of_node(n),
                digests,
                capped: listed.len() >= STATUS_IMAGES_CAP,
                pressure: n
                    .status
                    .as_ref()
                    .and_then(|st| st.conditions.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|c| c.type_ == "DiskPressure" && c.status == "True"),
                held,
            }
        })
        .collect();

    // One entry per pool: a split pool's shards fold into one.
    let preloaders: Vec<_> = crate::adopt::group(s.daemonsets.iter().map(|d| d.as_ref()))
        .into_iter()
        .filter_map(|g| Some((g.preloader.ok()?, g.daemonsets, g.parts, g.shape)))
        .filter(|(p, _, _, _)| only.is_none_or(|want| p.pool.name == want))
        .collect();

    // Per node, the distinct images its pods run (all namespaces), for the sizing.
    let mut running: HashMap<&str, HashSet<u32>> = HashMap::new();
    for pod in &s.workloads {
        let Some(node) = pod.node.as_deref() else {
            continue;
        };
        for i in pod.container_images().iter().chain(pod.init_images()) {
            if let Some(id) = names.id(i) {
                running.entry(node).or_default().insert(id);
            }
        }
    }

    // The preloader pods: by owner, whether each has finished on its node; and one pull's
    // rate from each `Successfully pulled` event about them.
    let mut owner_of: HashMap<&str, &str> = HashMap::new();
    let mut done_on: HashMap<(&str, &str), bool> = HashMap::new();
    let mut node_of: HashMap<&str, &str> = HashMap::new();
    for pod in &s.pods {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            continue;
        };
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            node_of.insert(uid, node);
        }
        for o in pod.metadata.owner_references.iter().flatten() {
            owner_of.insert(uid, o.uid.as_str());
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                *done_on.entry((o.uid.as_str(), node)).or_insert(false) |= finished(pod);
            }
        }
    }
    // When each node last pulled each image, by the kubelet's `Successfully pulled`.
    let mut pulled_at: HashMap<(&str, u32), i64> = HashMap::new();
    let mut rates_by_owner: HashMap<&str, Vec<f64>> = HashMap::new();
    for e in &s.events {
        if let Some((image, Said::Pulled { .. })) = e.message.as_deref().and_then(read)
            && let Some(node) = e
                .involved_object
                .uid
                .as_deref()
                .and_then(|u| node_of.get(u))
            && let Some(id) = names.id(image)
            && let Some(at) = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .or(e.event_time.as_ref().map(|t| t.0.as_second()))
        {
            let slot = pulled_at.entry((node, id)).or_insert(at);
            *slot = (*slot).max(at);
        }
        let Some(owner) = e
            .involved_object
            .uid
            .as_deref()
            .and_then(|u| owner_of.get(u))
        else {
            continue;
        };
        if let Some((
            _,
            Said::Pulled {
                seconds: Some(secs),
                bytes: Some(b),
            },
        )) = e.message.as_deref().and_then(read)
            && secs > 0.0
        {
            rates_by_owner
                .entry(owner)
                .or_default()
                .push(b as f64 / secs);
        }
    }

    let mut pool_facts = Vec::new();
    let mut facts: Vec<NodeFacts> = Vec::new();
    for (p, members, own, shape) in &preloaders {
        let covered: Vec<&Seen> = nodes
            .iter()
            .filter(|n| p.pool.covers(n.labels, &n.taints))
            .collect();
        let preloaded: HashSet<u32> = p.pool.images.iter().map(|i| names.of(i)).collect();
        // The preloader's own helper is not a workload.
        let helpers: HashSet<u32> = members
            .iter()
            .flat_map(|d| d.spec.template.spec.iter())
            .flat_map(|s| s.containers.iter())
            .filter_map(|c| c.image.as_deref())
            .filter_map(|i| names.id(i))
            .collect();
        let workload_bytes = covered
            .iter()
            .filter_map(|n| running.get(n.name))
            .map(|images| {
                images
                    .iter()
                    .filter(|i| !preloaded.contains(*i) && !helpers.contains(*i))
                    .filter_map(|i| sizes.get(i))
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0);
        let mut rates: Vec<f64> = members
            .iter()
            .filter_map(|m| m.metadata.uid.as_deref())
            .flat_map(|u| rates_by_owner.get(u).into_iter().flatten().copied())
            .collect();
        rates.sort_by(f64::total_cmp);
        pool_facts.push(PoolFacts {
            pool: p.pool.name.clone(),
            images: p
                .pool
                .images
                .iter()
                .map(|i| (i.written().to_string(), sizes.get(&names.of(i)).copied()))
                .collect(),
            workload_bytes,
            keep: p.pool.keep.unwrap_or(crate::planner::DEFAULT_KEEP),
            shards: p.pool.shards,
            rate: rates.get(rates.len() / 2).copied(),
            shape: shape.clone(),
            tags: p
                .pool
                .images
                .iter()
                .filter(|i| i.digest().is_none())
                .filter_map(|i| {
                    let id = names.of(i);
                    let mut by_digest: BTreeMap<u32, (Vec<String>, Option<i64>)> = BTreeMap::new();
                    for n in &covered {
                        if let Some(d) = n.digests.get(&id) {
                            let entry = by_digest.entry(*d).or_default();
                            entry.0.push(n.name.to_string());
                            entry.1 = entry.1.max(pulled_at.get(&(n.name, id)).copied());
                        }
                    }
                    if by_digest.is_empty() {
                        return None;
                    }
                    let mut held: Vec<super::Held> = by_digest
                        .into_iter()
                        .map(|(d, (mut nodes, last_pull))| {
                            crate::natural::sort(&mut nodes);
                            super::Held {
                                digest: digest_names[d as usize].clone(),
                                nodes,
                                last_pull,
                            }
                        })
                        .collect();
                    // The newest pull first; where no pull was seen, the fewer nodes first
                    // (the later push reaches the nodes pulled later).
                    held.sort_by(|a, b| {
                        b.last_pull
                            .cmp(&a.last_pull)
                            .then(a.nodes.len().cmp(&b.nodes.len()))
                            .then(a.digest.cmp(&b.digest))
                    });
                    Some(super::Drift {
                        image: i.written().to_string(),
                        held,
                    })
                })
                .collect(),
            drift: Vec::new(),
            registry: Vec::new(),
            mutable: p
                .pool
                .images
                .iter()
                .filter(|i| i.digest().is_none() && i.tag().is_none_or(|t| t == "latest"))
                .map(|i| i.written().to_string())
                .collect(),
            own_removals: members
                .iter()
                .flat_map(|d| crate::adopt::own_removals(d))
                .collect(),
            payoff: None,
            scheduled_cleanup: None,
        });
        if let Some(f) = pool_facts.last_mut() {
            f.drift = f
                .tags
                .iter()
                .filter(|t| t.held.len() > 1)
                .cloned()
                .collect();
        }

        // Each DaemonSet of the pool with the images it pulls (a split pool's shards each
        // their own).
        let parts: Vec<(&str, Vec<(u32, &ImageRef)>)> = members
            .iter()
            .zip(own)
            .map(|(m, images)| {
                let uid = m.metadata.uid.as_deref().unwrap_or_default();
                (uid, images.iter().map(|i| (names.of(i), i)).collect())
            })
            .collect();
        for n in covered {
            // Only the images of a DaemonSet whose pod there has finished are known to
            // have been pulled; a capped list may simply not show them.
            let missing = if n.capped {
                Vec::new()
            } else {
                parts
                    .iter()
                    .filter(|(uid, _)| done_on.get(&(*uid, n.name)).copied().unwrap_or(false))
                    .flat_map(|(_, images)| images.iter())
                    .filter(|(id, _)| !n.held.contains(id))
                    .map(|(_, i)| i.written().to_string())
                    .collect()
            };
            facts.push(NodeFacts {
                node: n.name.to_string(),
                pool: Some(p.pool.name.clone()),
                disk_pressure: n.pressure,
                images_capped: n.capped,
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
