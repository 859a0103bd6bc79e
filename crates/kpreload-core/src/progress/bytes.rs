//! How far a pull under way has come, in bytes. The Kubernetes API has no byte counter for
//! a pull; the runtime has: `ctr -n k8s.io content active` lists each blob being received
//! and its offset. [`Tracker`] keeps what those readings said, per node, so the figure only
//! grows: a blob that finished leaves the list but stays counted, a blob that starts over
//! keeps what it had reached, and a new attempt of the same pull is counted as a restart.
//! Where nothing was read from the node, [`estimate`] works the bytes out from the time the
//! pull has run and the rate the pool's earlier pulls reached; such figures say so.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;

use super::{ImageState, Overview, Snapshot};
use crate::cleanup::ExecTarget;
use crate::runtime::{ActivePull, Tool};

/// A node whose pull can be read: the container to run the runtime's tool in, the tool, and
/// the pull the reading belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveTarget {
    pub node: String,
    pub image: String,
    pub since: Option<Timestamp>,
    pub exec: ExecTarget,
    pub tool: Tool,
}

/// Whether a preloader has a privileged container at all (main or sidecar).
fn has_privileged(ds: &k8s_openapi::api::apps::v1::DaemonSet) -> bool {
    ds.spec.template.spec.as_ref().is_some_and(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .any(|c| {
                c.security_context
                    .as_ref()
                    .and_then(|sc| sc.privileged)
                    .unwrap_or(false)
            })
    })
}

/// A preloader whose privileged container is a main one, which starts only once every
/// image is pulled (an older kpreload rendered it so): why its pulls cannot be read.
fn old_shape(ds: &k8s_openapi::api::apps::v1::DaemonSet) -> Option<String> {
    let ours = ds.metadata.labels.as_ref().is_some_and(|l| {
        l.get(crate::render::LABEL_MANAGED_BY).map(String::as_str) == Some(crate::render::MANAGER)
    });
    if !ours {
        return None;
    }
    let spec = ds.spec.template.spec.as_ref()?;
    let privileged = spec.containers.iter().any(|c| {
        c.security_context
            .as_ref()
            .and_then(|s| s.privileged)
            .unwrap_or(false)
    });
    privileged.then(|| {
        format!(
            "the preloader {} starts its privileged container only after the pulls (an older \
             kpreload's shape); apply its pool again to read their bytes",
            ds.metadata.name.as_deref().unwrap_or_default()
        )
    })
}

