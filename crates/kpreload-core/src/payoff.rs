//! The payoff of preloading, from the kubelet's own words about every container start of
//! the workloads: `Container image "X" already present on machine` (a hit), or `Successfully
//! pulled image "X" in 15.981s (15.981s including waiting)` (a miss, and what it cost).
//!
//! Per pool: the hit rate, the seconds workloads spent pulling (and the part of it spent
//! waiting behind other pulls, the cost of serial pulls), and the images they pulled, ranked
//! by the seconds they cost, each marked preloaded, evicted (preloaded, yet pulled),
//! preloading (added, not there yet), drifted (another version of it preloaded) or not
//! preloaded. The images not preloaded that cost the most become suggestions (`figures`).
//!
//! Memory is bounded: a rolling window per pool (the last [`LIMIT`] starts, none older than
//! [`HORIZON`]), and a bounded queue for starts that arrive before the pools are known.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::objects::Event;
use crate::progress::messages::{Said, read};
use crate::reference::ImageRef;

mod figures;
use figures::figures;
pub use figures::{Figures, ImageCost, Mark, Suggestion, percent};

/// The most starts kept per pool.
pub const LIMIT: usize = 2_000;
/// How far back a start counts, in seconds (the API server keeps events an hour by default;
/// a watch that runs longer sees more).
pub const HORIZON: i64 = 24 * 3600;
/// The most starts held while the pools are not known yet.
pub const PENDING: usize = 10_000;
/// Suggestions per pool, at most.
pub const SUGGESTIONS: usize = 3;

/// What the kubelet said about one container's image at one start.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `already present on machine`: the start did not wait for a pull.
    Present,
    /// `Pulling image`: a pull under way (or one whose end was not seen).
    Pulling,
    /// `Successfully pulled image "X" in S (T including waiting)`.
    Pulled {
        /// The kubelet's pull time.
        seconds: f64,
        /// What the start waited in all (the pull and the wait for other pulls before it);
        /// `seconds` when the kubelet does not say.
        total: f64,
        bytes: Option<u64>,
    },
    /// `Failed to pull image` / `Back-off pulling image`.
    Failed,
}

impl Outcome {
    fn rank(&self) -> u8 {
        match self {
            Outcome::Pulling => 0,
            Outcome::Failed => 1,
            Outcome::Present | Outcome::Pulled { .. } => 2,
        }
    }
}

/// One container start of a workload, as one kubelet event tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    pub node: Arc<str>,
    pub namespace: Arc<str>,
    pub pod: Arc<str>,
    /// The pod's UID (with the image, what makes two events one start).
    pub uid: Arc<str>,
    /// The image as the pod's spec writes it.
    pub image: Arc<str>,
    /// Seconds since the epoch (the event's last time).
    pub at: i64,
    pub outcome: Outcome,
}

/// The start an event tells of: a kubelet event about a pod's image (`Pulled`, `Pulling`,
/// `Failed`, `BackOff`), with the node it came from. Anything else is `None`.
pub fn start_of(e: &Event) -> Option<Start> {
    if e.involved_object.kind.as_deref() != Some("Pod") {
        return None;
    }
    let (image, said) = read(e.message.as_deref()?)?;
    let outcome = match said {
        Said::Present => Outcome::Present,
        Said::Pulling => Outcome::Pulling,
        Said::Pulled { seconds, bytes } => {
            // A kubelet that gives no time still says the start pulled: a miss of unknown cost.
            let finite = |x: f64| (x.is_finite() && x >= 0.0).then_some(x);
            let seconds = seconds.and_then(finite).unwrap_or(0.0);
            let total = e
                .message
                .as_deref()
                .and_then(including_waiting)
                .and_then(finite)
                .unwrap_or(seconds)
                .max(seconds);
            Outcome::Pulled {
                seconds,
                total,
                bytes,
            }
        }
        Said::Failed | Said::BackOff => Outcome::Failed,
    };
    let node = e
        .source
        .as_ref()
        .and_then(|s| s.host.as_deref())
        .filter(|h| !h.is_empty())
        .or(e.reporting_instance.as_deref().filter(|h| !h.is_empty()))?;
    let o = &e.involved_object;
    // The first time it was said: the start (a count above one is the container restarting).
    let at = e
        .first_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .or(e.event_time.as_ref().map(|t| t.0.as_second()))
        .or(e.last_timestamp.as_ref().map(|t| t.0.as_second()))
        .or(e
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second()))?;
    Some(Start {
        node: node.into(),
        namespace: o.namespace.as_deref().unwrap_or_default().into(),
        pod: o.name.as_deref().unwrap_or_default().into(),
        uid: o.uid.as_deref().filter(|u| !u.is_empty())?.into(),
        image: image.into(),
        at,
        outcome,
    })
}

