//! What silently undoes preloading, found from the kubelet's configuration (`configz`), its
//! file-system stats (`stats/summary`) and the cluster's objects: image GC that may evict
//! preloaded images, a maximum image age, too little headroom before GC starts, pulls made
//! one after another, disk pressure, a capped image list, preloaded images gone missing.
//! Pure: facts in, findings out, each with its severity, where, and what to do.

use std::collections::BTreeMap;

use serde::Serialize;

pub mod gather;
mod kubelet;
pub use kubelet::{Disk, Kubelet};
mod preloader;
mod scheduled;
pub use preloader::{Drift, Held};

use super::sizing::{GB, SizingInput, size_disk};
use super::units;

/// The sizing's safety margin and OS allowance, as in the article.
pub(crate) const SIZING_BUFFER: f64 = 0.3;
pub(crate) const SIZING_OS: u64 = 10 * GB;

/// The kubelet's default `imageGCHighThresholdPercent`.
pub(crate) const DEFAULT_IMAGE_GC_HIGH: u32 = 85;

/// How bad a finding is; `check` exits 1 from `Warning` up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What is known about one node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFacts {
    pub node: String,
    pub pool: Option<String>,
    /// None: not read (not asked, or not allowed; see `unread`).
    pub kubelet: Option<Kubelet>,
    pub disk: Option<Disk>,
    pub disk_pressure: bool,
    /// `status.images` is at the kubelet's cap: the list may be cut.
    pub images_capped: bool,
    /// Images the pool preloads that the node does not list although its preloader has
    /// finished: evicted since.
    pub missing: Vec<String>,
    /// Why the kubelet's figures are missing, when they are.
    pub unread: Option<String>,
}

/// What is known about one pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolFacts {
    pub pool: String,
    /// The preloaded images with their sizes, where known.
    pub images: Vec<(String, Option<u64>)>,
    /// The most bytes of workload images (not preloaded) any one node of the pool runs.
    pub workload_bytes: u64,
    /// Versions kept per image line by cleanup (the sizing's version multiplier).
    pub keep: usize,
    /// How many DaemonSets the pool is split over (1: one).
    pub shards: usize,
    /// Bytes per second of one pull on the pool's nodes, as observed (the median of the
    /// kubelet's `Successfully pulled` events), when known.
    pub rate: Option<f64>,
    /// What is wrong with the pool's DaemonSets as a set (a shard missing, two splits at
    /// once), when something is.
    pub shape: Option<String>,
    /// Containers of its DaemonSets that remove images themselves.
    pub own_removals: Vec<crate::adopt::OwnRemoval>,
    /// Images preloaded by tag whose nodes hold more than one digest of it.
    pub drift: Vec<Drift>,
    /// Every image preloaded by tag that some node of the pool holds, with the digests held.
    pub tags: Vec<Drift>,
    /// What the images' registries name the tags now (filled by the caller, who asks them;
    /// empty when they are not asked).
    pub registry: Vec<Now>,
    /// Images preloaded by a tag that moves (`latest`, or none).
    pub mutable: Vec<String>,
    /// What the workloads' starts on its nodes say (filled by the caller, who reads the
    /// kubelet's events; None when they were not read).
    pub payoff: Option<crate::payoff::Figures>,
    /// Whether a scheduled cleanup (kpreload's CronJob, not suspended) cleans the pool
    /// (filled by the caller, who reads the CronJobs; None when they were not read).
    pub scheduled_cleanup: Option<bool>,
}

/// The digest a registry names a tag now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Now {
    /// The image as the pool names it.
    pub image: String,
    /// The registry host that said.
    pub registry: String,
    pub digest: String,
}

impl PoolFacts {
    /// Records what the registries name the pool's tags now: `now` gives the registry host
    /// and digest for an image it has an answer for.
    pub fn with_registry(&mut self, now: impl Fn(&str) -> Option<(String, String)>) {
        self.registry = self
            .tags
            .iter()
            .filter_map(|t| {
                let (registry, digest) = now(&t.image)?;
                Some(Now {
                    image: t.image.clone(),
                    registry,
                    digest,
                })
            })
            .collect();
    }

    pub fn bytes(&self) -> u64 {
        self.images.iter().filter_map(|(_, s)| *s).sum()
    }