/// For each of `nodes` with a pull under way: where its bytes can be read, or why they
/// cannot (one sentence). Nodes with nothing pulling are left out: they cost no exec.
pub fn live_targets(
    snapshot: &Snapshot,
    overview: &Overview,
    nodes: &[String],
) -> Vec<(String, Result<LiveTarget, String>)> {
    let wanted: std::collections::BTreeSet<&str> = nodes.iter().map(String::as_str).collect();
    // The pulls under way on each wanted node, from every pool.
    let mut pulling: HashMap<&str, Vec<(&str, Option<Timestamp>)>> = HashMap::new();
    for n in overview.pools.iter().flat_map(|p| &p.nodes) {
        if !wanted.contains(n.node.as_str()) {
            continue;
        }
        for i in n.images.iter() {
            if let ImageState::Pulling { since, .. } = &i.state {
                pulling
                    .entry(n.node.as_str())
                    .or_default()
                    .push((i.image.as_str(), *since));
            }
        }
    }
    if pulling.is_empty() {
        return Vec::new();
    }
    // The preloader pods on those nodes, by their DaemonSet's uid.
    let mut pods: HashMap<&str, Vec<&crate::objects::Pod>> = HashMap::new();
    for p in &snapshot.pods {
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
            && pulling.contains_key(node)
        {
            pods.entry(node).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    for (node, pulls) in pulling {
        let result = (|| {
            if let [(image, since)] = pulls.as_slice() {
                // The most telling reason wins: a preloader that has a privileged container
                // (its pod not running yet, an older shape) over one that has none at all (a
                // later shard, a hand-written one), over no preloader pod at all.
                let mut why = (0, "no preloader pod runs on the node yet".to_string());
                for pod in pods.get(node).into_iter().flatten() {
                    let owner = pod
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .find(|o| o.kind == "DaemonSet");
                    // Only a preloader's pod: never another DaemonSet's (kube-proxy, a CNI
                    // agent), privileged or not.
                    let Some(ds) = owner.and_then(|o| {
                        snapshot
                            .daemonsets
                            .iter()
                            .find(|d| d.metadata.uid.as_deref() == Some(o.uid.as_str()))
                    }) else {
                        continue;
                    };
                    if crate::adopt::read_preloader(ds).is_none() {
                        continue;
                    }
                    match crate::cleanup::exec_target(ds, Some(pod)) {
                        Ok(exec) => {
                            let tool = snapshot
                                .nodes
                                .iter()
                                .find(|n| n.metadata.name.as_deref() == Some(node))
                                .and_then(|n| n.status.as_ref()?.node_info.as_ref())
                                .map(|i| crate::runtime::tool_for(&i.container_runtime_version))
                                .unwrap_or_else(|| {
                                    Err("the node does not report its container runtime".into())
                                })?;
                            if tool != Tool::Ctr {
                                return Err(
                                    "the node runs CRI-O, whose crictl does not tell how far a \
                                            pull has come"
                                        .to_string(),
                                );
                            }
                            return Ok(LiveTarget {
                                node: node.to_string(),
                                image: image.to_string(),
                                since: *since,
                                exec,
                                tool,
                            });
                        }
                        Err(e) => {
                            let rank = if has_privileged(ds) { 2 } else { 1 };
                            if rank > why.0 {
                                why = (rank, old_shape(ds).unwrap_or(e));
                            }
                        }
                    }
                }
                Err(why.1)
            } else {
                Err(format!(
                    "{} pulls at once on the node: the runtime's bytes cannot be told apart",
                    pulls.len()
                ))
            }
        })();
        out.push((node.to_string(), result));
    }
    out.sort_by(|a, b| crate::natural::cmp(&a.0, &b.0));
    out
}

/// A pull under way, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct PullBytes {
    /// Bytes received so far.
    pub done: u64,
    /// The image's size when something says it: the same image on another node, the
    /// kubelet's `Image size` of an earlier pull. `None`: unknown.
    pub total: Option<u64>,
    /// Bytes per second now, when there is a figure.
    pub rate: Option<f64>,
    /// Not read from the node: worked out from the known size and the pool's earlier rate.
    pub estimated: bool,
    /// How many times kpreload saw this pull start over (a new attempt after a failure, or
    /// a blob whose offset went back): its bytes are kept, not lost.
    pub restarts: u32,
}

impl PullBytes {
    /// Seconds until the rest arrives at the rate now, when both are known.
    pub fn eta_seconds(&self) -> Option<f64> {
        let (total, rate) = (self.total?, self.rate?);
        (rate > 0.0).then(|| total.saturating_sub(self.done) as f64 / rate)
    }
}

/// Readings kept this long give the rate.
const WINDOW_SECONDS: f64 = 10.0;
/// A reading older than this is stale (the node went off screen, or its reads fail): the
/// figure goes on as an estimate from it.
const STALE_SECONDS: f64 = 12.0;
/// A pull whose oldest blob under way began this long after the kubelet's `Pulling` is one
/// kpreload began reading part-way: blobs before it were committed unseen. (Five seconds:
/// the workstation's clock and the kubelet's may differ by a few.)
const UNSEEN_AFTER_SECONDS: f64 = 5.0;
/// ctr prints ages to the second below a minute, then rounds them down to the minute
/// ("About a minute" is 60 to 119 s): an age from then on cannot date a blob's start.
const PRECISE_AGE_SECONDS: u64 = 60;

/// One node's pull, across readings.
#[derive(Clone, Debug)]
struct NodeBytes {
    image: String,
    since: Option<Timestamp>,
    /// Per blob (the ingest's ref), the most bytes any reading gave.
    seen: BTreeMap<String, u64>,
    /// Bytes committed before the first reading, estimated from the first blobs' rate and
    /// how long the pull had run before them (0 when the reading began with the pull).
    unseen: u64,
    /// The first reading came part-way and `unseen` could not be worked out (its blobs'
    /// ages too coarse): the figure is short by an unknown amount.
    partial: bool,
    restarts: u32,
    /// (when, bytes done): the last readings, for the rate.
    samples: VecDeque<(Timestamp, u64)>,
    /// The first reading's rate, from the blobs' own ages (`AGE` in ctr's table).
    aged_rate: Option<f64>,
    /// The rate at the last reading, kept for when readings stop.
    last_rate: Option<f64>,
}

impl NodeBytes {
    fn done(&self) -> u64 {
        self.unseen + self.seen.values().sum::<u64>()
    }

    fn rate(&self) -> Option<f64> {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                let secs = t1.duration_since(*t0).as_secs_f64();
                (secs >= 0.5).then(|| b1.saturating_sub(*b0) as f64 / secs)
            }
            _ => None,
        }
        .or(self.aged_rate)
    }
}