/// The `(T including waiting)` of a `Successfully pulled` message, in seconds.
fn including_waiting(message: &str) -> Option<f64> {
    let before = message.split(" including waiting)").next()?;
    if before.len() == message.len() {
        return None;
    }
    let text = before.rsplit('(').next()?;
    crate::progress::messages::go_duration_seconds(text.trim())
}

/// One pool as the window needs it: which nodes it covers, what it preloads, and its
/// preloaders' own pods (whose pulls are not a workload's).
#[derive(Clone, Debug, Default)]
pub struct PoolScope {
    pub pool: String,
    pub nodes: HashSet<String>,
    /// What it preloads.
    pub images: Vec<ImageRef>,
    /// `(namespace, DaemonSet name)` of its preloaders (their pods are told by UID; the
    /// name is the fallback for a pod not seen).
    pub preloaders: Vec<(String, String)>,
    /// Per node, when its preloader pod finished pulling each image (by its place in
    /// `images`): the init container's `finishedAt`, exit 0; `None` not (yet).
    pub done: HashMap<String, Vec<Option<i64>>>,
}

impl PoolScope {
    /// Whether the preloader had pulled image number `i` of the list on `node` by `at`.
    pub fn preloaded_on(&self, node: &str, i: usize, at: i64) -> bool {
        self.done
            .get(node)
            .and_then(|d| d.get(i).copied().flatten())
            .is_some_and(|finished| finished <= at)
    }
}

/// A list's images by normalised name (and a `tag@digest` also by its tag), to their place.
fn places(images: &[ImageRef]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (i, r) in images.iter().enumerate() {
        out.entry(r.normalized()).or_insert(i);
        if let (Some(tag), Some(_)) = (r.tag(), r.digest()) {
            out.entry(format!("{}:{tag}", r.name())).or_insert(i);
        }
    }
    out
}

/// Every pool's scope, and which pools each node is in.
#[derive(Clone, Debug, Default)]
pub struct Scopes {
    pub pools: Vec<PoolScope>,
    by_node: HashMap<String, Vec<usize>>,
    /// Each pool's images, normalised, with their place in its list (an image pinned as
    /// `tag@digest` also under its tag: a pod naming the tag starts the image preloaded).
    preloaded: Vec<HashMap<String, usize>>,
    /// The preloader pods' UIDs.
    preloader_pods: HashSet<String>,
}

impl Scopes {
    pub fn new(pools: Vec<PoolScope>) -> Scopes {
        let mut by_node: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in pools.iter().enumerate() {
            for n in &p.nodes {
                by_node.entry(n.clone()).or_default().push(i);
            }
        }
        let preloaded = pools.iter().map(|p| places(&p.images)).collect();
        Scopes {
            pools,
            by_node,
            preloaded,
            preloader_pods: HashSet::new(),
        }
    }

    /// Every pool's figures; `headroom` gives a pool's least room before image GC.
    pub fn figures(&self, window: &Window, headroom: impl Fn(&str) -> Option<i64>) -> Vec<Figures> {
        self.pools
            .iter()
            .map(|p| window.figures(&p.pool, &p.images, headroom(&p.pool)))
            .collect()
    }