    /// The disk one of the pool's nodes needs, by the article's formula with these numbers.
    pub fn sizing(&self) -> super::sizing::Sizing {
        size_disk(&SizingInput {
            preloaded_bytes: self.bytes(),
            workload_bytes: self.workload_bytes,
            version_multiplier: self.keep.max(1) as f64,
            buffer: SIZING_BUFFER,
            os_bytes: SIZING_OS,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable name for pipelines: `image-gc`, `max-gc-age`, `gc-headroom`, `serial-pulls`,
    /// `disk-pressure`, `images-capped`, `evicted`, `sizing`, `unread`, `split-incomplete`,
    /// `own-cleanup-loop`, `tag-drift`, `tag-moved`, `mutable-tag`, `worth-preloading`,
    /// `no-cleanup`.
    pub code: &'static str,
    pub pool: Option<String>,
    pub nodes: Vec<String>,
    pub message: String,
    pub remedy: String,
}

impl Finding {
    /// The nodes in a few words: up to four by name, else three and how many more; a
    /// finding about the pool as a whole names none.
    pub fn nodes_text(&self) -> String {
        if self.nodes.is_empty() {
            return "the pool as a whole".into();
        }
        few(&self.nodes)
    }
}

/// Up to four names, else three and how many more.
fn few(nodes: &[String]) -> String {
    match nodes.len() {
        0..=4 => nodes.join(", "),
        n => format!("{} and {} more", nodes[..3].join(", "), n - 3),
    }
}

const GC_REMEDY: &str = "set the kubelet's imageGCHighThresholdPercent to 100 on these nodes (GC then runs only on a full disk) and let kpreload's cleanup remove old versions";

/// Every finding for these pools and nodes, worst first.
pub fn findings(pools: &[PoolFacts], nodes: &[NodeFacts]) -> Vec<Finding> {
    let mut out = Vec::new();
    let by_pool: BTreeMap<Option<&str>, Vec<&NodeFacts>> =
        nodes.iter().fold(BTreeMap::new(), |mut m, n| {
            m.entry(n.pool.as_deref()).or_insert_with(Vec::new).push(n);
            m
        });
    for (pool, members) in &by_pool {
        let facts = pool.and_then(|p| pools.iter().find(|f| f.pool == p));
        let names = |f: &dyn Fn(&NodeFacts) -> bool| -> Vec<String> {
            members
                .iter()
                .filter(|n| f(n))
                .map(|n| n.node.clone())
                .collect()
        };
        let pool_name = pool.map(str::to_string);
        if let Some(facts) = facts {
            // GC on: preloaded images can go.
            let gc = names(&|n| n.kubelet.as_ref().is_some_and(Kubelet::gc_enabled));
            if !gc.is_empty() {
                let high = members
                    .iter()
                    .filter_map(|n| n.kubelet.as_ref()?.image_gc_high)
                    .min()
                    .unwrap_or(DEFAULT_IMAGE_GC_HIGH);
                let fullest = members
                    .iter()
                    .filter(|n| gc.contains(&n.node))
                    .filter_map(|n| n.disk.map(|d| (d.percent(), n.node.clone())))
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                let distance = match fullest {
                    Some((p, node)) => format!(
                        "; the fullest, {node}, is at {p:.0} %, {:.0} points from it",
                        (high as f64 - p).max(0.0)
                    ),
                    None => String::new(),
                };
                out.push(Finding {
                    severity: Severity::Warning,
                    code: "image-gc",
                    pool: pool_name.clone(),
                    nodes: gc.clone(),
                    message: format!(
                        "the kubelet's image GC starts at {high} % of the image disk on {} node{}{distance}: it removes the least recently used images first, preloaded ones included",
                        gc.len(),
                        if gc.len() == 1 { "" } else { "s" }
                    ),
                    remedy: GC_REMEDY.into(),
                });
                // Headroom before GC starts, against what the pool preloads.
                let need = facts.bytes();
                let short: Vec<(String, i64)> = members
                    .iter()
                    .filter(|n| gc.contains(&n.node))
                    .filter_map(|n| {
                        let d = n.disk?;
                        let high = n.kubelet.as_ref()?.gc_high();
                        let room = d.headroom(high);
                        (room < need as i64).then(|| (n.node.clone(), room))
                    })
                    .collect();
                if !short.is_empty() && need > 0 {
                    let least = short.iter().map(|s| s.1).min().unwrap_or(0);
                    out.push(Finding {
                        severity: if least <= 0 {
                            Severity::Critical
                        } else {
                            Severity::Warning
                        },
                        code: "gc-headroom",
                        pool: pool_name.clone(),
                        nodes: short.iter().map(|s| s.0.clone()).collect(),
                        message: format!(
                            "{} node{} ha{} less room before GC starts ({} at least) than the pool preloads ({})",
                            short.len(),
                            if short.len() == 1 { "" } else { "s" },
                            if short.len() == 1 { "s" } else { "ve" },
                            if least <= 0 {
                                "none".to_string()
                            } else {
                                units::bytes(least as u64)
                            },
                            units::bytes(need)
                        ),
                        remedy: format!("{GC_REMEDY}; or give these nodes bigger disks"),
                    });
                }
            }
            let aged = names(&|n| n.kubelet.as_ref().and_then(Kubelet::max_age).is_some());
            if !aged.is_empty() {
                let age = members
                    .iter()
                    .find_map(|n| n.kubelet.as_ref()?.max_age().map(str::to_string))
                    .unwrap_or_default();
                out.push(Finding {
                    severity: Severity::Warning,
                    code: "max-gc-age",
                    pool: pool_name.clone(),
                    nodes: aged,
                    message: format!(
                        "imageMaximumGCAge is {age}: preloaded images no pod has used for that long are removed, whatever the disk"
                    ),
                    remedy: "unset imageMaximumGCAge (or 0s) on these nodes".into(),
                });
            }
            out.extend(scheduled::no_cleanup(facts, members, pool_name.clone()));
            out.extend(pull_findings(facts, members, pool_name.clone()));
            let evicted: Vec<&NodeFacts> = members
                .iter()
                .copied()
                .filter(|n| !n.missing.is_empty())
                .collect();
            if !evicted.is_empty() {
                let mut images: Vec<String> =
                    evicted.iter().flat_map(|n| n.missing.clone()).collect();
                images.sort();
                images.dedup();
                out.push(Finding {
                    severity: Severity::Warning,
                    code: "evicted",
                    pool: pool_name.clone(),
                    nodes: evicted.iter().map(|n| n.node.clone()).collect(),
                    message: format!(
                        "preloaded image{} no longer on {} node{} whose preloader finished: {} (evicted since)",
                        if images.len() == 1 { "" } else { "s" },
                        evicted.len(),
                        if evicted.len() == 1 { "" } else { "s" },
                        images.join(", ")
                    ),
                    remedy: "the next pod start pulls them again; restart the preloader's pods to pull them now, and stop the GC (image-gc)".into(),
                });
            }
        }
        // The article's sizing, fed with this pool's numbers, against its smallest disk.
        if let Some(facts) = facts
            && let Some((capacity, node)) = members
                .iter()
                .filter_map(|n| Some((n.disk?.capacity, n.node.clone())))
                .min()
            && facts.bytes() > 0
        {
            let sizing = facts.sizing();
            let working = format!(
                "({} preloaded + {} of workload images) × {} versions + 30 % + 10 GB for the OS = {}",
                units::bytes(facts.bytes()),
                units::bytes(facts.workload_bytes),
                facts.keep.max(1),
                units::bytes(sizing.total_bytes)
            );
            let short = sizing.shortfall(capacity);
            out.push(Finding {
                severity: if short > 0 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                code: "sizing",
                pool: pool_name.clone(),
                nodes: vec![node.clone()],
                message: if short > 0 {
                    format!(
                        "the disk is short by {}: {working}, and {node}'s is {}",
                        units::bytes(short),
                        units::bytes(capacity)
                    )
                } else {
                    format!(
                        "the disks fit: {working}, and the smallest, {node}'s, is {}",
                        units::bytes(capacity)
                    )
                },
                remedy: if short > 0 {
                    format!(
                        "give the pool's nodes disks of at least {} (rounded up), or preload less",
                        units::bytes(sizing.rounded_up(10 * super::sizing::GB))
                    )
                } else {
                    "nothing to do".into()
                },
            });
        }
        let pressure = names(&|n| n.disk_pressure);
        if !pressure.is_empty() {
            out.push(Finding {
                severity: Severity::Critical,
                code: "disk-pressure",
                pool: pool_name.clone(),
                nodes: pressure,
                message: "DiskPressure: the kubelet is evicting pods and removing images now"
                    .into(),
                remedy: "free space (kpreload cleanup) or add disk; preloading more makes it worse"
                    .into(),
            });
        }
        let capped = names(&|n| n.images_capped);
        if !capped.is_empty() {
            out.push(Finding {
                severity: Severity::Info,
                code: "images-capped",
                pool: pool_name.clone(),
                nodes: capped,
                message: "status.images is at the kubelet's cap of 50: the node may hold images the API does not list".into(),
                remedy: "read the full inventory from the runtime: kpreload plan --deep".into(),
            });
        }
        let unread: Vec<&NodeFacts> = members
            .iter()
            .copied()
            .filter(|n| n.unread.is_some())
            .collect();
        if !unread.is_empty() {
            out.push(Finding {
                severity: Severity::Info,
                code: "unread",
                pool: pool_name.clone(),
                nodes: unread.iter().map(|n| n.node.clone()).collect(),
                message: format!(
                    "the kubelet's settings or stats could not be read: {}",
                    unread[0].unread.clone().unwrap_or_default()
                ),
                remedy: "grant get on nodes/proxy (kpreload rbac) or check the nodes".into(),
            });
        }
    }
    // A split pool short of a shard, whether or not its nodes were read.
    for p in pools {
        if let Some(shape) = &p.shape {
            out.push(Finding {
                severity: Severity::Warning,
                code: "split-incomplete",
                pool: Some(p.pool.clone()),
                nodes: Vec::new(),
                message: shape.clone(),
                remedy: "run kpreload apply -f with the pools file: it creates the DaemonSets \
                         the pool is missing and deletes those of an earlier split; a copy made \
                         by hand is deleted with kubectl delete daemonset"
                    .into(),
            });
        }
        out.extend(preloader::findings(p));
        out.extend(worth_preloading(p, nodes));
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.pool.cmp(&b.pool))
    });
    out
}

#[cfg(test)]
mod tests;

/// The least room before image GC starts among a pool's nodes whose kubelet was read.
pub fn headroom(pool: &str, nodes: &[NodeFacts]) -> Option<i64> {
    nodes
        .iter()
        .filter(|n| n.pool.as_deref() == Some(pool))
        .filter_map(|n| Some(n.disk?.headroom(n.kubelet.as_ref()?.gc_high())))
        .min()
}

/// The images the pool's workloads pulled that it does not preload, most seconds first.
fn worth_preloading(p: &PoolFacts, nodes: &[NodeFacts]) -> Vec<Finding> {
    let Some(figures) = &p.payoff else {
        return Vec::new();
    };
    let room = headroom(&p.pool, nodes);
    figures
        .suggestions
        .iter()
        .map(|s| {
            let image = crate::reference::ImageRef::familiar_text(&s.image);
            let lost = s.pull_seconds + s.waiting_seconds;
            let waiting = if s.waiting_seconds >= 0.5 {
                format!(
                    " ({} of it waiting behind other pulls)",
                    units::seconds(s.waiting_seconds)
                )
            } else {
                String::new()
            };
            let drift = if s.mark == crate::payoff::Mark::Drifted {
                " (the pool preloads another version of it)"
            } else {
                ""
            };
            let size = match (s.bytes, room) {
                (Some(b), Some(r)) if i64::try_from(b).unwrap_or(i64::MAX) <= r => format!(
                    "; {} against {} of room before image GC on its fullest node",
                    units::bytes(b),
                    units::bytes(r.max(0) as u64)
                ),
                (Some(b), Some(r)) => format!(
                    "; {} but only {} of room before image GC on its fullest node: make room first",
                    units::bytes(b),
                    units::bytes(r.max(0) as u64)
                ),
                (Some(b), None) => format!("; {} (the nodes' disks not read)", units::bytes(b)),
                (None, _) => String::new(),
            };
            Finding {
                severity: Severity::Info,
                code: "worth-preloading",
                pool: Some(p.pool.clone()),
                nodes: Vec::new(),
                message: format!(
                    "workloads pulled {image}{drift} in {} of its {} start{}, {} of pod start lost{waiting}{size}",
                    s.pulled,
                    s.starts,
                    if s.starts == 1 { "" } else { "s" },
                    units::seconds(lost)
                ),
                remedy: if s.mark == crate::payoff::Mark::Drifted {
                    format!(
                        "move the pool to {image} (the editor: t on the version it preloads), or add it beside (A on the pool's screen); in a pools file, change the image and kpreload apply"
                    )
                } else {
                    format!(
                        "add {image} to the pool (the editor: A on the pool's screen, or the pools file and kpreload apply)"
                    )
                },
            }
        })
        .collect()
}

/// Pulls one after another, and what splitting the pool would save.
fn pull_findings(facts: &PoolFacts, members: &[&NodeFacts], pool: Option<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let read: Vec<&NodeFacts> = members
        .iter()
        .copied()
        .filter(|n| n.kubelet.is_some())
        .collect();
    let serial: Vec<String> = read
        .iter()
        .filter(|n| {
            n.kubelet.as_ref().is_some_and(|k| {
                k.serialize_image_pulls.unwrap_or(true) || k.max_parallel_image_pulls == Some(1)
            })
        })
        .map(|n| n.node.clone())
        .collect();
    if facts.images.len() < 2 || read.is_empty() {
        return out;
    }
    // What K shards would take at the observed rate: the heaviest shard's bytes.
    let known: Vec<u64> = facts.images.iter().filter_map(|(_, s)| *s).collect();
    let refs: Vec<super::reference::ImageRef> = facts
        .images
        .iter()
        .filter_map(|(i, _)| super::reference::ImageRef::parse(i).ok())
        .collect();
    let size_of = |r: &super::reference::ImageRef| {
        facts
            .images
            .iter()
            .find(|(i, _)| i == r.written())
            .and_then(|(_, s)| *s)
    };
    let heaviest = |k: usize| -> u64 {
        super::render::shard_images(&refs, k, &size_of)
            .iter()
            .map(|shard| shard.iter().filter_map(size_of).sum::<u64>())
            .max()
            .unwrap_or(0)
    };
    let total: u64 = known.iter().sum();
    let at_rate = |bytes: u64| facts.rate.filter(|r| *r > 0.0).map(|r| bytes as f64 / r);
    let max_parallel = read
        .iter()
        .filter_map(|n| n.kubelet.as_ref()?.max_parallel_image_pulls)
        .min()
        .map_or(super::pools::SHARDS_MAX, |m| m.max(1) as usize);
    // The fewest shards within 10 % of the best split (the largest image bounds it).
    let limit = refs.len().min(max_parallel).min(8);
    let best_k =
        (2..=limit.max(2))
            .map(|k| (k, heaviest(k)))
            .fold(None::<(usize, u64)>, |best, (k, h)| match best {
                Some((_, b)) if h as f64 >= b as f64 * 0.9 => best,
                _ => Some((k, h)),
            });
    let saving = |k: usize, heavy: u64| -> String {
        match (at_rate(total), at_rate(heavy)) {
            (Some(now), Some(then)) => format!(
                "; at the {} per pull observed here, {} of images take about {} in one pod, \
                 about {} split over {k} (saving up to {}, if parallel pulls keep that rate)",
                units::rate(facts.rate.unwrap_or(0.0)),
                units::bytes(total),
                units::seconds(now),
                units::seconds(then),
                units::seconds(now - then)
            ),
            _ if total > 0 && heavy > 0 => format!(
                "; split over {k}, the largest share is {} of {} (no pull rate observed yet \
                 to put a time on it)",
                units::bytes(heavy),
                units::bytes(total)
            ),
            _ => String::new(),
        }
    };
    if !serial.is_empty() {
        let time = at_rate(total)
            .map(|t| {
                format!(
                    " (about {} for {} at the {} per pull observed here)",
                    units::seconds(t),
                    units::bytes(total),
                    units::rate(facts.rate.unwrap_or(0.0))
                )
            })
            .unwrap_or_default();
        let split = if facts.shards > 1 {
            format!(
                "; the pool is split over {} DaemonSets, which gains nothing while pulls are serialized",
                facts.shards
            )
        } else {
            String::new()
        };
        out.push(Finding {
            severity: Severity::Info,
            code: "serial-pulls",
            pool: pool.clone(),
            nodes: serial,
            message: format!(
                "serializeImagePulls is true: the kubelet pulls one image at a time across all pods, so the pool's {} images come one after another{time}{split}",
                facts.images.len()
            ),
            remedy: match best_k {
                Some((k, _)) if facts.shards < 2 => format!(
                    "set serializeImagePulls: false (with maxParallelImagePulls), then split the pool with kpreload render --shards {k} (or shards: {k} in the pools file)"
                ),
                _ => "set serializeImagePulls: false (with maxParallelImagePulls) so pulls overlap".into(),
            },
        });
    } else if facts.shards < 2
        && let Some((k, heavy)) = best_k
        && heavy < total
    {
        out.push(Finding {
            severity: Severity::Info,
            code: "serial-pulls",
            pool,
            nodes: read.iter().map(|n| n.node.clone()).collect(),
            message: format!(
                "the kubelet pulls in parallel, but one pod's init containers still pull one after another, so the pool's {} images come in sequence{}",
                facts.images.len(),
                saving(k, heavy)
            ),
            remedy: format!(
                "split the pool over {k} DaemonSets: kpreload render --shards {k} (or shards: {k} in the pools file, then kpreload apply)"
            ),
        });
    }
    out
}