/// What a node's runtime said of a pull, and how long ago.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub bytes: PullBytes,
    pub age_seconds: f64,
}

/// What the nodes' runtimes said about their pulls, kept so the figures never go back.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    nodes: HashMap<String, NodeBytes>,
}

impl Tracker {
    /// One reading of `node`'s runtime, taken at `at`, while `image` pulls there (the pull
    /// the kubelet began at `since`). A reading of another image starts a new count.
    pub fn observe(
        &mut self,
        node: &str,
        image: &str,
        since: Option<Timestamp>,
        pulls: &[ActivePull],
        at: Timestamp,
    ) {
        let fresh = || NodeBytes {
            image: image.to_string(),
            since,
            seen: BTreeMap::new(),
            unseen: 0,
            partial: false,
            restarts: 0,
            samples: VecDeque::new(),
            aged_rate: None,
            last_rate: None,
        };
        let entry = self.nodes.entry(node.to_string()).or_insert_with(fresh);
        if entry.image != image {
            *entry = fresh();
        }
        // The kubelet began this pull again (a newer `Pulling`), or a blob's offset went back
        // (its ingest started over): one restart, and what was counted stays.
        let mut restarted = since.is_some() && entry.since.is_some() && since != entry.since;
        entry.since = since.or(entry.since);
        for p in pulls {
            let seen = entry.seen.entry(p.reference.clone()).or_insert(0);
            if p.offset < *seen {
                restarted = true;
            } else {
                *seen = p.offset;
            }
        }
        if restarted {
            entry.restarts += 1;
        }
        if entry.samples.is_empty() {
            let received: u64 = pulls.iter().map(|p| p.offset).sum();
            let age = pulls.iter().filter_map(|p| p.age_seconds).max();
            entry.aged_rate = age
                .filter(|a| *a > 0 && received > 0)
                .map(|a| received as f64 / a as f64);
            // Read part-way: the blobs committed before the oldest one listed were not seen.
            if let (Some(since), Some(age)) = (since, age) {
                let before = at.duration_since(since).as_secs_f64() - age as f64;
                if before > UNSEEN_AFTER_SECONDS {
                    match entry.aged_rate.filter(|_| age < PRECISE_AGE_SECONDS) {
                        Some(rate) => entry.unseen = (before * rate) as u64,
                        None => entry.partial = true,
                    }
                }
            }
        }
        let done = entry.done();
        if entry.samples.back().is_none_or(|(t, _)| *t < at) {
            entry.samples.push_back((at, done));
        }
        while entry
            .samples
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t).as_secs_f64() > WINDOW_SECONDS)
        {
            entry.samples.pop_front();
        }
        entry.last_rate = entry.rate().or(entry.last_rate);
    }

    /// What was last read of `image` on `node`, and how long before `now`, when that is the
    /// pull read. Its figure is an estimate (`estimated`) when part of it was not seen. For a
    /// new attempt of the pull (the kubelet's `Pulling` at `since`, newer than the one read)
    /// not read yet, the age counts from that attempt's start, not through the back-off.
    pub fn live(
        &self,
        node: &str,
        image: &str,
        since: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Reading> {
        let n = self.nodes.get(node).filter(|n| n.image == image)?;
        let (last_at, _) = *n.samples.back()?;
        let newer = since.filter(|s| n.since.is_some_and(|read| *s > read));
        let from = newer.map_or(last_at, |s| s.max(last_at));
        Some(Reading {
            bytes: PullBytes {
                done: n.done(),
                total: None,
                rate: n.last_rate,
                estimated: n.unseen > 0 || n.partial || newer.is_some(),
                restarts: n.restarts + u32::from(newer.is_some()),
            },
            age_seconds: now.duration_since(from).as_secs_f64().max(0.0),
        })
    }

    /// Forgets the nodes `keep` says no.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.nodes.retain(|node, _| keep(node));
    }

    /// Whether anything was read of `node`'s pulls.
    pub fn knows(&self, node: &str) -> bool {
        self.nodes.contains_key(node)
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// A pull's bytes, read or estimated. A fresh reading as it is (capped at the known size,
/// which the runtime's rounding can pass); a stale one (its node off screen, or its reads
/// failing) carried on at its last rate, as an estimate; with no reading, the bytes `rate`
/// would have brought in the `elapsed` seconds. An estimate stays short of the size (it
/// never says done).
pub fn estimate(
    live: Option<Reading>,
    total: Option<u64>,
    elapsed: Option<f64>,
    rate: Option<f64>,
) -> Option<PullBytes> {
    let short_of = |done: u64| total.map_or(done, |t| done.min(t.saturating_mul(99) / 100));
    if let Some(Reading {
        bytes: mut l,
        age_seconds,
    }) = live
    {
        l.total = total;
        if age_seconds > STALE_SECONDS {
            let r = l.rate.or(rate).filter(|r| *r > 0.0);
            let grown = l.done + r.map_or(0, |r| (r * age_seconds) as u64);
            l.done = short_of(grown).max(l.done.min(total.unwrap_or(u64::MAX)));
            l.rate = r;
            l.estimated = true;
        } else if let Some(t) = total {
            l.done = if l.estimated {
                short_of(l.done)
            } else {
                l.done.min(t)
            };
        }
        return Some(l);
    }
    let (elapsed, rate) = (elapsed?, rate.filter(|r| *r > 0.0)?);
    Some(PullBytes {
        done: short_of((elapsed.max(0.0) * rate) as u64),
        total,
        rate: Some(rate),
        estimated: true,
        restarts: 0,
    })
}

/// What the screen last showed of each pull, so that it never shows less: an estimate that a
/// reading replaces, a rate that falls as other pulls finish, a node whose reads stop. Keyed
/// by node and image; a new attempt of the same pull keeps the figure and is drawn as
/// started over.
#[derive(Clone, Debug, Default)]
pub struct Floors {
    shown: HashMap<PullKey, Shown>,
}

/// A pull on screen: (pool, node, image).
type PullKey = (String, String, String);
/// What the screen showed of it: the pull's start, the most shown, the restarts told.
type Shown = (Option<Timestamp>, u64, u32);

impl Floors {
    /// Raises every pull's figure in `overview` to what was shown before, and remembers it;
    /// forgets pulls that are neither under way nor failed (a failed one may be tried again).
    pub fn apply(&mut self, overview: &mut Overview) {
        let mut keep: std::collections::HashSet<PullKey> = Default::default();
        // A pool is shared with the Deriver's copy: it is copied only where a figure rises.
        for p in &mut overview.pools {
            for ni in 0..p.nodes.len() {
                for ii in 0..p.nodes[ni].images.len() {
                    let (node, image) = (&p.nodes[ni], &p.nodes[ni].images[ii]);
                    // The key is made only for pulls under way or failed: a refresh passes
                    // every image of every node.
                    let (since, b) = match &image.state {
                        ImageState::Pulling {
                            since,
                            bytes: Some(b),
                        } => (*since, b),
                        ImageState::Pulling { .. } | ImageState::Failed { .. } => {
                            keep.insert((p.pool.clone(), node.node.clone(), image.image.clone()));
                            continue;
                        }
                        _ => continue,
                    };
                    let key = (p.pool.clone(), node.node.clone(), image.image.clone());
                    let (was_since, most, extra) =
                        self.shown.get(&key).cloned().unwrap_or((since, 0, 0));
                    // Counted once per new attempt, unless the reading counted it.
                    let extra = if was_since.is_some() && since != was_since && b.restarts == 0 {
                        extra + 1
                    } else {
                        extra
                    };
                    let mut raised = b.clone();
                    if most > raised.done {
                        // Held up by what was shown: that was an estimate, and stays short
                        // of the size now known.
                        raised.done = raised
                            .total
                            .map_or(most, |t| most.min(t.saturating_mul(99) / 100))
                            .max(raised.done);
                        raised.estimated = true;
                    }
                    raised.restarts = raised.restarts.max(extra);
                    self.shown.insert(key.clone(), (since, raised.done, extra));
                    keep.insert(key);
                    if raised != *b
                        && let ImageState::Pulling { bytes: Some(b), .. } =
                            &mut Arc::make_mut(&mut Arc::make_mut(p).nodes[ni].images)[ii].state
                    {
                        *b = raised;
                    }
                }
            }
        }
        self.shown.retain(|k, _| keep.contains(k));
    }
}

#[cfg(test)]
mod tests;