    /// From the cluster's objects: each preloader pool (a split one once) and the nodes its
    /// DaemonSets run on by their selector and tolerations.
    pub fn of(s: &crate::progress::Snapshot) -> Scopes {
        let nodes: Vec<(&str, &std::collections::BTreeMap<String, String>, Vec<_>)> = s
            .nodes
            .iter()
            .filter_map(|n| {
                Some((
                    n.metadata.name.as_deref()?,
                    n.metadata.labels.as_ref()?,
                    crate::selector::Taint::of_node(n),
                ))
            })
            .collect();
        let groups: Vec<_> = crate::adopt::group(s.daemonsets.iter().map(|d| d.as_ref()))
            .into_iter()
            .filter(|g| g.preloader.is_ok())
            .collect();
        let preloader_uids: HashSet<&str> = groups
            .iter()
            .flat_map(|g| g.daemonsets.iter())
            .filter_map(|d| d.metadata.uid.as_deref())
            .collect();
        // The preloader pods by their DaemonSet's uid: on which node, each image done when.
        // Other pods of the namespace (a Deployment's, a Job's) are workloads.
        type Done<'a> = Vec<(&'a str, Vec<(String, i64)>)>;
        let mut finished: HashMap<&str, Done> = HashMap::new();
        let mut preloader_pods = HashSet::new();
        for pod in &s.pods {
            let Some(owner) = pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| preloader_uids.contains(o.uid.as_str()))
            else {
                continue;
            };
            if let Some(uid) = &pod.metadata.uid {
                preloader_pods.insert(uid.clone());
            }
            let Some(node) = pod.spec.as_ref().and_then(|sp| sp.node_name.as_deref()) else {
                continue;
            };
            let specs = pod
                .spec
                .iter()
                .flat_map(|sp| sp.init_containers.iter().flatten());
            let done: Vec<(String, i64)> = pod
                .one_shot_init_statuses()
                .into_iter()
                .filter_map(|c| {
                    let t = c.state.as_ref()?.terminated.as_ref()?;
                    if t.exit_code != 0 {
                        return None;
                    }
                    let at = t.finished_at.as_ref()?.0.as_second();
                    let image = specs
                        .clone()
                        .find(|sp| sp.name == c.name)?
                        .image
                        .as_deref()?;
                    Some((ImageRef::parse(image).ok()?.normalized(), at))
                })
                .collect();
            finished
                .entry(owner.uid.as_str())
                .or_default()
                .push((node, done));
        }
        let mut pools: Vec<PoolScope> = Vec::new();
        for g in groups {
            let Ok(p) = g.preloader else { continue };
            let place = places(&p.pool.images);
            let mut done: HashMap<String, Vec<Option<i64>>> = HashMap::new();
            for d in &g.daemonsets {
                let Some(uid) = d.metadata.uid.as_deref() else {
                    continue;
                };
                for (node, images) in finished.get(uid).into_iter().flatten() {
                    let at = done
                        .entry(node.to_string())
                        .or_insert_with(|| vec![None; p.pool.images.len()]);
                    for (image, when) in images {
                        if let Some(slot) = place.get(image).and_then(|i| at.get_mut(*i)) {
                            // Two pods on one node (a rollout): the earlier finish counts.
                            *slot = Some(slot.map_or(*when, |s| s.min(*when)));
                        }
                    }
                }
            }
            let preloaders = g
                .daemonsets
                .iter()
                .filter_map(|d| {
                    Some((
                        d.metadata.namespace.clone()?,
                        d.metadata.name.clone()?.to_string(),
                    ))
                })
                .collect();
            let covered = nodes
                .iter()
                .filter(|(_, labels, taints)| p.pool.covers(labels, taints))
                .map(|(n, _, _)| n.to_string())
                .collect();
            pools.push(PoolScope {
                pool: p.pool.name.clone(),
                nodes: covered,
                images: p.pool.images.clone(),
                preloaders,
                done,
            });
        }
        let mut scopes = Scopes::new(pools);
        scopes.preloader_pods = preloader_pods;
        scopes
    }

    /// Whether a start is a preloader's own (its pod is one of a pool's DaemonSets'): by
    /// the pod's UID, else, for a pod not seen, by its name (the DaemonSet's and a dash).
    fn is_preloader(&self, s: &Start) -> bool {
        if self.preloader_pods.contains(&*s.uid) {
            return true;
        }
        self.pools.iter().any(|p| {
            p.preloaders.iter().any(|(ns, ds)| {
                *ns == *s.namespace
                    && s.pod.len() > ds.len() + 1
                    && s.pod.starts_with(ds.as_str())
                    && s.pod.as_bytes()[ds.len()] == b'-'
            })
        })
    }
}

/// One start as a pool keeps it.
#[derive(Clone, Debug)]
struct Kept {
    uid: Arc<str>,
    /// Normalised.
    image: Arc<str>,
    at: i64,
    outcome: Outcome,
    /// Whether the pool's preloader had pulled the image on the start's node by the time of
    /// the start (the pool listing it is not enough: a rollout takes a while).
    preloaded: bool,
}

/// One pool's starts, oldest first, and which pod's image each is.
#[derive(Clone, Debug, Default)]
struct Starts {
    starts: VecDeque<Kept>,
    /// (pod UID, image) → the rank of what was said (see [`Outcome::rank`]).
    seen: HashMap<(Arc<str>, Arc<str>), u8>,
}

impl Starts {
    fn pop_front(&mut self) {
        if let Some(k) = self.starts.pop_front() {
            self.seen.remove(&(k.uid, k.image));
        }
    }
}

/// A pull whose end is not seen this long after it began is left out (its pod deleted, or
/// the event lost): seconds.
const PULLING_FOR: i64 = 3600;

/// The rolling window of workload starts, per pool.
#[derive(Clone, Debug)]
pub struct Window {
    pools: BTreeMap<String, Starts>,
    pending: VecDeque<Start>,
    /// Normalised names, parsed once per text.
    names: HashMap<Arc<str>, Option<Arc<str>>>,
    limit: usize,
    horizon: i64,
    /// Starts on nodes no pool covers, and the preloaders' own, since the window began.
    pub outside: u64,
    pub preloaders: u64,
}

impl Default for Window {
    fn default() -> Window {
        Window::new(LIMIT, HORIZON)
    }
}

impl Window {
    pub fn new(limit: usize, horizon: i64) -> Window {
        Window {
            pools: BTreeMap::new(),
            pending: VecDeque::new(),
            names: HashMap::new(),
            limit: limit.max(1),
            horizon,
            outside: 0,
            preloaders: 0,
        }
    }

    /// Starts kept, pending ones included: what the window holds in memory.
    pub fn retained(&self) -> usize {
        self.pools.values().map(|k| k.starts.len()).sum::<usize>() + self.pending.len()
    }

    /// Holds a start until the pools are known ([`Window::settle`]).
    pub fn defer(&mut self, start: Start) {
        if self.pending.len() >= PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(start);
    }

    /// Records the starts held back, now that the pools are known.
    pub fn settle(&mut self, scopes: &Scopes, now: i64) {
        let mut pending: Vec<Start> = std::mem::take(&mut self.pending).into();
        pending.sort_by_key(|s| s.at);
        for s in pending {
            self.record(s, scopes, now);
        }
    }

    fn normalized(&mut self, text: &Arc<str>) -> Option<Arc<str>> {
        if let Some(n) = self.names.get(text) {
            return n.clone();
        }
        if self.names.len() >= 20_000 {
            self.names.clear();
        }
        let n: Option<Arc<str>> = ImageRef::parse(text).ok().map(|r| r.normalized().into());
        self.names.insert(text.clone(), n.clone());
        n
    }

    /// Records one start in every pool whose nodes it ran on (none: counted as outside).
    /// Two events of one pod's image are one start: a later word replaces an earlier one
    /// (`Pulling` then `Pulled`), a restart (the same words again) is not counted again.
    /// The window stays in time order whatever order the events come in, and keeps the
    /// latest `limit` starts.
    pub fn record(&mut self, start: Start, scopes: &Scopes, now: i64) {
        if scopes.is_preloader(&start) {
            self.preloaders += 1;
            return;
        }
        let Some(pools) = scopes.by_node.get(&*start.node) else {
            self.outside += 1;
            return;
        };
        let Some(image) = self.normalized(&start.image) else {
            return;
        };
        let cutoff = now - self.horizon;
        if start.at < cutoff {
            return;
        }
        let rank = start.outcome.rank();
        for &i in pools {
            let scope = &scopes.pools[i];
            let preloaded = scopes.preloaded[i]
                .get(&*image)
                .is_some_and(|at| scope.preloaded_on(&start.node, *at, start.at));
            let kept = self.pools.entry(scope.pool.clone()).or_default();
            let key = (start.uid.clone(), image.clone());
            if let Some(seen) = kept.seen.get_mut(&key) {
                // Said before: only a later word (a pull's end) changes it; rare, so found
                // by a scan.
                if rank > *seen {
                    *seen = rank;
                    if let Some(k) = kept
                        .starts
                        .iter_mut()
                        .rev()
                        .find(|k| k.uid == start.uid && k.image == image)
                    {
                        k.outcome = start.outcome.clone();
                    }
                }
                continue;
            }
            if kept.starts.len() >= self.limit
                && kept.starts.front().is_some_and(|k| k.at > start.at)
            {
                // Older than everything a full window keeps.
                continue;
            }
            let at = kept.starts.partition_point(|k| k.at <= start.at);
            kept.starts.insert(
                at,
                Kept {
                    uid: start.uid.clone(),
                    image: image.clone(),
                    at: start.at,
                    outcome: start.outcome.clone(),
                    preloaded,
                },
            );
            kept.seen.insert(key, rank);
            while kept.starts.len() > self.limit
                || kept.starts.front().is_some_and(|k| k.at < cutoff)
            {
                kept.pop_front();
            }
        }
    }

    /// Drops what is older than the horizon, and pulls whose end was not seen in an hour.
    pub fn expire(&mut self, now: i64) {
        let cutoff = now - self.horizon;
        for kept in self.pools.values_mut() {
            while kept.starts.front().is_some_and(|k| k.at < cutoff) {
                kept.pop_front();
            }
            let stale = |k: &Kept| k.outcome == Outcome::Pulling && k.at < now - PULLING_FOR;
            if kept.starts.iter().any(stale) {
                let Starts { starts, seen } = kept;
                starts.retain(|k| {
                    let keep = !stale(k);
                    if !keep {
                        seen.remove(&(k.uid.clone(), k.image.clone()));
                    }
                    keep
                });
            }
        }
    }

    /// Forgets everything (another namespace, another cluster).
    pub fn clear(&mut self) {
        let (limit, horizon) = (self.limit, self.horizon);
        *self = Window::new(limit, horizon);
    }

    /// A pool's figures: `images` what it preloads now, `headroom` the least room before
    /// image GC among its nodes read (bytes; None: not read).
    pub fn figures(&self, pool: &str, images: &[ImageRef], headroom: Option<i64>) -> Figures {
        let kept = self.pools.get(pool).map(|k| &k.starts);
        figures(
            pool,
            kept.into_iter().flatten(),
            images,
            headroom,
            self.horizon,
        )
    }
}

#[cfg(test)]
mod tests;
